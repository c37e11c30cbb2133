"""One reply in flight and the events the reply engine sends about it (docs/design.md §2).

`Reply` is what the engine fills as a stream arrives (the answer's and the thinking's pieces,
timings, how it ended); the events tell subscribers that it grew, ended, or was saved. No
Textual here: the app and `ask` both read them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llama_tui.client.events import (
    ApiError,
    ContentFilterResult,
    ResponseStarted,
    hide_secrets,
)
from llama_tui.model import Conversation, Message, Stats
from llama_tui.sanitize import sanitize

#: How a reply ends when the user stops it, and when the app or process goes away.
CANCELLED, INTERRUPTED = "cancelled", "interrupted"


@dataclass(eq=False)
class Reply:
    """One reply in flight, bound to the conversation it was started for."""

    conversation: Conversation
    message: Message
    #: The prompt as the user typed it (the UI restores it when nothing came back).
    prompt: str = ""
    #: What the request inspector shows (opaque to the engine).
    record: Any = None
    #: False: `parts` keep the server's bytes (`ask --raw`); what is saved is sanitised anyway.
    clean: bool = True
    #: The endpoint's key and secret header values: a server that echoes one into the reply
    #: does not get it stored (`stored_text`).
    secrets: tuple[str, ...] = ()
    parts: list[str] = field(default_factory=list)
    #: A reasoning model's thinking, apart from the answer (sanitised like it).
    reasoning_parts: list[str] = field(default_factory=list)
    started_at: float = field(default_factory=time.monotonic)
    first_token_at: float | None = None
    #: When the thinking began and when it ended (the first answer text, or the end).
    thinking_from: float | None = None
    thinking_until: float | None = None
    response: ResponseStarted | None = None
    #: "streaming" until it ends, then the finish_reason it was saved with.
    outcome: str = "streaming"
    error: ApiError | None = None
    #: Set when the stream ended with finish_reason "content_filter".
    content_filter: ContentFilterResult | None = None
    #: What the model asked to call ("get_weather({...})"): llama-tui does not run tools.
    tool_calls: tuple[str, ...] = ()
    #: The model only thought: no answer (max_tokens spent thinking, or cut inside <think>).
    reasoning_only: bool = False
    #: Characters of answer and of thinking received (for the size limits).
    chars: int = 0
    thought_chars: int = 0
    #: "answer" or "thinking" when the reply was stopped at that one's size limit.
    over_limit: str | None = None
    #: A bug (not an API error) that ended the reply; its text was kept anyway.
    crash: BaseException | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    _stop_reason: str | None = field(default=None, repr=False)

    @property
    def text(self) -> str:
        return "".join(self.parts)

    @property
    def answered(self) -> bool:
        """Did any answer text come (whitespace alone is none: a failed reply that only
        sent the newlines a model starts with gives its prompt back, as one with nothing)?"""
        return any(part.strip() for part in self.parts)

    @property
    def stored_text(self) -> str:
        """The text as it is stored and shown once the reply ends: sanitised, secrets hidden."""
        return self._stored(self.text)

    @property
    def reasoning(self) -> str:
        return "".join(self.reasoning_parts)

    @property
    def stored_reasoning(self) -> str | None:
        """The thinking as it is stored (None when the model did not think)."""
        return self._stored(self.reasoning) if self.reasoning_parts else None

    def _stored(self, text: str) -> str:
        text = text if self.clean else sanitize(text)
        return hide_secrets(text, self.secrets) if self.secrets else text

    def thinking_seconds(self, now: float | None = None) -> float | None:
        """How long the model has thought (or thought), None when it has not."""
        if self.thinking_from is None:
            return None
        end = self.thinking_until or now or time.monotonic()
        return max(0.0, end - self.thinking_from)

    @property
    def streaming(self) -> bool:
        return self.outcome == "streaming"

    def live_rate(self) -> float | None:
        """Tokens per second so far (None until there is enough to say)."""
        if self.first_token_at is None or len(self.parts) < 2:
            return None
        elapsed = time.monotonic() - self.first_token_at
        return (len(self.parts) - 1) / elapsed if elapsed > 0.2 else None

    def partial_stats(self, request_id: str | None = None) -> Stats:
        ttft = None
        if self.first_token_at is not None:
            ttft = round((self.first_token_at - self.started_at) * 1000)
        rid = request_id or (self.response.request_id if self.response else None)
        return Stats(ttft_ms=ttft, tokens=len(self.parts) or None, request_id=rid)


# -- events ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class TextGrew:
    """More text arrived for `reply` (read `reply.parts` from where you were)."""

    reply: Reply


@dataclass(frozen=True)
class ReasoningGrew:
    """More thinking arrived for `reply` (read `reply.reasoning_parts` from where you were)."""

    reply: Reply


@dataclass(frozen=True)
class ReplyEnded:
    """`reply` has its outcome and final text; its final save follows (`Saved`/`SaveFailed`)."""

    reply: Reply


@dataclass(frozen=True)
class Saved:
    conversation: Conversation
    #: The id the file had before, when it changed on disk and a conflict copy was written.
    conflict_with: str | None = None
    #: True when an earlier save of this conversation had failed.
    recovered: bool = False


@dataclass(frozen=True)
class SaveFailed:
    conversation: Conversation
    error: Exception
    #: An OSError may pass (disk full, read-only): the engine retries by itself.
    transient: bool
    #: The first failure since the last successful save (say it once).
    first: bool


#: What one write did: None (a newer snapshot was on disk), () or a conflict copy's id, title.
Written = tuple[str, str] | tuple[()] | None

EngineEvent = TextGrew | ReasoningGrew | ReplyEnded | Saved | SaveFailed
Listener = Callable[[EngineEvent], None]
