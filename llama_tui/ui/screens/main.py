"""The main screen: conversation list on the left, the chat on the right.

The screen turns widget messages into core calls: it owns which conversation is shown and
starts one reply worker per conversation (several may stream at once, each bound to its own
conversation object).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import Worker

from llama_tui.client.dialects import GenerationRequest
from llama_tui.config import ConfigError
from llama_tui.model import Conversation
from llama_tui.prompts import LLAMA2_STOP, PromptFormatError, build_messages, format_llama2
from llama_tui.session import add_prompt, begin_reply, start_conversation
from llama_tui.storage.codec import CodecError
from llama_tui.storage.store import StoreError
from llama_tui.ui.replies import ReplyJob, run_reply
from llama_tui.ui.widgets.chat_view import ChatView
from llama_tui.ui.widgets.conversation_list import ConversationList
from llama_tui.ui.widgets.prompt_input import PromptInput

if TYPE_CHECKING:
    from llama_tui.ui.app import LlamaApp

EMPTY_HINT = (
    "New conversation. Type below and press Enter to send; ctrl+j inserts a newline.\n"
    "ctrl+n starts another, escape stops a reply, F2 opens settings, ctrl+p the command palette."
)


class MainScreen(Screen[None]):
    BINDINGS = [
        Binding("ctrl+n", "new_chat", "New chat", id="new-chat"),
        Binding("escape", "stop", "Stop reply", id="stop"),
        Binding("f2", "settings", "Settings", id="settings"),
        Binding("ctrl+b", "toggle_sidebar", "Sidebar", id="toggle-sidebar"),
        Binding("ctrl+l", "focus_list", "List", id="focus-list", show=False),
        Binding("ctrl+r", "reload", "Reload list", id="reload", show=False),
    ]

    app: LlamaApp

    def __init__(self) -> None:
        super().__init__()
        self.current: Conversation | None = None
        self.jobs: dict[str, tuple[ReplyJob, Worker[ReplyJob]]] = {}

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield ConversationList(id="sidebar")
            with Vertical(id="chat"):
                yield Static("", id="chat-title")
                yield ChatView(id="messages")
                yield PromptInput(id="prompt")
                yield Static("", id="status")
        yield Footer()

    async def on_mount(self) -> None:
        self.refresh_list()
        await self.open_conversation(None)
        self.set_interval(0.5, self.update_status)
        self.query_one(PromptInput).focus()

    # -- list -------------------------------------------------------------------------------

    def refresh_list(self) -> None:
        summaries, problems = self.app.store.scan()
        for problem in problems:
            if str(problem.path) not in self.app.reported_problems:
                self.app.reported_problems.add(str(problem.path))
                self.notify(f"Skipped {problem}", title="Unreadable conversation file",
                            severity="warning", timeout=10, markup=False)
        keep = self.current.id if self.current else None
        self.query_one(ConversationList).show(summaries, keep=keep)

    @on(ConversationList.ConversationSelected)
    async def _selected(self, event: ConversationList.ConversationSelected) -> None:
        if self.current is not None and event.conversation_id == self.current.id:
            self.query_one(PromptInput).focus()
            return
        await self.open_id(event.conversation_id)

    async def open_id(self, conversation_id: str) -> None:
        job = self.jobs.get(conversation_id)
        if job is not None:
            await self.open_conversation(job[0].conversation)
            return
        try:
            conv = await asyncio.to_thread(self.app.store.load, conversation_id)
        except (CodecError, StoreError) as exc:
            self.notify(str(exc), title="Cannot open this conversation", severity="error",
                        markup=False)
            return
        await self.open_conversation(conv)
        self.query_one(PromptInput).focus()

    async def open_conversation(self, conv: Conversation | None) -> None:
        """Show `conv` (None: a new, unsaved conversation) and reattach its live reply."""
        for job, _ in self.jobs.values():
            job.view = None
        self.current = conv
        job = self.jobs[conv.id][0] if conv is not None and conv.id in self.jobs else None
        view = await self.query_one(ChatView).show(conv, EMPTY_HINT, job.message if job else None)
        title = conv.title if conv and conv.title else "New conversation"
        self.query_one("#chat-title", Static).update(Content(title))
        if job is not None and view is not None:
            job.view = view
            if job.text:
                await view.write(job.text)
        self.update_status()

    # -- sending ----------------------------------------------------------------------------

    @on(PromptInput.Submitted)
    async def _submitted(self, event: PromptInput.Submitted) -> None:
        await self.send(event.text)

    async def send(self, text: str) -> None:
        conv = self.current
        if conv is not None and conv.id in self.jobs:
            self.notify("A reply is still streaming here: escape stops it.", severity="warning")
            return
        try:
            endpoint = self.app.endpoint_for(conv)
        except ConfigError as exc:
            self.notify(str(exc), title="Endpoint", severity="error", markup=False)
            return
        if endpoint is None:
            self.notify("No endpoint yet: add one in settings (F2).", severity="warning")
            self.app.action_settings()
            return
        if conv is None:
            conv = start_conversation(endpoint.name, self.app.config.system_prompt,
                                      mode=endpoint.kind)
            conv.params.memory_window = self.app.config.memory_window
            self.current = conv
        try:
            request = self.build_request(conv, text, endpoint.kind, endpoint.prompt_format)
        except (PromptFormatError, ValueError) as exc:
            self.notify(str(exc), title="Cannot send", severity="error", markup=False)
            return
        self.query_one(PromptInput).clear()
        user = add_prompt(conv, text)
        reply = begin_reply(conv)
        chat = self.query_one(ChatView)
        if len(conv.messages) == 2:
            self.query_one("#chat-title", Static).update(Content(conv.title))
        await chat.add(user)
        view = await chat.add(reply, streaming=True)
        job = ReplyJob(conversation=conv, message=reply, prompt=text, view=view)
        await self.app.save(conv)
        client = self.app.clients.get(endpoint)
        worker = self.run_worker(run_reply(job, client, request, self.app.save),
                                 name=conv.id, group="replies", exit_on_error=False)
        self.jobs[conv.id] = (job, worker)
        sidebar = self.query_one(ConversationList)
        sidebar.generating.add(conv.id)
        self.refresh_list()
        self.update_status()

    def build_request(
        self, conv: Conversation, text: str, kind: str, prompt_format: str | None
    ) -> GenerationRequest:
        config = self.app.config
        params = conv.params.generation().merged_over(config.defaults)
        messages = build_messages(conv, text, conv.params.memory_window)
        if kind == "chat" and conv.mode == "chat":
            return GenerationRequest("chat", messages=messages, params=params)
        prompt = text
        if prompt_format == "llama2":
            prompt = format_llama2(messages)
            params.stop = list(dict.fromkeys((params.stop or []) + LLAMA2_STOP))
        return GenerationRequest("completion", prompt=prompt, params=params)

    async def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Every reply worker ends here, whatever happened: one place for the aftermath."""
        if event.worker.group != "replies" or not event.worker.is_finished:
            return
        conv_id = event.worker.name
        held = self.jobs.pop(conv_id, None)
        self.query_one(ConversationList).generating.discard(conv_id)
        self.refresh_list()
        self.update_status()
        if held is None:
            return
        job = held[0]
        error = event.worker.error
        if error is not None and not isinstance(error, asyncio.CancelledError):
            # A bug, not an API error: the text is kept anyway.
            self.app.log_error(error)
            self.notify("The reply stopped because of an internal error (see the log).",
                        severity="error")
            return
        if job.error is not None:
            title = "Blocked by the content filter" if job.outcome == "content_filter" \
                else "The request failed"
            self.notify(job.error.details()[0], title=title, severity="error", markup=False)
            if not job.parts and self.current is job.conversation:
                self.query_one(PromptInput).restore(job.prompt)

    # -- actions ----------------------------------------------------------------------------

    async def action_new_chat(self) -> None:
        await self.open_conversation(None)
        self.query_one(ConversationList).highlighted = None
        self.query_one(PromptInput).focus()

    def action_stop(self) -> None:
        if self.current is None or self.current.id not in self.jobs:
            return
        self.jobs[self.current.id][1].cancel()

    def action_settings(self) -> None:
        self.app.action_settings()

    def action_toggle_sidebar(self) -> None:
        sidebar = self.query_one(ConversationList)
        sidebar.display = not sidebar.display

    def action_focus_list(self) -> None:
        sidebar = self.query_one(ConversationList)
        sidebar.display = True
        sidebar.focus()

    def action_reload(self) -> None:
        self.refresh_list()

    def update_status(self) -> None:
        parts: list[str] = []
        try:
            endpoint = self.app.endpoint_for(self.current)
        except ConfigError:
            endpoint = None
        if endpoint is not None:
            parts.append(f"{endpoint.name}" + (f" · {endpoint.model}" if endpoint.model else ""))
        else:
            parts.append("no endpoint (F2)")
        conv = self.current
        k = conv.params.memory_window if conv else self.app.config.memory_window
        parts.append("memory: all" if k is None else f"memory: last {k}")
        if conv is not None and conv.id in self.jobs:
            job = self.jobs[conv.id][0]
            rate = job.live_rate()
            parts.append(f"streaming · {len(job.parts)} tokens"
                         + (f" · {rate:.1f} tok/s" if rate else ""))
        elif len(self.jobs):
            parts.append(f"{len(self.jobs)} streaming elsewhere")
        self.query_one("#status", Static).update(Content("  ·  ".join(parts)))
