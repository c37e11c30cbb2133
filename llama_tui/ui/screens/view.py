"""The main screen's view: the conversation list, the conversation shown with its reply
still streaming (`LiveView`), and the status line.

The second layer of the main screen (docs/design.md §1), over `FocusBase`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from textual import on
from textual.content import Content
from textual.widgets import Static

from llama_tui.model import Conversation, Endpoint, Mode, Role, Usage
from llama_tui.reply import Reply
from llama_tui.sanitize import sanitize
from llama_tui.session import next_request_size, start_conversation
from llama_tui.storage.codec import CodecError
from llama_tui.storage.store import Problem, StoreError, Summary
from llama_tui.ui import caches
from llama_tui.ui.screens.focus import FocusBase
from llama_tui.ui.services import Services
from llama_tui.ui.widgets.chat_view import ChatView
from llama_tui.ui.widgets.conversation_list import ConversationList
from llama_tui.ui.widgets.message_view import ReplySink
from llama_tui.ui.widgets.prompt_input import PromptInput


def usage_words(usage: Usage | None) -> str:
    """"412 in · 57 out · 30 thinking" (what the server counted), "" without usage."""
    return usage.words() if usage is not None else ""


def last_usage(conv: Conversation | None) -> Usage | None:
    if conv is None:
        return None
    for message in reversed(conv.messages):
        if message.role == Role.ASSISTANT and usage_words(message.usage):
            return message.usage
    return None


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

    #: An awaited catch-up is under way (the first thinking mounts its block).
    busy: bool = False

    async def catch_up(self) -> None:
        thoughts = len(self.reply.reasoning_parts)
        if thoughts > self.thought and not self.busy:
            start, self.thought, self.busy = self.thought, thoughts, True
            try:
                await self.view.think("".join(self.reply.reasoning_parts[start:thoughts]))
            finally:
                self.busy = False
        self.catch_up_now()

    def catch_up_now(self) -> bool:
        """Give the view what is new at once, in order; False while that needs `catch_up`
        (an awaited one is under way, or the first thinking must mount its block)."""
        if self.busy:
            return False
        thoughts = len(self.reply.reasoning_parts)
        if thoughts > self.thought:
            if not self.view.think_now("".join(self.reply.reasoning_parts[self.thought:thoughts])):
                return False
            self.thought = thoughts
        count = len(self.reply.parts)
        if count > self.given:
            start, self.given = self.given, count
            self.view.write_now("".join(self.reply.parts[start:count]))
        return True


class ViewBase(FocusBase):
    """What is shown: the list, the conversation, the live reply, the status line."""

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        #: The reply streaming into the view on screen, and that view.
        self._live: LiveView | None = None
        self._status_text: str | None = None
        self._stop_shown = False

    # -- the list --------------------------------------------------------------------------

    def refresh_list(self, first: int | None = None) -> None:
        """Rescan the folder. With `first`, files missing from the index beyond the `first`
        newest are read in a background thread and the list fills in when they are."""
        summaries, problems, complete = self.services.store.scan_newest(first)
        self._show_scan(summaries, problems)
        if not complete:  # after the first paint: the scan thread would contend for the GIL
            self.set_timer(0.3, lambda: self.run_worker(self._finish_scan(), group="scan",
                                                        exclusive=True))

    async def _finish_scan(self) -> None:
        summaries, problems = await asyncio.to_thread(self.services.store.scan)
        self._show_scan(summaries, problems)

    def upsert(self, conv: Conversation) -> None:
        """Show a conversation this screen just saved in its place in the list (no rescan)."""
        if conv.messages:
            sidebar = self.query_one(ConversationList)
            sidebar.upsert(self.services.store.summary_of(conv))
            if conv is self.current:
                sidebar.select_id(conv.id)

    def _show_scan(self, summaries: list[Summary], problems: list[Problem]) -> None:
        for problem in problems:
            if str(problem.path) not in self.services.reported_problems:
                self.services.reported_problems.add(str(problem.path))
                self.notify(sanitize(f"Skipped {problem}"), title="Unreadable conversation file",
                            severity="warning", timeout=10, markup=False)
        keep = self.current.id if self.current else None
        self.query_one(ConversationList).show(summaries, keep=keep)

    # -- the conversation shown ------------------------------------------------------------

    @on(ConversationList.ConversationSelected)
    async def _selected(self, event: ConversationList.ConversationSelected) -> None:
        if self.current is not None and event.conversation_id == self.current.id:
            self.focus_prompt()
            return
        await self.open_id(event.conversation_id)

    async def open_id(self, conversation_id: str, focus_index: int | None = None,
                      mark: str = "") -> None:
        reply = self.services.engine.reply_for(conversation_id)
        if reply is not None:
            await self.open_conversation(reply.conversation, focus_index, mark)
            return
        try:
            conv = await asyncio.to_thread(self.services.store.load, conversation_id)
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
        reply = self.services.engine.reply_for(conv)
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

    def feed_live(self, reply: Reply) -> bool:
        """The engine's text for `reply`, given to the view showing it as it comes: one
        append per piece lets the view tell a backlog (text already received, read in a
        tight run) from a stream. False when it needs an awaited catch-up (post an
        `EngineMessage`)."""
        live = self._live
        if live is None or live.reply is not reply or not self.is_attached:
            return True  # not shown: opening the conversation catches up
        return live.catch_up_now()

    def _set_live(self, live: LiveView | None) -> None:
        """Change the reply shown live. One that ended is saved by now or will be soon:
        its view takes its finished look (`ReplySink.saved`) as it goes."""
        old, self._live = self._live, live
        if old is not None and old.ended:
            old.view.saved()
            caches.trim()  # Textual's memo caches, filled by the reply's frames

    def fresh_conversation(self, endpoint: Endpoint | None = None) -> Conversation:
        """A new, unsaved conversation with the configured defaults."""
        mode: Mode = "chat"
        if endpoint is not None and endpoint.kind == "completion" and not endpoint.prompt_format:
            mode = "completion"  # a raw completion endpoint: the conversation is a document
        conv = start_conversation(endpoint.name if endpoint else None,
                                  self.services.config.system_prompt, mode=mode)
        conv.params.memory_window = self.services.config.memory_window
        return conv

    def here(self) -> Conversation:
        """The conversation on screen; a new one (not saved until its first message) when
        none is. Raises `ConfigError` (no usable endpoint)."""
        conv = self.current
        if conv is None:
            conv = self.fresh_conversation(self.services.endpoint_of(None))
            self.current = conv
        return conv

    # -- hints and the status line ---------------------------------------------------------

    def empty_hint(self) -> str:
        key = self.services.key
        return (f"New conversation. Type below and press Enter to send; {key('newline')} "
                f"inserts a newline.\n{key('new-chat')} starts another, {key('stop')} stops a "
                f"reply (else goes back to the prompt), {key('settings')} opens settings, "
                "ctrl+p the command palette.")

    def keys_changed(self) -> None:
        """The keymap changed (or was first applied): hints in words follow it."""
        self.query_one(PromptInput).keys_changed(self.services.key("newline"))
        for hint in self.query(".empty-hint").results(Static):
            hint.update(Content(self.empty_hint()))
        self._status_text = None
        self.update_status()

    def update_status(self) -> None:
        parts: list[str] = [self.services.endpoint_label(self.current)]  # never runs a key command
        used: str | None = None
        conv = self.current
        k = conv.params.memory_window if conv else self.services.config.memory_window
        reply = self.services.engine.reply_for(conv)
        if reply is not None and reply.streaming and reply.thinking_until is None \
                and reply.thinking_from is not None:
            parts.append(f"thinking · {reply.thinking_seconds() or 0:.0f} s · "
                         f"{self.services.key('stop')} stops")
        elif reply is not None and reply.streaming:
            rate = reply.live_rate()
            parts.append(f"streaming · {len(reply.parts)} tokens"
                         + (f" · {rate:.1f} tok/s" if rate else "")
                         + f" · {self.services.key('stop')} stops")
        elif conv is not None and conv.mode == "completion":
            parts.append(f"completion document · {self.services.key('continue')} continues")
        else:
            carried = next_request_size(conv, k, self.services.config.system_prompt)
            memory = "all" if k is None else f"last {k}"
            plural = "" if carried == 1 else "s"
            tokens, used = self.usage_status(conv, k)
            parts.append(f"memory: {memory} · "
                         + (tokens or f"next request: {carried} message{plural}"))
        others = sum(1 for r in self.services.engine.replies if r.streaming and r is not reply)
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

    def usage_status(self, conv: Conversation | None,
                     k: int | None) -> tuple[str | None, str | None]:
        """The status line's words on tokens: the next request's size against the model's
        context (None while that is not known), and the last reply's usage (None: none)."""
        used = usage_words(last_usage(conv))
        context = self.services.context_length(conv)
        if context is None:
            return None, f"last: {used}" if used else None
        estimate = self.services.estimate(conv, self.query_one(PromptInput).text, k)
        return f"next request ~{estimate:,} of {context:,} tokens", \
            f"last: {used}" if used else None
