"""The conversation list on the left: pinned, then newest first; a mark on those generating.

A line-API widget: it renders only the rows on screen, so 10,000 conversations cost the same
as 30 (an OptionList measures every option up front: ~0.7 s for 10,000 here).
"""

from __future__ import annotations

from datetime import UTC, datetime

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from llama_tui.sanitize import sanitize
from llama_tui.storage.store import Summary
from llama_tui.ui.widgets.prompt_input import TypingGoesToPrompt


def relative_time(when: datetime, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    seconds = max(0, int((now - when).total_seconds()))
    if seconds < 60:
        return "now"
    for unit, size, upto in (("m", 60, 60), ("h", 3600, 24), ("d", 86400, 7)):
        if seconds < size * upto:
            return f"{seconds // size}{unit}"
    if when.year == now.year:
        return f"{when:%b %d}"
    return f"{when:%Y-%m}"


class ConversationList(TypingGoesToPrompt, ScrollView, can_focus=True):
    COMPONENT_CLASSES = {"conversation-list--cursor", "conversation-list--time",
                         "conversation-list--mark"}
    DEFAULT_CSS = """
    ConversationList > .conversation-list--cursor { background: $block-cursor-blurred-background; }
    ConversationList:focus > .conversation-list--cursor {
        background: $block-cursor-background; color: $block-cursor-foreground; text-style: bold;
    }
    ConversationList > .conversation-list--time { color: $text-muted; }
    ConversationList > .conversation-list--mark { color: $accent; text-style: bold; }
    """
    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False, id="list-up"),
        Binding("down,j", "cursor(1)", "Down", show=False, id="list-down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="list-page-up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="list-page-down"),
        Binding("home", "first", "First", show=False, id="list-first"),
        Binding("end", "last", "Last", show=False, id="list-last"),
        Binding("enter", "open", "Open", show=False, id="list-open"),
        Binding("tab", "screen.focus_prompt", "Prompt", show=False, id="list-to-prompt"),
        Binding("r", "screen.rename", "Rename", id="rename"),
        Binding("d,delete", "screen.delete", "Delete", id="delete"),
        Binding("p", "screen.pin", "Pin", id="pin"),
        Binding("x", "screen.export", "Export", id="export"),
    ]

    #: Index of the highlighted row in `summaries`, or None.
    highlighted: reactive[int | None] = reactive(None)

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

    # -- content ----------------------------------------------------------------------------

    def show(self, summaries: list[Summary], keep: str | None = None) -> None:
        """Replace the rows, keeping the highlight on `keep` (a conversation id) if given."""
        self.all = summaries
        needle = self.filter_text.casefold()
        self.summaries = [s for s in summaries if needle in s.title.casefold()] if needle \
            else summaries
        self.virtual_size = Size(self.scrollable_content_region.width, len(self.summaries))
        self.highlighted = self._index_of(keep) if keep else (
            None if self.highlighted is None else min(self.highlighted, len(self.summaries) - 1)
            if self.summaries else None)
        shown = len(self.summaries)
        self.border_subtitle = f"{shown} of {len(summaries)}" if needle else f"{len(summaries)}"
        self.refresh()

    def upsert(self, summary: Summary) -> None:
        """Put one conversation (new or changed) in its place without a rescan."""
        from llama_tui.storage.store import sort_summaries

        keep = self.highlighted_id
        rest = [s for s in self.all if s.id != summary.id]
        self.show(sort_summaries([summary, *rest]), keep=keep)

    def set_filter(self, text: str) -> None:
        self.filter_text = text.strip()
        self.show(self.all, keep=self.highlighted_id)

    def set_generating(self, conversation_id: str, generating: bool) -> None:
        (self.generating.add if generating else self.generating.discard)(conversation_id)
        self.refresh()

    @property
    def highlighted_id(self) -> str | None:
        if self.highlighted is None or not 0 <= self.highlighted < len(self.summaries):
            return None
        return self.summaries[self.highlighted].id

    def select_id(self, conversation_id: str) -> None:
        index = self._index_of(conversation_id)
        if index is not None:
            self.highlighted = index

    def _index_of(self, conversation_id: str | None) -> int | None:
        for index, summary in enumerate(self.summaries):
            if summary.id == conversation_id:
                return index
        return None

    # -- rendering --------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        width = self.scrollable_content_region.width
        base = self.rich_style
        if not 0 <= index < len(self.summaries):
            return Strip.blank(width, base)
        summary = self.summaries[index]
        style = base
        if index == self.highlighted:
            style = base + self.get_component_rich_style("conversation-list--cursor")
        mark = "● " if summary.id in self.generating else ("▪ " if summary.pinned else "")
        when = " " + relative_time(summary.updated_at) + " "
        title = sanitize(" ".join(summary.title.split())) or "Untitled"
        room = max(1, width - 1 - cell_len(mark) - cell_len(when))
        if cell_len(title) > room:
            title = set_cell_size(title, room - 1) + "…"
        # The focused cursor's row is all in the cursor's colours: the mark's and the time's
        # are chosen for the list's background (on a llama-dark cursor the time would vanish).
        plain = index == self.highlighted and self.has_focus
        segments = [
            Segment(" ", style),
            Segment(mark, style if plain else style + self._color("conversation-list--mark")),
            Segment(set_cell_size(title, room), style),
            Segment(when, style if plain else style + self._color("conversation-list--time")),
        ]
        return Strip(segments).adjust_cell_length(width, style)

    def _color(self, component: str) -> Style:
        """A component's colour and text style, without its background (rows keep theirs)."""
        full = self.get_component_rich_style(component)
        return Style(color=full.color, bold=full.bold)

    def watch_highlighted(self, old: int | None, new: int | None) -> None:
        if new is not None:
            self.scroll_to_row(new)
        self.refresh()

    def scroll_to_row(self, index: int) -> None:
        top = self.scroll_offset.y
        height = self.scrollable_content_region.height
        if index < top:
            self.scroll_to(y=index, animate=False)
        elif height and index >= top + height:
            self.scroll_to(y=index - height + 1, animate=False)

    def on_resize(self) -> None:
        self.virtual_size = Size(self.scrollable_content_region.width, len(self.summaries))

    # -- keys and mouse ---------------------------------------------------------------------

    def action_cursor(self, step: int) -> None:
        if not self.summaries:
            return
        current = -1 if self.highlighted is None and step > 0 else (self.highlighted or 0)
        self.highlighted = max(0, min(len(self.summaries) - 1, current + step))

    def action_page(self, direction: int) -> None:
        self.action_cursor(direction * max(1, self.scrollable_content_region.height - 1))

    def action_first(self) -> None:
        if self.summaries:
            self.highlighted = 0

    def action_last(self) -> None:
        if self.summaries:
            self.highlighted = len(self.summaries) - 1

    def action_open(self) -> None:
        if self.highlighted_id:
            self.post_message(self.ConversationSelected(self.highlighted_id))

    def on_click(self, event: events.Click) -> None:
        index = self.scroll_offset.y + event.y
        if 0 <= index < len(self.summaries):
            self.highlighted = index
            self.action_open()



