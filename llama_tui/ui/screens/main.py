"""The main screen: conversation list on the left, the chat on the right.

The screen turns widget messages into core calls: it owns which conversation is shown, asks
the app's reply engine (`llama_tui.engine`) to start and stop replies, and shows the engine's
events (`EngineMessage`) in whichever view shows that reply's conversation. Several replies
may stream at once, each bound to its own conversation object.
"""

from __future__ import annotations

import asyncio
import gc
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Input, Static

from llama_tui import paths
from llama_tui.client.dialects import GenerationRequest
from llama_tui.config import ConfigError
from llama_tui.model import Conversation, Endpoint, Message, Role
from llama_tui.prompts import PromptFormatError
from llama_tui.reply import ReasoningGrew, Reply, ReplyEnded, Saved, SaveFailed, TextGrew
from llama_tui.sanitize import sanitize
from llama_tui.session import (
    add_prompt,
    begin_reply,
    build_request,
    next_request_size,
    request_record,
    set_document,
    start_conversation,
)
from llama_tui.storage.codec import CodecError
from llama_tui.storage.store import Problem, StoreError, Summary
from llama_tui.ui import caches, notify
from llama_tui.ui.messages import EngineMessage
from llama_tui.ui.screens.focus import FocusActions
from llama_tui.ui.screens.manage import ManageActions
from llama_tui.ui.screens.models import ModelActions
from llama_tui.ui.textual_compat import LeanFooter
from llama_tui.ui.widgets.chat_view import ChatView
from llama_tui.ui.widgets.conversation_list import ConversationList
from llama_tui.ui.widgets.message_view import FAILED, AssistantMessage, ReplySink
from llama_tui.ui.widgets.prompt_input import PromptInput
from llama_tui.ui.widgets.stream_markdown import warm_up

if TYPE_CHECKING:
    from llama_tui.ui.app import LlamaApp
    from llama_tui.ui.screens.dialogs import ParamsResult

#: On a cold start, this many of the newest unindexed files are read before the first paint
#: (500 cost about what 200 do with 10,000 files: the stat of every file dominates).
FIRST_PAINT_FILES = 500
#: Below this many columns the conversation list would leave the chat too little room.
NARROW = 100
#: After this long idle start, the Markdown parser and Pygments load in a thread (settle_in).
WARM_UP_SECONDS = 1.0


def settle_in() -> None:
    """Idle after start: load what the first reply on screen needs, then move everything
    alive now (Textual, CSS, the list: long-lived) out of the garbage collector's reach. A
    full collection walked all of it, ~35 ms here, and one tends to fall in the middle of a
    streamed reply, right when its last words are due."""
    warm_up()
    if gc.get_freeze_count() == 0:  # once per process (tests start many apps in one)
        gc.collect()
        gc.freeze()

def failed_turn(conv: Conversation, text: str | None = None) -> Message | None:
    """The failed last reply of a chat, when `text` (if given) is its turn's prompt."""
    messages = conv.messages
    if conv.mode != "chat" or len(messages) < 2:
        return None
    reply, prompt = messages[-1], messages[-2]
    if reply.role != Role.ASSISTANT or reply.finish_reason not in FAILED \
            or prompt.role != Role.USER:
        return None
    if text is not None and prompt.content.strip() != text.strip():
        return None
    return reply


@dataclass(eq=False)
class LiveView:
    """A reply streaming into the view that shows it."""

    reply: Reply
    view: ReplySink
    #: How many of the reply's parts (answer, thinking) the view has been given.
    given: int = 0
    thought: int = 0
    #: The screen has shown the reply's end (its final save is what comes next).
    ended: bool = False

    async def catch_up(self) -> None:
        thoughts = len(self.reply.reasoning_parts)
        if thoughts > self.thought:
            start, self.thought = self.thought, thoughts
            await self.view.think("".join(self.reply.reasoning_parts[start:thoughts]))
        count = len(self.reply.parts)
        if count > self.given:
            start, self.given = self.given, count
            await self.view.write("".join(self.reply.parts[start:count]))


class FilterInput(Input):
    BINDINGS = [
        Binding("down", "screen.focus_rows", "Rows", id="filter-to-rows", show=False),
        Binding("tab", "screen.focus_rows", "Rows", id="filter-tab-to-rows", show=False),
    ]


class MainScreen(FocusActions, ManageActions, ModelActions, Screen[None]):
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

    app: LlamaApp

    def __init__(self) -> None:
        super().__init__()
        self.current: Conversation | None = None
        #: The reply streaming into the view on screen, and that view.
        self._live: LiveView | None = None
        self._status_text: str | None = None
        #: What was typed and not sent, per conversation (`focus.draft_key`), in memory.
        self.drafts: dict[str, str] = {}
        self._stop_shown = False

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

    # -- list -------------------------------------------------------------------------------

    def refresh_list(self, first: int | None = None) -> None:
        """Rescan the folder. With `first`, files missing from the index beyond the `first`
        newest are read in a background thread and the list fills in when they are."""
        summaries, problems, complete = self.app.store.scan_newest(first)
        self._show_scan(summaries, problems)
        if not complete:  # after the first paint: the scan thread would contend for the GIL
            self.set_timer(0.3, lambda: self.run_worker(self._finish_scan(), group="scan",
                                                        exclusive=True))

    async def _finish_scan(self) -> None:
        summaries, problems = await asyncio.to_thread(self.app.store.scan)
        self._show_scan(summaries, problems)

    def upsert(self, conv: Conversation) -> None:
        """Show a conversation this screen just saved in its place in the list (no rescan)."""
        if conv.messages:
            sidebar = self.query_one(ConversationList)
            sidebar.upsert(self.app.store.summary_of(conv))
            if conv is self.current:
                sidebar.select_id(conv.id)

    def _show_scan(self, summaries: list[Summary], problems: list[Problem]) -> None:
        for problem in problems:
            if str(problem.path) not in self.app.reported_problems:
                self.app.reported_problems.add(str(problem.path))
                self.notify(sanitize(f"Skipped {problem}"), title="Unreadable conversation file",
                            severity="warning", timeout=10, markup=False)
        keep = self.current.id if self.current else None
        self.query_one(ConversationList).show(summaries, keep=keep)

    @on(ConversationList.ConversationSelected)
    async def _selected(self, event: ConversationList.ConversationSelected) -> None:
        if self.current is not None and event.conversation_id == self.current.id:
            self.focus_prompt()
            return
        await self.open_id(event.conversation_id)

    async def open_id(self, conversation_id: str, focus_index: int | None = None,
                      mark: str = "") -> None:
        reply = self.app.engine.reply_for(conversation_id)
        if reply is not None:
            await self.open_conversation(reply.conversation, focus_index, mark)
            return
        try:
            conv = await asyncio.to_thread(self.app.store.load, conversation_id)
        except (CodecError, StoreError) as exc:
            self.notify(sanitize(str(exc)), title="Cannot open this conversation", severity="error",
                        markup=False)
            return
        await self.open_conversation(conv, focus_index, mark)
        if focus_index is None or focus_index < 0:
            self.focus_prompt()

    async def open_conversation(
        self, conv: Conversation | None, focus_index: int | None = None, mark: str = "",
    ) -> None:
        """Show `conv` (None: a new, unsaved conversation) with its reply still streaming;
        `focus_index` and `mark`: a search hit's message and words (`ChatView.show`)."""
        if not self.is_attached:  # the app is quitting: keys still queued do nothing
            return
        self._set_live(None)
        self.switch_draft(self.current, conv)
        self.current = conv
        if conv is not None:
            self.query_one(ConversationList).select_id(conv.id)
        reply = self.app.engine.reply_for(conv)
        if reply is not None and not reply.streaming:
            reply = None  # complete, only saving: shown as a finished reply
        view = await self.query_one(ChatView).show(conv, self.empty_hint(),
                                                   reply.message if reply else None,
                                                   focus_index=focus_index, mark=mark)
        title = conv.title if conv and conv.title else "New conversation"
        self.query_one("#chat-title", Static).update(Content(sanitize(title)))
        if reply is not None and view is not None:
            live = LiveView(reply, view)
            self._set_live(live)
            await live.catch_up()
        self.update_status()

    # -- sending ----------------------------------------------------------------------------

    @on(PromptInput.Submitted)
    async def _submitted(self, event: PromptInput.Submitted) -> None:
        await self.send(event.text)

    def fresh_conversation(self, endpoint: Endpoint | None = None) -> Conversation:
        """A new, unsaved conversation with the configured defaults."""
        mode = "chat"
        if endpoint is not None and endpoint.kind == "completion" and not endpoint.prompt_format:
            mode = "completion"  # a raw completion endpoint: the conversation is a document
        conv = start_conversation(endpoint.name if endpoint else None,
                                  self.app.config.system_prompt, mode=mode)  # type: ignore[arg-type]
        conv.params.memory_window = self.app.config.memory_window
        return conv

    async def send(self, text: str) -> None:
        """Send `text` as the next turn (chat) or append it and continue (completion)."""
        conv = self.current
        reply = self.app.engine.reply_for(conv)
        if reply is not None:
            if reply.streaming:
                self.notify(f"A reply is still streaming here: {self.app.key('stop')} stops it.",
                            severity="warning")
                return
            # The reply is complete on screen; only its last save is running: wait for it.
            await self.app.engine.wait(reply)
            if self.current is not conv:  # switched away meanwhile: the text stays typed
                return
        try:
            endpoint = self.app.endpoint_for(conv)
        except ConfigError as exc:
            self.notify(str(exc), title="Endpoint", severity="error", markup=False)
            return
        if endpoint is None:
            self.notify(f"No endpoint yet: add one in settings ({self.app.key('settings')}).",
                        severity="warning")
            self.app.action_settings()
            return
        if conv is None or (not conv.messages and conv.endpoint is None):
            old = conv
            conv = self.fresh_conversation(endpoint)
            if old is not None:  # set before the first send (F3, the palette)
                conv.params, conv.system, conv.model = old.params, old.system, old.model
            self.current = conv
        if (failed := failed_turn(conv, text)) is not None:  # the same prompt again: a retry
            await self.regenerate(conv, failed, prompt=text)
            return
        chat = self.query_one(ChatView)
        try:
            if conv.mode == "completion":
                document = chat.document
                doc = (document.text if document else "") + text
                request = build_request(self.app.config, conv, endpoint, document=doc)
                set_document(conv, doc)
            else:
                request = build_request(self.app.config, conv, endpoint, prompt=text)
                self.warn_if_too_long(conv, text)
                add_prompt(conv, text)
        except (PromptFormatError, ValueError) as exc:
            self.notify(str(exc), title="Cannot send", severity="error", markup=False)
            return
        self.query_one(PromptInput).clear()
        await self._start_reply(conv, endpoint, request, text, new_turn=conv.mode == "chat")

    async def _start_reply(
        self, conv: Conversation, endpoint: Endpoint, request: GenerationRequest, text: str,
        *, new_turn: bool,
    ) -> None:
        """Append the reply placeholder, show it, save, and start the reply bound to `conv`."""
        chat = self.query_one(ChatView)
        message = begin_reply(conv)
        self.query_one("#chat-title", Static).update(Content(sanitize(conv.title)))
        if conv.mode == "completion":
            view: ReplySink | None = await chat.show(conv, live=message)
        else:
            if new_turn:
                await chat.add(conv.messages[-2])
            view = await chat.add(message, streaming=True)
        await self.app.save(conv)
        reply = self.app.engine.start(conv, message, self.app.clients.get(endpoint), request,
                                      prompt=text, record=request_record(endpoint, request),
                                      secrets=endpoint.secrets())
        if view is not None and conv is self.current:
            self._set_live(LiveView(reply, view))
        self.query_one(ConversationList).set_generating(conv.id, True)
        self.upsert(conv)
        self.update_status()

    async def regenerate(self, conv: Conversation, message: Message, prompt: str = "") -> None:
        """A new reply to the last prompt; the previous one stays, marked as an earlier
        version. A failed reply is retried in place instead: it is dropped, its prompt stays
        the one user message of the turn."""
        if self.app.engine.reply_for(conv) is not None:
            self.notify(f"A reply is still streaming here: {self.app.key('stop')} stops it.",
                        severity="warning")
            return
        if conv.mode != "chat" or not conv.messages or conv.messages[-1] is not message:
            self.notify("Only the last reply can be regenerated.", severity="warning")
            return
        retry = failed_turn(conv) is message
        try:
            endpoint = self.app.endpoint_for(conv)
            if endpoint is None:
                raise ConfigError(None, None, "no endpoint configured",
                                  f"open settings ({self.app.key('settings')})")
            if retry:
                conv.messages.pop()
            else:
                message.extra["superseded"] = True
            request = build_request(self.app.config, conv, endpoint)
        except (ConfigError, PromptFormatError, ValueError) as exc:
            if retry and conv.messages[-1] is not message:
                conv.messages.append(message)
            message.extra.pop("superseded", None)
            self.notify(str(exc), title="Cannot retry" if retry else "Cannot regenerate",
                        severity="error", markup=False)
            return
        if retry:  # typed again or not, the prompt comes back if this attempt fails too
            prompt = prompt or conv.messages[-1].content
            self.query_one(PromptInput).clear()
        await self.open_conversation(conv)
        await self._start_reply(conv, endpoint, request, prompt, new_turn=False)

    @on(EngineMessage)
    async def _engine_event(self, message: EngineMessage) -> None:
        """The reply engine's events, shown where that reply's conversation is shown."""
        # Events arrive here after the fact: the engine may be further along already, so
        # what is done depends on the event and on what this screen saw, not on the engine.
        event, live = message.event, self._live
        if not self.is_attached:  # the app is quitting; the engine saves without the screen
            return
        if isinstance(event, TextGrew | ReasoningGrew):
            if live is not None and live.reply is event.reply:
                await live.catch_up()
        elif isinstance(event, ReplyEnded):
            await self._reply_ended(event.reply)
        elif isinstance(event, Saved | SaveFailed):  # the final save tried: done streaming
            if live is not None and live.ended and live.reply.conversation is event.conversation:
                self._set_live(None)
            if isinstance(event, SaveFailed):
                return
            reply = self.app.engine.reply_for(event.conversation)
            if reply is None or not reply.streaming:
                self.upsert(event.conversation)

    def _set_live(self, live: LiveView | None) -> None:
        """Change the reply shown live. One that ended is saved by now or will be soon:
        its view takes its finished look (`ReplySink.saved`) as it goes."""
        old, self._live = self._live, live
        if old is not None and old.ended:
            old.view.saved()
            caches.trim()  # Textual's memo caches, filled by the reply's frames

    async def _reply_ended(self, reply: Reply) -> None:
        conv = reply.conversation
        if self._live is not None and self._live.reply is reply:
            await self._live.catch_up()
            self._live.ended = True
            await self._live.view.finish(reply.outcome, reply.message.stats, reply.message.error)
            if reply.message.content != reply.text:  # the server echoed a secret: now hidden
                await self.open_conversation(conv)
        if reply.record is not None:
            self.app.remember_request(reply)
        notify.reply_finished(self.app, reply)
        if not any(r.streaming and r.conversation.id == conv.id
                   for r in self.app.engine.replies):
            self.query_one(ConversationList).set_generating(conv.id, False)
        self.update_status()
        self.learn_context(reply)
        if reply.crash is not None:  # a bug, not an API error: the text is kept anyway
            self.notify("The reply stopped because of an internal error (see the log).",
                        severity="error")
        elif self.model_refused(reply):  # a model is found, and the reply sent again
            return
        elif reply.error is not None:
            title = "Blocked by the content filter" if reply.outcome == "content_filter" \
                else "The request failed"
            self.notify(reply.error.details()[0], title=title, severity="error", markup=False)
            if not reply.parts and self.current is conv:
                self.query_one(PromptInput).restore(reply.prompt)
            elif not reply.parts and reply.prompt:  # shown when that conversation is
                self.drafts.setdefault(conv.id, reply.prompt)

    # -- actions ----------------------------------------------------------------------------

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
            endpoint = self.app.endpoint_of(conv)
            default = endpoint and self.app.config.choose_endpoint(endpoint.name)
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
            await self.app.save(conv)
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
        record = self.app.last_request(conv) if conv else None
        focused = self.app.focused
        shown: Message | None = None
        if isinstance(focused, AssistantMessage):  # F5 on a reply: that reply's request
            record = self.app.request_for(focused.message)
            shown = focused.message
        if (reply := self.app.engine.reply_for(conv)) is not None:
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
        if reply.created_at < self.app.started_at:
            return ("Requests are kept for this session only; this reply was made before the "
                    "app started.")
        return "Requests are kept for this session only, for its latest replies."

    async def action_continue_document(self) -> None:
        if self.current is not None and self.current.mode == "completion":
            await self.send(self.query_one(PromptInput).text)

    def action_stop(self) -> None:
        if self.current is not None:
            self.app.engine.stop(self.current)

    def action_settings(self) -> None:
        self.app.action_settings()

    def action_reload(self) -> None:
        self.refresh_list()

    def empty_hint(self) -> str:
        key = self.app.key
        return (f"New conversation. Type below and press Enter to send; {key('newline')} "
                f"inserts a newline.\n{key('new-chat')} starts another, {key('stop')} stops a "
                f"reply (else goes back to the prompt), {key('settings')} opens settings, "
                "ctrl+p the command palette.")

    def keys_changed(self) -> None:
        """The keymap changed (or was first applied): hints in words follow it."""
        self.query_one(PromptInput).keys_changed(self.app.key("newline"))
        for hint in self.query(".empty-hint").results(Static):
            hint.update(Content(self.empty_hint()))
        self._status_text = None
        self.update_status()

    def update_status(self) -> None:
        parts: list[str] = [self.app.endpoint_label(self.current)]  # never runs a key command
        used: str | None = None
        conv = self.current
        k = conv.params.memory_window if conv else self.app.config.memory_window
        reply = self.app.engine.reply_for(conv)
        if reply is not None and reply.streaming and reply.thinking_until is None \
                and reply.thinking_from is not None:
            parts.append(f"thinking · {reply.thinking_seconds() or 0:.0f} s · "
                         f"{self.app.key('stop')} stops")
        elif reply is not None and reply.streaming:
            rate = reply.live_rate()
            parts.append(f"streaming · {len(reply.parts)} tokens"
                         + (f" · {rate:.1f} tok/s" if rate else "")
                         + f" · {self.app.key('stop')} stops")
        elif conv is not None and conv.mode == "completion":
            parts.append(f"completion document · {self.app.key('continue')} continues")
        else:
            carried = next_request_size(conv, k, self.app.config.system_prompt)
            memory = "all" if k is None else f"last {k}"
            plural = "" if carried == 1 else "s"
            tokens, used = self.usage_status(conv, k)
            parts.append(f"memory: {memory} · "
                         + (tokens or f"next request: {carried} message{plural}"))
        others = sum(1 for r in self.app.engine.replies if r.streaming and r is not reply)
        if others:
            parts.append(f"{others} streaming elsewhere")
        text = "  ·  ".join(parts)
        width = self.query_one("#status").size.width
        if used and (not width or len(text) + len(used) + 5 <= width):
            text += "  ·  " + used  # else left out: the line under the reply says it too
        streaming = reply is not None and reply.streaming
        if streaming != self._stop_shown:  # the footer's "Stop" only while a reply streams
            self._stop_shown = streaming
            self.refresh_bindings()
        if text != self._status_text:  # one line, fixed height: no layout pass (it is costly)
            self._status_text = text
            self.query_one("#status", Static).update(Content(text), layout=False)
