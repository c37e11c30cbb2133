"""The conversation list on the left: newest first, a mark on those generating."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from llama_tui.sanitize import sanitize
from llama_tui.storage.store import Summary


def relative_time(when: datetime, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    seconds = max(0, int((now - when).total_seconds()))
    if seconds < 60:
        return "now"
    for unit, size in (("m", 60), ("h", 3600), ("d", 86400)):
        if seconds < size * (60 if unit == "m" else 24 if unit == "h" else 7):
            return f"{seconds // size}{unit}"
    if when.year == now.year:
        return f"{when:%b %d}"
    return f"{when:%Y-%m}"


class ConversationList(OptionList):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="list-down"),
        Binding("k", "cursor_up", "Up", show=False, id="list-up"),
        Binding("r", "screen.rename", "Rename", id="rename"),
        Binding("d,delete", "screen.delete", "Delete", id="delete"),
        Binding("p", "screen.pin", "Pin", id="pin"),
        Binding("x", "screen.export", "Export", id="export"),
    ]

    class ConversationSelected(Message):
        def __init__(self, conversation_id: str) -> None:
            super().__init__()
            self.conversation_id = conversation_id

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        #: Every conversation, and those the title filter lets through (shown).
        self.all: list[Summary] = []
        self.summaries: list[Summary] = []
        self.filter_text = ""
        self.generating: set[str] = set()
        self.border_title = "Conversations"

    def show(self, summaries: list[Summary], keep: str | None = None) -> None:
        """Replace the items, keeping the highlight on `keep` (a conversation id) if given."""
        self.all = summaries
        needle = self.filter_text.casefold()
        self.summaries = [s for s in summaries if needle in s.title.casefold()] if needle \
            else summaries
        now = datetime.now(UTC)
        self.set_options(Option(self._prompt(s, now), id=s.id) for s in summaries)
        if keep is not None:
            self.select_id(keep)
        shown = len(self.summaries)
        self.border_subtitle = f"{shown} of {len(summaries)}" if needle else f"{len(summaries)}"

    def set_filter(self, text: str) -> None:
        self.filter_text = text.strip()
        keep = self.highlighted_option.id if self.highlighted_option else None
        self.show(self.all, keep=keep)

    @property
    def highlighted_id(self) -> str | None:
        option = self.highlighted_option
        return option.id if option else None

    def _prompt(self, summary: Summary, now: datetime) -> Text:
        """One line: mark, title cut to fit, relative time at the right edge."""
        mark = "● " if summary.id in self.generating else ("▪ " if summary.pinned else "")
        title = sanitize(" ".join(summary.title.split())) or "Untitled"
        when = relative_time(summary.updated_at, now)
        width = max(12, (self.scrollable_content_region.width or 32) - 2)
        head = Text(mark, style="bold", no_wrap=True)
        head.append(title)
        head.truncate(width - len(when) - 1, overflow="ellipsis", pad=True)
        head.append(" " + when, style="dim")
        return head

    def select_id(self, conversation_id: str) -> None:
        try:
            self.highlighted = self.get_option_index(conversation_id)
        except Exception:  # OptionDoesNotExist: not listed (yet)
            return

    def set_generating(self, conversation_id: str, generating: bool) -> None:
        (self.generating.add if generating else self.generating.discard)(conversation_id)
        for summary in self.summaries:
            if summary.id == conversation_id:
                self.replace_option_prompt(conversation_id, self._prompt(summary, datetime.now(UTC)))
                break

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.post_message(self.ConversationSelected(event.option.id))
