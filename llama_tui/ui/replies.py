"""Streaming one reply into a conversation: the worker body of DESIGN §2.

A `ReplyJob` is bound to the conversation object captured when the prompt was sent, never to
"the conversation on screen now". Its view is attached only while that conversation is shown,
so switching conversations mid-stream never sends text to the wrong one. The partial reply is
checkpointed to disk about once a second; the final one is saved with stats.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from llama_tui.client import ApiError, Finished, ResponseStarted, TextDelta
from llama_tui.client.dialects import GenerationRequest
from llama_tui.client.sse import Client
from llama_tui.inspect import RequestRecord
from llama_tui.model import Conversation, Message, Stats, Usage
from llama_tui.sanitize import sanitize
from llama_tui.session import finish_reply
from llama_tui.ui import caches
from llama_tui.ui.widgets.message_view import ReplySink

CHECKPOINT_SECONDS = 1.0


@dataclass
class ReplyJob:
    conversation: Conversation
    message: Message
    prompt: str
    view: ReplySink | None = None
    record: RequestRecord | None = None
    parts: list[str] = field(default_factory=list)
    started_at: float = field(default_factory=time.monotonic)
    first_token_at: float | None = None
    response: ResponseStarted | None = None
    outcome: str = "streaming"
    error: ApiError | None = None

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def live_rate(self) -> float | None:
        if self.first_token_at is None or len(self.parts) < 2:
            return None
        elapsed = time.monotonic() - self.first_token_at
        return (len(self.parts) - 1) / elapsed if elapsed > 0.2 else None


SaveFn = Callable[[Conversation], Coroutine[Any, Any, None]]


async def run_reply(
    job: ReplyJob, client: Client, request: GenerationRequest, save: SaveFn
) -> ReplyJob:
    """Stream `request` into `job`. Never raises ApiError: the outcome is recorded in the job.

    Cancellation (escape) keeps the partial reply, marked `cancelled`, and re-raises.
    """
    last_checkpoint = time.monotonic()
    checkpoint: asyncio.Task[None] | None = None
    try:
        async for event in client.stream(request):
            if isinstance(event, TextDelta):
                text = sanitize(event.text)
                if job.first_token_at is None:
                    job.first_token_at = time.monotonic()
                job.parts.append(text)
                if job.view is not None:
                    await job.view.write(text)
                now = time.monotonic()
                if now - last_checkpoint >= CHECKPOINT_SECONDS and (
                    checkpoint is None or checkpoint.done()
                ):
                    last_checkpoint = now
                    job.message.content = job.text
                    checkpoint = asyncio.create_task(save(job.conversation))
            elif isinstance(event, ResponseStarted):
                job.response = event
            elif isinstance(event, Finished):
                await _finish(job, event.finish_reason, save, event.stats, event.usage,
                              _filter_words(event))
    except asyncio.CancelledError:
        if job.outcome == "streaming":  # not when cancelled while saving a finished reply
            await _finish(job, "cancelled", save, _partial_stats(job), None, None)
        raise
    except ApiError as exc:
        job.error = exc
        reason = "content_filter" if exc.kind == "content_filter" else "error"
        await _finish(job, reason, save, _partial_stats(job, exc.request_id), None,
                      "\n".join(exc.details()))
    finally:
        if checkpoint is not None and not checkpoint.done():
            await asyncio.shield(checkpoint)
    return job


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


def _partial_stats(job: ReplyJob, request_id: str | None = None) -> Stats:
    ttft = None
    if job.first_token_at is not None:
        ttft = round((job.first_token_at - job.started_at) * 1000)
    rid = request_id or (job.response.request_id if job.response else None)
    return Stats(ttft_ms=ttft, tokens=len(job.parts) or None, request_id=rid)


async def _finish(
    job: ReplyJob,
    reason: str,
    save: SaveFn,
    stats: Stats | None,
    usage: Usage | None,
    error: str | None,
) -> None:
    job.outcome = reason
    finish_reply(job.conversation, job.text, reason, message=job.message, stats=stats,
                 usage=usage, error=error)
    if job.view is not None:
        await job.view.finish(reason, stats, error)
    try:
        await save(job.conversation)
    finally:
        if job.view is not None:
            job.view.saved()
        caches.trim()  # Textual's memo caches, filled by the reply's frames (see `caches`)
