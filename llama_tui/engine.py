"""The reply engine: every reply in flight, its checkpoints and every save (docs/design.md §2).

No Textual here. `llama-tui ask` and the app both drive replies through a `ReplyEngine`:

- A `Reply` is bound to the conversation object it was started for, never to "the one on
  screen". Its text is sanitised as it arrives (docs/design.md §7) and kept in `parts`.
- While it streams, the partial text is checkpointed about once a second whenever it changed,
  stalls included: a `kill -9` loses at most that window.
- Every ending (finished, failed, stopped with escape, interrupted by quit or a signal) writes
  the final message with its finish_reason.
- One writer per conversation: a snapshot is taken on the event loop and written in a thread,
  one write at a time, the newest snapshot winning. No thread touches a live conversation; a
  conflict copy's new id and title are applied back on the loop.
- Subscribers get plain events (`TextGrew`, `ReplyEnded`, `Saved`, `SaveFailed`), called on the
  event loop. The app turns them into Textual messages; `ask` prints them.

`save_all_now` is for signal handlers: it marks what still streams as interrupted and writes
everything from the calling thread, so a SIGHUP (an SSH link dropping) or SIGTERM loses nothing
even if the event loop never runs again.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from llama_tui.client.events import (
    ApiError,
    Finished,
    ReasoningDelta,
    ResponseStarted,
    StreamEvent,
    TextDelta,
)
from llama_tui.model import Conversation, Message, Stats, Usage
from llama_tui.reply import (
    CANCELLED,
    INTERRUPTED,
    EngineEvent,
    Listener,
    ReasoningGrew,
    Reply,
    ReplyEnded,
    Saved,
    SaveFailed,
    TextGrew,
    Written,
)
from llama_tui.sanitize import sanitize
from llama_tui.session import finish_reply
from llama_tui.storage.codec import CodecError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from llama_tui.client.dialects import GenerationRequest
    from llama_tui.storage.store import ConversationStore

log = logging.getLogger(__name__)

#: While a reply streams, its text is written this often (when it changed).
CHECKPOINT_SECONDS = 1.0
#: A save that failed for a reason that may pass (disk full, read-only folder) is retried.
SAVE_RETRY_SECONDS = 5.0
#: Quitting waits this long for the last saves before giving up on them (a hung disk).
SHUTDOWN_SECONDS = 5.0

#: A reply is stopped when its answer or its thinking grows past these (characters): a
#: runaway or hostile server cannot make a conversation file too big to open again (the store
#: reads at most 8 MiB) or fill memory. Real replies are a few thousand characters.
ANSWER_LIMIT = 2_000_000
REASONING_LIMIT = 1_000_000

class StreamSource(Protocol):
    """What the engine streams from: `client.Client` (tests may pass a fake)."""

    def stream(self, request: GenerationRequest) -> AsyncIterator[StreamEvent]: ...


# -- the engine -----------------------------------------------------------------------------

class _Writer:
    """Writes one conversation: snapshots numbered on the loop, written in order in a thread."""

    def __init__(self, conversation: Conversation) -> None:
        self.conversation = conversation
        self.alock = asyncio.Lock()
        self.tlock = threading.Lock()
        self.taken = 0  # the number of the newest snapshot
        self.written = 0  # the number of the newest snapshot on disk
        self.failing = False


class ReplyEngine:
    """Owns the replies in flight and every save of the conversations they belong to.

    `store` None: nothing is written (`ask` without `--save`)."""

    def __init__(
        self,
        store: ConversationStore | None,
        *,
        checkpoint_seconds: float | None = None,
        retry_seconds: float | None = None,
    ) -> None:
        self.store = store
        self._checkpoint_seconds = checkpoint_seconds
        self._retry_seconds = retry_seconds
        self._listeners: list[Listener] = []
        self._replies: dict[int, Reply] = {}  # by id() of the conversation
        self._writers: dict[int, _Writer] = {}
        self._unsaved: dict[int, Conversation] = {}  # the last save failed
        self._retrying: dict[int, Conversation] = {}  # ... for a reason that may pass
        self._retry: asyncio.Task[None] | None = None

    @property
    def checkpoint_seconds(self) -> float:
        return self._checkpoint_seconds or CHECKPOINT_SECONDS

    @property
    def retry_seconds(self) -> float:
        return self._retry_seconds or SAVE_RETRY_SECONDS

    # -- subscribers ------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` with every event (on the event loop); returns the unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _emit(self, event: EngineEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a subscriber's bug must not stop a reply or a save
                log.exception("reply engine listener failed on %s", type(event).__name__)

    # -- replies ----------------------------------------------------------------------------

    def start(
        self,
        conversation: Conversation,
        message: Message,
        client: StreamSource,
        request: GenerationRequest,
        *,
        prompt: str = "",
        record: Any = None,
        clean: bool = True,
        secrets: Sequence[str] = (),
    ) -> Reply:
        """Stream `request` into `message` (already the last message of `conversation`).
        The text is sanitised as it arrives unless `clean` is False (then only when saved)."""
        if self.reply_for(conversation) is not None:
            raise RuntimeError("a reply is already streaming in this conversation")
        reply = Reply(conversation, message, prompt=prompt, record=record, clean=clean,
                      secrets=tuple(s for s in secrets if s))
        self._replies[id(conversation)] = reply
        reply.task = asyncio.get_running_loop().create_task(self._run(reply, client, request))
        return reply

    def reply_for(self, conversation: Conversation | str | None) -> Reply | None:
        """The reply streaming in a conversation (an object, or an id), if any."""
        if conversation is None:
            return None
        if isinstance(conversation, str):
            return next((r for r in self._replies.values()
                         if r.conversation.id == conversation), None)
        return self._replies.get(id(conversation))

    @property
    def replies(self) -> list[Reply]:
        """Every reply not yet saved for good (streaming, or ended and saving)."""
        return list(self._replies.values())

    def stop(self, conversation: Conversation | str, reason: str = CANCELLED) -> bool:
        """Stop the reply streaming there; it keeps its text, marked `reason`."""
        reply = self.reply_for(conversation)
        if reply is None or not reply.streaming or reply.task is None:
            return False
        reply._stop_reason = reason
        reply.task.cancel()
        return True

    def stop_all(self, reason: str = INTERRUPTED) -> None:
        for reply in self.replies:
            self.stop(reply.conversation, reason)

    def fill_message(self, conversation: Conversation) -> None:
        """Bring the streaming reply's message up to the text received so far (what the next
        checkpoint would write), for an action that reads the message now (copy, fork)."""
        reply = self.reply_for(conversation)
        if reply is not None and reply.streaming:
            reply.message.content = reply.stored_text
            reply.message.reasoning = reply.stored_reasoning

    async def wait(self, reply: Reply) -> None:
        """Until `reply` has ended and its final save was tried."""
        if reply.task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(reply.task)

    async def _run(self, reply: Reply, client: StreamSource, request: GenerationRequest) -> None:
        checkpoints = asyncio.create_task(self._checkpoints(reply))
        try:
            try:
                finished = await self._read(reply, client, request)
                if finished is None:  # stopped at a size limit (or, defensively, no Finished)
                    self._end(reply, "length" if reply.over_limit else INTERRUPTED,
                              reply.partial_stats())
                else:
                    reply.content_filter = finished.content_filter
                    reply.reasoning_only = finished.reasoning_only
                    reply.tool_calls = tuple(sanitize(c.render()) for c in finished.tool_calls)
                    self._end(reply, finished.finish_reason, finished.stats, finished.usage,
                              _filter_words(finished))
            except asyncio.CancelledError:
                self._end(reply, reply._stop_reason or INTERRUPTED, reply.partial_stats())
            except ApiError as exc:
                reply.error = exc
                reason = "content_filter" if exc.kind == "content_filter" else "error"
                self._end(reply, reason, reply.partial_stats(exc.request_id),
                          error="\n".join(exc.details()))
            except Exception as exc:  # a bug, not the server: keep the text, say so
                log.exception("reply stream failed")
                reply.crash = exc
                self._end(reply, "error", reply.partial_stats(),
                          error=f"internal error: {type(exc).__name__} (see the log)")
        finally:
            checkpoints.cancel()
        try:
            await self.save(reply.conversation)
        finally:
            if self._replies.get(id(reply.conversation)) is reply:
                del self._replies[id(reply.conversation)]
            self._forget_if_idle(reply.conversation)

    async def _read(self, reply: Reply, client: StreamSource,
                    request: GenerationRequest) -> Finished | None:
        """Read the stream into `reply` until it finishes (its `Finished`), or until the answer
        or the thinking passes its size limit (None; the response is closed)."""
        stream = client.stream(request)
        try:
            async for event in stream:
                if isinstance(event, TextDelta):
                    now = time.monotonic()
                    if reply.first_token_at is None:
                        reply.first_token_at = now
                    if reply.thinking_from is not None and reply.thinking_until is None:
                        reply.thinking_until = now
                    reply.parts.append(sanitize(event.text) if reply.clean else event.text)
                    reply.chars += len(event.text)
                    self._emit(TextGrew(reply))
                    if reply.chars > ANSWER_LIMIT:
                        reply.over_limit = "answer"
                        return None
                elif isinstance(event, ReasoningDelta):
                    if reply.thinking_from is None:
                        reply.thinking_from = time.monotonic()
                    reply.thought_chars += len(event.text)
                    if reply.thought_chars > REASONING_LIMIT:
                        reply.over_limit = "thinking"
                        return None
                    reply.reasoning_parts.append(
                        sanitize(event.text) if reply.clean else event.text)
                    self._emit(ReasoningGrew(reply))
                elif isinstance(event, ResponseStarted):
                    reply.response = event
                elif isinstance(event, Finished):
                    return event
            return None
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()

    def _end(self, reply: Reply, reason: str, stats: Stats | None, usage: Usage | None = None,
             error: str | None = None) -> None:
        if not reply.streaming:
            return
        reply.outcome = reason
        if reply.thinking_from is not None and reply.thinking_until is None:
            reply.thinking_until = time.monotonic()
        finish_reply(reply.conversation, reply.stored_text, reason, message=reply.message,
                     stats=stats, usage=usage, error=error)
        reply.message.reasoning = reply.stored_reasoning
        if reply.tool_calls:
            calls = ", ".join(reply.tool_calls)
            reply.message.extra["note"] = (f"The model asked to call {calls}; llama-tui does "
                                           "not run tools.")
        elif reply.over_limit is not None:
            limit = ANSWER_LIMIT if reply.over_limit == "answer" else REASONING_LIMIT
            reply.message.extra["note"] = (f"The reply was stopped: its {reply.over_limit} "
                                           f"passed llama-tui's limit of {limit:,} characters.")
        elif reply.reasoning_only:
            reply.message.extra["note"] = ("The model used the whole reply thinking and gave "
                                           "no answer: raise max_tokens or lower the "
                                           "reasoning effort (F3).")
        self._emit(ReplyEnded(reply))

    async def _checkpoints(self, reply: Reply) -> None:
        """Write the partial text every `checkpoint_seconds` while it changed, stalls included."""
        written = (0, 0)
        while reply.streaming:
            await asyncio.sleep(self.checkpoint_seconds)
            count = (len(reply.parts), len(reply.reasoning_parts))
            if count != written and reply.streaming:
                written = count
                reply.message.content = reply.stored_text
                reply.message.reasoning = reply.stored_reasoning
                await self.save(reply.conversation)

    # -- saving -----------------------------------------------------------------------------

    async def save(self, conversation: Conversation) -> bool:
        """Write `conversation` as it is now (snapshot here, write in a thread). Saves of one
        conversation are written one at a time; a save that finds a newer one already on disk
        returns at once. False when it failed (then a `SaveFailed` was emitted and, for a
        failure that may pass, it is retried by itself)."""
        if self.store is None:
            return True
        writer = self._writer(conversation)
        writer.taken += 1
        mine = writer.taken
        try:
            return await self._save(writer, mine)
        finally:
            self._forget_if_idle(conversation)

    def _forget_if_idle(self, conversation: Conversation) -> None:
        """Drop the writer of a conversation with nothing to write and no reply in flight, so
        the engine does not keep every conversation of the session alive."""
        writer = self._writers.get(id(conversation))
        if (writer is not None and writer.written == writer.taken and not writer.failing
                and id(conversation) not in self._replies):
            del self._writers[id(conversation)]

    async def _save(self, writer: _Writer, mine: int) -> bool:
        async with writer.alock:
            if writer.written >= mine:
                return not writer.failing
            # The snapshot is taken now, when it is this save's turn, not when it was asked
            # for: a write that just landed may have renamed the conversation (a conflict copy).
            number, pending = writer.taken, snapshot(writer.conversation)
            writing = asyncio.ensure_future(asyncio.to_thread(self._write, writer, number, pending))
            try:
                result = await asyncio.shield(writing)
            except asyncio.CancelledError:  # the write runs to its end; its outcome still counts
                await asyncio.wait([writing])
                if not writing.cancelled() and writing.exception() is None:
                    self._saved(writer, writing.result())
                elif not writing.cancelled():
                    exc = writing.exception()
                    if isinstance(exc, (OSError, CodecError)):
                        self._failed(writer, exc)
                raise
            except (OSError, CodecError) as exc:
                self._failed(writer, exc)
                return False
            self._saved(writer, result)
            return True

    def _writer(self, conversation: Conversation) -> _Writer:
        writer = self._writers.get(id(conversation))
        if writer is None or writer.conversation is not conversation:
            writer = self._writers[id(conversation)] = _Writer(conversation)
        return writer

    def _write(self, writer: _Writer, number: int, pending: Conversation) -> Written:
        """In a thread (or a signal handler): write snapshot `number` unless a newer one is.
        Returns None when it did not write, else the (id, title) of a conflict copy or ()."""
        assert self.store is not None
        with writer.tlock:
            if writer.written >= number:
                return None
            result = self.store.save(pending)
            writer.written = number
            return result.renamed_to or ()

    def _saved(self, writer: _Writer, result: Written) -> None:
        conv = writer.conversation
        recovered = writer.failing
        writer.failing = False
        self._unsaved.pop(id(conv), None)
        self._retrying.pop(id(conv), None)
        conflict_with = None
        if result:
            conflict_with = conv.id
            conv.id, conv.title = result
        if result is None and not recovered and conflict_with is None:
            return  # a newer snapshot was written by another call, which reports it
        self._emit(Saved(conv, conflict_with, recovered))

    def _failed(self, writer: _Writer, exc: Exception) -> None:
        conv = writer.conversation
        transient = isinstance(exc, OSError)
        first = not writer.failing
        writer.failing = True
        log.warning("could not save %s: %s", conv.id, exc)
        self._unsaved[id(conv)] = conv
        if transient:
            self._retrying[id(conv)] = conv
        self._emit(SaveFailed(conv, exc, transient, first))
        if transient and (self._retry is None or self._retry.done()):
            self._retry = asyncio.get_running_loop().create_task(self._retry_later())

    async def _retry_later(self) -> None:
        """Save again what failed for a reason that may pass, until it succeeds."""
        while self._retrying:
            await asyncio.sleep(self.retry_seconds)
            for key, conv in list(self._retrying.items()):
                del self._retrying[key]  # a new failure puts it back
                await self.save(conv)

    @property
    def unsaved(self) -> list[Conversation]:
        """Conversations whose last save failed."""
        return list(self._unsaved.values())

    # -- the end ----------------------------------------------------------------------------

    async def shutdown(self, timeout: float = SHUTDOWN_SECONDS) -> None:
        """Quit: stop every reply (kept, marked interrupted), wait for the final saves, try
        the failed ones once more. Bounded by `timeout`; `save_all_now` is the fallback."""
        self.stop_all(INTERRUPTED)
        tasks = [r.task for r in self.replies if r.task is not None]

        async def last_saves() -> None:
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(task)
            for conv in list(self._unsaved.values()):
                await self.save(conv)

        try:
            await asyncio.wait_for(last_saves(), timeout)
        except TimeoutError:
            log.error("quitting before the last saves finished; writing them directly")
            self.save_all_now()
        # Failed saves go on being retried: a quit that was called off (there was unsaved
        # text) leaves the app running, and the retry is what saves it then.

    def save_all_now(self, reason: str = INTERRUPTED) -> int:
        """From a signal handler or at exit: mark every reply still streaming as `reason`
        and write every conversation with a reply in flight or an unsaved change, in this
        thread. Returns how many were written. Never raises."""
        if self.store is None:
            return 0
        written = 0
        for reply in self.replies:
            if reply.streaming:
                reply.message.content = reply.stored_text
                reply.message.reasoning = reply.stored_reasoning
                reply.message.finish_reason = reason
                reply.message.stats = reply.partial_stats()
        convs = {id(r.conversation): r.conversation for r in self.replies}
        convs.update(self._unsaved)
        for conv in convs.values():
            writer = self._writer(conv)
            writer.taken += 1
            try:
                self._write(writer, writer.taken, snapshot(conv))
                written += 1
            except (OSError, CodecError) as exc:
                log.error("could not save %s on the way out: %s", conv.id, exc)
        return written


def snapshot(conv: Conversation) -> Conversation:
    """A copy a thread can encode while the loop goes on changing `conv`: the containers are
    copied, the values (strings, datetimes, frozen or replaced-whole objects) shared."""
    copied = copy.copy(conv)
    copied.params = copy.copy(conv.params)
    copied.extra = dict(conv.extra)
    copied.extra_tables = {k: dict(v) for k, v in conv.extra_tables.items()}
    messages = []
    for message in conv.messages:
        m = copy.copy(message)
        m.extra = dict(message.extra)
        messages.append(m)
    copied.messages = messages
    return copied


def _filter_words(event: Finished) -> str | None:
    if event.finish_reason != "content_filter":
        return None
    result = event.content_filter
    lines = [f"The reply was stopped by the content filter: "
             f"{result.summary() if result else 'no category given'}"]
    if result:
        lines += result.lines()
    if event.stats.request_id:
        lines.append(f"request id: {event.stats.request_id}")
    return "\n".join(lines)
