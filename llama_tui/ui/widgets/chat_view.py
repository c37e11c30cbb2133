"""The scrolling list of messages of one conversation.

Long conversations mount only their newest messages; earlier ones are mounted on demand
(the "show earlier" row at the top), so opening a 1,000-message conversation stays fast.
"""

from __future__ import annotations

from textual.content import Content
from textual.widget import Widget
from textual.widgets import Button, Static

from llama_tui.model import Conversation, Message
from llama_tui.ui import caches
from llama_tui.ui.textual_compat import LayoutOnce, forget_removed_widgets, forget_styles_cache
from llama_tui.ui.widgets.completion_view import CompletionDocument
from llama_tui.ui.widgets.message_view import (
    AssistantMessage,
    ReplySink,
    UserMessage,
    message_widget,
)
from llama_tui.ui.widgets.stream_markdown import MarkdownScroll

PAGE = 16
#: Messages mounted before the first paint of a conversation (the rest follow at once).
FIRST_SCREEN = 4


class ChatView(LayoutOnce, MarkdownScroll, can_focus=False):
    """Not a focus stop itself (it would be an invisible one that drops typing): its
    messages are, through ctrl+up, and the mouse wheel scrolls it."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.conversation: Conversation | None = None
        self._first_shown = 0
        self._generation = 0

    async def show(
        self, conversation: Conversation | None, hint: str = "", live: Message | None = None,
        focus_index: int | None = None, mark: str = "",
    ) -> ReplySink | None:
        """Show a conversation (newest messages), or an empty-state hint.

        `live` is a reply still streaming: it gets an empty streaming view, returned so the
        caller can replay the text received so far into it. `focus_index` (a search hit) is
        mounted, focused and scrolled to, with the line showing `mark` (the searched words,
        marked) in view.
        """
        self.conversation = conversation
        self._generation += 1
        self._drop_render_caches()
        await self.remove_children()
        if conversation is not None and conversation.mode == "completion":
            document = CompletionDocument("".join(m.content for m in conversation.messages))
            await self.mount(document)
            return document if live is not None else None
        if conversation is None or not conversation.messages:
            await self.mount(Static(Content(hint), classes="empty-hint"))
            return None
        messages = conversation.messages
        self._first_shown = max(0, len(messages) - PAGE)
        if focus_index is not None and 0 <= focus_index < self._first_shown:
            self._first_shown = focus_index
        live_view = AssistantMessage(live, streaming=True) if live is not None else None
        widgets: list[Widget] = [live_view if m is live and live_view else message_widget(m)
                                 for m in messages[self._first_shown:]]
        if self._first_shown:
            widgets.insert(0, self._earlier_button())
        if focus_index is None or focus_index < 0:
            # What fits on screen first; the rest right after the first paint.
            older, widgets = widgets[:-FIRST_SCREEN], widgets[-FIRST_SCREEN:]
            if older:
                self.call_after_refresh(self._mount_older, self._generation, older, widgets[0])
        await self.mount_all(widgets)
        if focus_index is not None and focus_index >= 0:
            target = widgets[focus_index - self._first_shown + (1 if self._first_shown else 0)]
            target.add_class("-match")
            self.call_after_refresh(self._focus_match, target, mark)
            return live_view
        self.scroll_end(animate=False, immediate=True)
        self.anchor()
        return live_view

    def _drop_render_caches(self) -> None:
        """Empty the render caches of the widgets about to go. Textual keeps the caches of
        the last 1,024 removed widgets alive (Textualize/textual#6665), each with the
        rendered lines of its widget, so each conversation switched away from stays in
        memory (docs/textual-upstream.md §1). The lru_cache that keeps them (holding the other
        widgets removed since too: notifications, dialogs...) is emptied, and Textual's and
        Rich's other memo caches once they are big (see `caches`)."""
        for widget in self.walk_children(Widget, with_self=False):
            forget_styles_cache(widget)
        forget_removed_widgets()
        caches.trim()

    async def _mount_older(self, generation: int, older: list[Widget], first: Widget) -> None:
        if generation == self._generation and first.parent is self:
            await self.mount_all(older, before=first)

    def _focus_match(self, target: Widget, mark: str) -> None:
        target.focus(scroll_visible=False)
        row = target.mark(mark) if isinstance(target, UserMessage | AssistantMessage) else None
        if row is None:
            self.scroll_to_widget(target, animate=False, top=True)
            return
        # Regions are screen coordinates (off-screen widgets too): back to the pane's own.
        top = target.region.y - self.content_region.y + round(self.scroll_y)
        # The message's top when the line fits below it, else the line a third down.
        line = top + row
        room = self.scrollable_content_region.height
        y = top if row < room - 2 else max(0, line - room // 3)
        self.scroll_to(y=y, animate=False, immediate=True)

    def _earlier_button(self) -> Button:
        return Button(f"▲ {self._first_shown} earlier messages", id="show-earlier",
                      classes="show-earlier", compact=True)

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "show-earlier" or self.conversation is None:
            return
        event.stop()
        start = max(0, self._first_shown - PAGE)
        batch = self.conversation.messages[start:self._first_shown]
        self._first_shown = start
        await event.button.remove()
        widgets: list[Widget] = [message_widget(m) for m in batch]
        if start:
            widgets.insert(0, self._earlier_button())
        await self.mount_all(widgets, before=0)

    @property
    def document(self) -> CompletionDocument | None:
        found = self.query(CompletionDocument)
        return found.first() if found else None

    async def add(self, message: Message, *, streaming: bool = False) -> AssistantMessage | None:
        """Append one message; returns the reply view when `streaming`."""
        for hint in self.query(".empty-hint"):
            await hint.remove()
        widget = AssistantMessage(message, streaming=True) if streaming else message_widget(message)
        await self.mount(widget)
        self.anchor()
        return widget if isinstance(widget, AssistantMessage) else None

