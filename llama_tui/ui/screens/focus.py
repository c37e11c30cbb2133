"""Where keys land on the main screen: escape, the prompt as home, one draft per conversation.

The main screen's first layer (`FocusBase`, docs/design.md §1): it holds the services and
which conversation is shown. The rules, in the order they apply:

- escape stops the reply streaming in the shown conversation; with none streaming it brings
  focus back to the prompt from anywhere (a message, the list, the filter).
- a printable key on a focused message, the list or any other non-text widget that is not one
  of its keys moves focus to the prompt and is typed there: single-letter actions never eat
  typing meant for the prompt.
- focus moves at once (`Screen.set_focus`, not `Widget.focus`, which waits a turn of the
  event loop), and the keys that move it are priority bindings, run when they arrive: keys
  that come in one burst (a laggy SSH link) land where the earlier ones sent focus.
"""

from __future__ import annotations

from textual import events
from textual.screen import Screen

from llama_tui.model import Conversation
from llama_tui.ui.services import Services
from llama_tui.ui.widgets.chat_view import ChatView
from llama_tui.ui.widgets.conversation_list import ConversationList
from llama_tui.ui.widgets.prompt_input import PromptInput


def draft_key(conv: Conversation | None) -> str:
    """Drafts are kept per conversation id; "" is the new, unsaved conversation."""
    return conv.id if conv is not None and conv.messages else ""


class FocusBase(Screen[None]):
    """Focus moves, escape and drafts."""

    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services
        #: The conversation shown (None: a new one, not made yet).
        self.current: Conversation | None = None
        #: What was typed and not sent, per conversation (`draft_key`), in memory.
        self.drafts: dict[str, str] = {}

    # -- escape ----------------------------------------------------------------------------

    def streaming_here(self) -> bool:
        reply = self.services.engine.reply_for(self.current)
        return reply is not None and reply.streaming

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """escape: "Stop" (shown) only while a reply streams here, else back to the prompt."""
        if action == "stop":
            return self.streaming_here()
        if action == "to_prompt":
            return not self.streaming_here() and not isinstance(self.focused, PromptInput)
        return True

    def action_to_prompt(self) -> None:
        self.focus_prompt()

    def action_focus_prompt(self) -> None:
        self.focus_prompt()

    def focus_prompt(self) -> None:
        self.set_focus(self.query_one(PromptInput))
        self.query_one("#sidebar-pane").remove_class("-open")  # the overlay goes once used

    # -- the sidebar -----------------------------------------------------------------------

    def show_sidebar(self, shown: bool) -> None:
        """Below `NARROW` columns (the screen's `-narrow` class) the list is hidden unless
        asked for, and then drawn over the chat (`-open`) rather than squeezing it; wider, it
        is a column, shown unless hidden (`-hidden`). Each width keeps its own choice."""
        pane = self.query_one("#sidebar-pane")
        if self.has_class("-narrow"):
            pane.set_class(shown, "-open")
        else:
            pane.set_class(not shown, "-hidden")

    def sidebar_shown(self) -> bool:
        pane = self.query_one("#sidebar-pane")
        return pane.has_class("-open") if self.has_class("-narrow") \
            else not pane.has_class("-hidden")

    def action_toggle_sidebar(self) -> None:
        shown = not self.sidebar_shown()
        self.show_sidebar(shown)
        if shown and self.has_class("-narrow"):
            self.action_focus_rows()
        elif not shown and self.query_one("#sidebar-pane").has_focus_within:
            self.focus_prompt()

    # -- typing lands in the prompt --------------------------------------------------------

    def on_key(self, event: events.Key) -> None:
        """A printable key nothing focused took (a text field stops those it types; messages
        and the list route theirs, `route_printable`) goes to the prompt. Keys reach the
        screen before the bindings are looked up, so those are checked here."""
        if not event.is_printable or not event.character or event.key in self.active_bindings:
            return
        event.stop()
        event.prevent_default()
        prompt = self.query_one(PromptInput)
        self.set_focus(prompt)
        prompt.insert(event.character)

    # -- focus moves -----------------------------------------------------------------------

    def action_focus_list(self) -> None:
        """ctrl+l: the title filter (↓ or Tab goes on to the rows)."""
        self.show_sidebar(True)
        self.set_focus(self.query_one("#filter"))

    def action_focus_rows(self) -> None:
        sidebar = self.query_one(ConversationList)
        self.show_sidebar(True)
        self.set_focus(sidebar)
        if sidebar.highlighted is None and sidebar.summaries:
            sidebar.highlighted = 0

    def action_focus_messages(self) -> None:
        focusable = [w for w in self.query_one(ChatView).children if w.can_focus]
        if focusable:
            self.set_focus(focusable[-1], scroll_visible=False)
            focusable[-1].scroll_visible(animate=False)

    # -- drafts ----------------------------------------------------------------------------

    def switch_draft(self, old: Conversation | None, new: Conversation | None) -> None:
        """Keep what is typed in the prompt with the conversation it was typed in."""
        before, after = draft_key(old), draft_key(new)
        if before == after:  # the same conversation shown again
            return
        prompt = self.query_one(PromptInput)
        if prompt.text:
            self.drafts[before] = prompt.text
        else:
            self.drafts.pop(before, None)
        prompt.load_text(self.drafts.pop(after, ""))
        prompt.move_cursor(prompt.document.end)
