"""Sending and replies on the main screen: a prompt becomes a reply started in the core's
reply engine, bound to its conversation; the engine's events (`EngineMessage`) are shown in
whichever view shows that conversation. Several replies may stream at once.

The third layer of the main screen (docs/design.md §1), over `ViewBase`.
"""

from __future__ import annotations

from textual import on
from textual.content import Content
from textual.widgets import Static

from llama_tui.client.dialects import GenerationRequest
from llama_tui.config import ConfigError
from llama_tui.model import Conversation, Endpoint, Message, Role
from llama_tui.prompts import PromptFormatError
from llama_tui.reply import ReasoningGrew, Reply, ReplyEnded, Saved, SaveFailed, TextGrew
from llama_tui.sanitize import sanitize
from llama_tui.session import add_prompt, begin_reply, build_request, request_record, set_document
from llama_tui.ui import notify
from llama_tui.ui.messages import EngineMessage
from llama_tui.ui.screens.settings import open_settings
from llama_tui.ui.screens.view import LiveView, ViewBase
from llama_tui.ui.widgets.chat_view import ChatView
from llama_tui.ui.widgets.conversation_list import ConversationList
from llama_tui.ui.widgets.message_view import FAILED, ReplySink
from llama_tui.ui.widgets.prompt_input import PromptInput


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


class RepliesBase(ViewBase):
    """Sending, regenerating and retrying; the engine's events shown."""

    # -- sending ---------------------------------------------------------------------------

    @on(PromptInput.Submitted)
    async def _submitted(self, event: PromptInput.Submitted) -> None:
        await self.send(event.text)

    async def send(self, text: str) -> None:
        """Send `text` as the next turn (chat) or append it and continue (completion)."""
        conv = self.current
        reply = self.services.engine.reply_for(conv)
        if reply is not None:
            if reply.streaming:
                self.notify(f"A reply is still streaming here: {self.services.key('stop')} stops it.",
                            severity="warning")
                return
            # The reply is complete on screen; only its last save is running: wait for it.
            await self.services.engine.wait(reply)
            if self.current is not conv:  # switched away meanwhile: the text stays typed
                return
        try:
            endpoint = self.services.endpoint_for(conv)
        except ConfigError as exc:
            self.notify(str(exc), title="Endpoint", severity="error", markup=False)
            return
        if endpoint is None:
            self.notify(f"No endpoint yet: add one in settings ({self.services.key('settings')}).",
                        severity="warning")
            open_settings(self.app, self.services)
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
                request = build_request(self.services.config, conv, endpoint, document=doc)
                set_document(conv, doc)
            else:
                request = build_request(self.services.config, conv, endpoint, prompt=text)
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
        await self.services.save(conv)
        reply = self.services.engine.start(conv, message, self.services.clients.get(endpoint), request,
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
        if self.services.engine.reply_for(conv) is not None:
            self.notify(f"A reply is still streaming here: {self.services.key('stop')} stops it.",
                        severity="warning")
            return
        if conv.mode != "chat" or not conv.messages or conv.messages[-1] is not message:
            self.notify("Only the last reply can be regenerated.", severity="warning")
            return
        retry = failed_turn(conv) is message
        try:
            endpoint = self.services.endpoint_for(conv)
            if endpoint is None:
                raise ConfigError(None, None, "no endpoint configured",
                                  f"open settings ({self.services.key('settings')})")
            if retry:
                conv.messages.pop()
            else:
                message.extra["superseded"] = True
            request = build_request(self.services.config, conv, endpoint)
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

    def warn_if_too_long(self, conv: Conversation, text: str) -> None:
        """Before sending: a warning when the request is estimated not to fit the model's
        context (it is sent anyway: the estimate is rough, the server decides)."""
        context = self.services.context_length(conv)
        if context is None or conv.mode != "chat":
            return
        estimate = self.services.estimate(conv, text, conv.params.memory_window)
        if estimate > context:
            self.notify(f"This request is about {estimate:,} tokens, more than the model's "
                        f"context of {context:,}: the server may refuse it or drop its start. "
                        f"A shorter memory ({self.services.key('edit-params')}) sends less.",
                        title="Too long for the model?", severity="warning", timeout=10)

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
            reply = self.services.engine.reply_for(event.conversation)
            if reply is None or not reply.streaming:
                self.upsert(event.conversation)

    async def _reply_ended(self, reply: Reply) -> None:
        conv = reply.conversation
        if self._live is not None and self._live.reply is reply:
            await self._live.catch_up()
            self._live.ended = True
            await self._live.view.finish(reply.outcome, reply.message.stats, reply.message.error)
            if reply.message.content != reply.text:  # the server echoed a secret: now hidden
                await self.open_conversation(conv)
        if reply.record is not None:
            self.services.remember_request(reply)
        notify.reply_finished(self.app, reply, bool(self.services.config.notify_when_done))
        if not any(r.streaming and r.conversation.id == conv.id
                   for r in self.services.engine.replies):
            self.query_one(ConversationList).set_generating(conv.id, False)
        self.update_status()
        handled = self.reply_handled(reply)
        if reply.crash is not None:  # a bug, not an API error: the text is kept anyway
            self.notify("The reply stopped because of an internal error (see the log).",
                        severity="error")
        elif handled:
            return
        elif reply.error is not None:
            title = "Blocked by the content filter" if reply.outcome == "content_filter" \
                else "The request failed"
            self.notify(reply.error.details()[0], title=title, severity="error", markup=False)
            if not reply.answered and self.current is conv:
                self.query_one(PromptInput).restore(reply.prompt)
            elif not reply.answered and reply.prompt:  # shown when that conversation is
                self.drafts.setdefault(conv.id, reply.prompt)

    def reply_handled(self, reply: Reply) -> bool:
        """After a reply ended and was shown: True when its failure is taken care of (a
        layer above finds a model the server needs) and is not to be reported."""
        return False
