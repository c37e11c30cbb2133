"""Full-text search across every conversation: type, see one line per matching conversation
(its number of matches and the first match in context, the words marked), Enter opens the
conversation scrolled to the first match, marked."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from llama_tui.sanitize import sanitize
from llama_tui.search import Hit, search
from llama_tui.ui.screens.dialogs import EscapeCloses, cancel_binding

if TYPE_CHECKING:
    from llama_tui.storage.store import ConversationStore


def hit_row(hit: Hit, query: str, width: int) -> Text:
    """One conversation's row: title, number of matches, the first match in context; the
    searched words marked wherever they show."""
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(sanitize(hit.title)[:40], style="bold")
    line.append(f"  {hit.count}×  " if hit.count > 1 else "  ", style="dim")
    line.append(sanitize(hit.snippet) if hit.message_index >= 0 else "(title)",
                style="dim" if hit.message_index < 0 else "")
    if query.strip():
        line.highlight_words([query.strip()], style="reverse", case_sensitive=False)
    line.truncate(width, overflow="ellipsis")
    return line


class SearchScreen(EscapeCloses, ModalScreen[Hit | None]):
    BINDINGS = [
        cancel_binding("Close", "close-search"),
        Binding("down", "focus_results", "Results", id="search-results", show=False),
    ]

    def __init__(self, store: ConversationStore, query: str = "") -> None:
        super().__init__(classes="dialog-screen")
        self.store = store
        self.initial = query
        self.hits: list[Hit] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -wide"):
            yield Static("Search all messages", classes="dialog-title")
            yield Input(self.initial, placeholder="words to find", id="search-input",
                        compact=True)
            yield Static("", id="search-summary")
            yield OptionList(id="search-hits")

    def on_mount(self) -> None:
        self.query_one("#search-input", Input).focus()
        if self.initial.strip():
            self.run_search(self.initial)

    @on(Input.Changed, "#search-input")
    def _changed(self, event: Input.Changed) -> None:
        self.run_search(event.value)

    @on(Input.Submitted, "#search-input")
    def _submitted(self) -> None:
        self.action_focus_results()

    def action_focus_results(self) -> None:
        hits = self.query_one("#search-hits", OptionList)
        if hits.option_count:
            hits.focus()
            hits.highlighted = hits.highlighted or 0

    @work(exclusive=True, group="search")
    async def run_search(self, query: str) -> None:
        await asyncio.sleep(0.15)  # debounce: only the last keystroke's query runs
        summaries = self.store.scan()[0]
        started = asyncio.get_running_loop().time()
        hits = await asyncio.to_thread(search, summaries, query)
        elapsed = asyncio.get_running_loop().time() - started
        if not self.is_current:  # closed meanwhile (Enter or escape right after typing)
            return
        self.hits = hits
        options = []
        width = self.query_one("#search-hits", OptionList).scrollable_content_region.width - 2
        for hit in hits:
            options.append(Option(hit_row(hit, query, max(40, width))))
        self.query_one("#search-hits", OptionList).set_options(options)
        more = " (the first 200)" if len(hits) >= 200 else ""
        matches = sum(hit.count for hit in hits)
        plural = "" if len(hits) == 1 else "s"
        summary = (f"{matches} match{'' if matches == 1 else 'es'} in {len(hits)} "
                   f"conversation{plural}{more} · "
                   f"{len(summaries)} searched in {elapsed * 1000:.0f} ms"
                   ) if query.strip() else ""
        self.query_one("#search-summary", Static).update(Content(summary))

    @on(OptionList.OptionSelected, "#search-hits")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.hits[event.option_index])
