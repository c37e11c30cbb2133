"""The main screen: conversation list on the left, the chat on the right.

Built in layers, each in its own module and calling only the layers below it (docs/design.md
§1): `FocusBase` (focus.py: where keys land, drafts), `ViewBase` (view.py: the list, the
conversation shown, its live reply, the status line), `RepliesBase` (replies.py: sending and
the reply engine's events), `ModelsBase` (models.py: endpoint and model per conversation),
`ManageBase` (manage.py: rename, delete, export, fork, ...). This top layer composes the
widgets, holds the bindings and the actions that open dialogs. What the screen needs of the
core comes as `Services` (ui/services.py); it never imports the app.
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Static

from llama_tui import paths
from llama_tui.config import ConfigError
from llama_tui.model import Conversation, Message, Role
from llama_tui.ui.screens.manage import ManageBase
from llama_tui.ui.screens.settings import open_settings
from llama_tui.ui.textual_compat import LeanFooter
from llama_tui.ui.widgets.chat_view import ChatView
from llama_tui.ui.widgets.conversation_list import ConversationList
from llama_tui.ui.widgets.message_view import AssistantMessage
from llama_tui.ui.widgets.prompt_input import PromptInput
from llama_tui.ui.widgets.stream_markdown import warm_up

if TYPE_CHECKING:
    from llama_tui.ui.screens.dialogs import ParamsResult

#: Below this many columns the conversation list would leave the chat too little room.
NARROW = 100
#: After this long idle start, the Markdown parser and Pygments load in a thread (settle_in).
WARM_UP_SECONDS = 1.0
#: On a cold start, this many of the newest unindexed files are read before the first paint
#: (the stat of every file dominates: docs/performance.md, "Startup with 10,000 ...").
FIRST_PAINT_FILES = 500


def settle_in() -> None:
    """Idle after start: load what the first reply on screen needs, then move everything
    alive now (Textual, CSS, the list: long-lived) out of the garbage collector's reach. A
    full collection walks all of it (tens of ms holding the GIL: docs/performance.md, "Two
    process-wide settings"), and one tends to fall in the middle of a streamed reply, right
    when its last words are due."""
    warm_up()
    if gc.get_freeze_count() == 0:  # once per process (tests start many apps in one)
        gc.collect()
        gc.freeze()


class FilterInput(Input):
    BINDINGS = [
        Binding("down", "screen.focus_rows", "Rows", id="filter-to-rows", show=False),
        Binding("tab", "screen.focus_rows", "Rows", id="filter-tab-to-rows", show=False),
    ]


class MainScreen(ManageBase):
    #: Narrower than NARROW columns, the list is hidden until asked for (`show_sidebar`).
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (NARROW, "-wide")]
    # Priority bindings run as their key arrives, before the keys after it are handed to the
    # focused widget (see `focus`): those that move focus or open a screen are priority.
    # ctrl+z stays a plain binding: in the prompt it is the prompt's own undo.
    BINDINGS = [
        Binding("ctrl+n", "new_chat", "New", id="new-chat", priority=True),
        Binding("escape", "stop", "Stop", id="stop", priority=True),
        Binding("escape", "to_prompt", "Prompt", id="to-prompt", show=False, priority=True),
        Binding("f2", "settings", "Settings", id="settings", priority=True),
        Binding("f3", "params", "Params", id="edit-params", priority=True),
        Binding("f4", "template", "Template", id="template", show=False, priority=True),
        Binding("f5", "inspect", "Inspect", id="inspect", priority=True),
        Binding("ctrl+g", "continue_document", "Continue", id="continue", show=False),
        Binding("ctrl+b", "toggle_sidebar", "Sidebar", id="toggle-sidebar", show=False,
                priority=True),
        Binding("ctrl+l", "focus_list", "List", id="focus-list", show=False, priority=True),
        Binding("ctrl+f", "search", "Search", id="search", priority=True),
        Binding("ctrl+z", "undo_delete", "Undo delete", id="undo-delete", show=False),
        Binding("ctrl+up", "focus_messages", "Messages", id="focus-messages", show=False,
                priority=True),
        Binding("ctrl+r", "reload", "Reload list", id="reload", show=False, priority=True),
    ]

    def compose(self) -> ComposeResult:
        with Horizontal():
            with Vertical(id="sidebar-pane"):
                yield FilterInput(placeholder="filter titles · Enter: search messages",
                                  id="filter", compact=True)
                yield ConversationList(id="sidebar")
            with Vertical(id="chat"):
                yield Static("", id="chat-title")
                yield ChatView(id="messages")
                yield PromptInput(id="prompt")
                yield Static("", id="status")
        yield LeanFooter()

    async def on_mount(self) -> None:
        self.refresh_list(first=FIRST_PAINT_FILES)
        await self.open_conversation(None)
        self.set_interval(0.5, self.update_status)
        self.focus_prompt()
        self.keys_changed()
        self.set_timer(WARM_UP_SECONDS, lambda: self.run_worker(settle_in, thread=True,
                                                                group="warm-up"))

    # -- actions ---------------------------------------------------------------------------

    async def action_new_chat(self) -> None:
        await self.open_conversation(None)
        self.query_one(ConversationList).highlighted = None
        self.focus_prompt()

    def action_params(self) -> None:
        from llama_tui.ui.screens.dialogs import ParamsScreen

        if self.current is None:
            self.current = self.fresh_conversation()
        conv = self.current
        try:  # the model the endpoint asks for when the conversation names none
            endpoint = self.services.endpoint_of(conv)
            default = endpoint and self.services.config.choose_endpoint(endpoint.name)
        except ConfigError:
            default = None
        self.app.push_screen(ParamsScreen(conv, "the defaults from settings",
                                          default.model if default else None),
                             lambda result: self._apply_params(conv, result))

    async def _apply_params(self, conv: Conversation, result: ParamsResult | None) -> None:
        if result is None:
            return
        conv.system = result.system
        conv.params.temperature = result.temperature
        conv.params.top_p = result.top_p
        conv.params.max_tokens = result.max_tokens
        conv.params.stop = result.stop
        conv.params.memory_window = result.memory_window
        conv.params.reasoning_effort = result.reasoning_effort
        conv.model = result.model
        if conv.messages:
            await self.services.save(conv)
        self.update_status()
        self.notify("Parameters of this conversation saved.")

    def action_template(self) -> None:
        from llama_tui.prompts import TemplateError, load_templates
        from llama_tui.ui.screens.dialogs import TemplateScreen

        try:
            templates = load_templates(paths.templates_file())
        except TemplateError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return

        async def chosen(text: str | None) -> None:
            if text:
                await self.send(text)

        self.app.push_screen(TemplateScreen(templates), chosen)

    def action_inspect(self) -> None:
        from llama_tui.ui.screens.dialogs import InspectorScreen

        conv = self.current
        record = self.services.last_request(conv) if conv else None
        focused = self.app.focused
        shown: Message | None = None
        if isinstance(focused, AssistantMessage):  # F5 on a reply: that reply's request
            record = self.services.request_for(focused.message)
            shown = focused.message
        if (reply := self.services.engine.reply_for(conv)) is not None:
            record = reply.record
        if record is None:
            self.notify(self._no_request(conv, shown))
            return
        self.app.push_screen(InspectorScreen(record))

    def _no_request(self, conv: Conversation | None, reply: Message | None) -> str:
        """Why the inspector has nothing to show, in the user's words."""
        if reply is None and conv is not None:
            reply = next((m for m in reversed(conv.messages) if m.role == Role.ASSISTANT), None)
        if reply is None:
            return "Nothing was sent from this conversation yet."
        if reply.created_at < self.services.started_at:
            return ("Requests are kept for this session only; this reply was made before the "
                    "app started.")
        return "Requests are kept for this session only, for its latest replies."

    async def action_continue_document(self) -> None:
        if self.current is not None and self.current.mode == "completion":
            await self.send(self.query_one(PromptInput).text)

    def action_stop(self) -> None:
        if self.current is not None:
            self.services.engine.stop(self.current)

    def action_settings(self) -> None:
        open_settings(self.app, self.services)

    def action_reload(self) -> None:
        self.refresh_list()
