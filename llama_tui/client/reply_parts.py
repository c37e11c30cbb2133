"""One reply assembled from its chunks: answer text, reasoning, tool calls, finish, usage.

`ReplyState` reads each parsed chunk (the usual one through `plain_delta`, the fast path) and
keeps the running totals; the parts that span chunks are pure state machines fed chunk by
chunk (no I/O), so any cut of the wire is unit-testable.

`ThinkSplitter`: a server without a reasoning parser sends a reasoning model's thinking inside
the content, as `<think>...</think>` at its very start (after whitespace). The tags may be cut
anywhere across chunks (`<thi` + `nk>`), so the splitter holds back only what could still be a
tag; the whitespace right after `</think>` is dropped. Content that does not start with
`<think>` is passed through untouched from then on: a `<think>` later in an answer is text.

`ToolCallAssembler`: `delta.tool_calls` fragments are joined per call, found by `index`, else
by `id`, else by position (some servers omit `index`, or start it at 1).
"""

from __future__ import annotations

import json
import time
from typing import Any

from llama_tui.client.dialects import parse_chunk, plain_delta
from llama_tui.client.events import ContentFilterResult, Finished, ResponseStarted, ToolCall
from llama_tui.model import Stats, Usage

OPEN, CLOSE = "<think>", "</think>"


class ThinkSplitter:
    """Feed content text, get `(reasoning, answer)` pieces. `decided` turns True once the
    content is known not to start with `<think>` or the block is closed: from then on every
    piece is answer, and the caller may stop feeding it (the fast path)."""

    def __init__(self) -> None:
        self.decided = False
        self._inside = False
        self._after = False  # just past </think>: whitespace is dropped
        self._held = ""  # undecided start, or the tail that may begin a </think>
        self.saw_think = False

    def feed(self, text: str) -> tuple[str, str]:
        if self.decided:
            return "", text
        if self._after:
            return "", self._answer(text)
        if self._inside:
            return self._think(text)
        held = self._held + text
        start = held.lstrip()
        if not start or (len(start) < len(OPEN) and OPEN.startswith(start)):
            self._held = held  # whitespace, or a beginning of "<think>": wait
            return "", ""
        self._held = ""
        if not start.startswith(OPEN):
            self.decided = True
            return "", held
        self._inside = self.saw_think = True
        return self._think(start[len(OPEN):])

    def _think(self, text: str) -> tuple[str, str]:
        held = self._held + text
        end = held.find(CLOSE)
        if end >= 0:
            self._held, self._inside, self._after = "", False, True
            return held[:end], self._answer(held[end + len(CLOSE):])
        keep = _tag_prefix_at_end(held)
        self._held = held[len(held) - keep:] if keep else ""
        return held[: len(held) - keep], ""

    def _answer(self, text: str) -> str:
        text = text.lstrip()
        if text:
            self._after, self.decided = False, True
        return text

    def close(self) -> tuple[str, str]:
        """At the end of the reply: what is still held (a cut-off tag is just text)."""
        held, self._held = self._held, ""
        if self._inside:
            return held, ""
        return "", "" if self._after else held

    @property
    def inside(self) -> bool:
        """Within `<think>` (a reply that ends here only reasoned)."""
        return self._inside


def _tag_prefix_at_end(text: str) -> int:
    """How many characters at the end of `text` could begin `</think>`."""
    for n in range(min(len(CLOSE) - 1, len(text)), 0, -1):
        if text.endswith(CLOSE[:n]):
            return n
    return 0


class ToolCallAssembler:
    """Joins `tool_calls` fragments into whole calls."""

    def __init__(self) -> None:
        self._calls: list[dict[str, str]] = []
        self._by_index: dict[int, int] = {}
        self._by_id: dict[str, int] = {}

    def add(self, fragments: list[Any]) -> None:
        """One chunk's `delta.tool_calls` (or a whole `message.tool_calls`)."""
        for position, fragment in enumerate(fragments):
            if isinstance(fragment, dict):
                self._merge(self._slot(fragment, position, len(fragments)), fragment)

    def _slot(self, fragment: dict[str, Any], position: int, count: int) -> int:
        index, call_id = fragment.get("index"), fragment.get("id")
        call_id = call_id if isinstance(call_id, str) and call_id else None
        if isinstance(index, int) and not isinstance(index, bool):
            slot = self._by_index.get(index)
            # One index for calls with different ids: a server that numbers every call 0.
            if slot is not None and not (call_id and self._calls[slot]["id"]
                                         and self._calls[slot]["id"] != call_id):
                return slot
            slot = self._new(call_id)
            self._by_index[index] = slot
            return slot
        if call_id:
            found = self._by_id.get(call_id)
            return self._new(call_id) if found is None else found
        if count == 1 and self._calls:
            # A continuation of the call in progress, unless it names another function.
            name = _name_of(fragment)
            last = self._calls[-1]["name"]
            return self._new(None) if name and last and name != last else len(self._calls) - 1
        return position if position < len(self._calls) else self._new(None)

    def _new(self, call_id: str | None) -> int:
        self._calls.append({"id": call_id or "", "name": "", "arguments": ""})
        if call_id:
            self._by_id[call_id] = len(self._calls) - 1
        return len(self._calls) - 1

    def _merge(self, slot: int, fragment: dict[str, Any]) -> None:
        call = self._calls[slot]
        call_id = fragment.get("id")
        if isinstance(call_id, str) and call_id and not call["id"]:
            call["id"] = call_id
            self._by_id[call_id] = slot
        function = fragment.get("function")
        if not isinstance(function, dict):
            return
        name = _name_of(fragment)
        if name and not call["name"]:  # sent once; a repeat is the same name
            call["name"] = name
        args = function.get("arguments")
        if isinstance(args, str):
            call["arguments"] += args
        elif isinstance(args, dict):  # a server that sends the object, whole
            call["arguments"] = json.dumps(args, ensure_ascii=False)

    def calls(self) -> tuple[ToolCall, ...]:
        """The calls so far, in the order they started."""
        return tuple(ToolCall(c["name"], c["arguments"], c["id"] or None) for c in self._calls)


def _name_of(fragment: dict[str, Any]) -> str:
    function = fragment.get("function")
    name = function.get("name") if isinstance(function, dict) else None
    return name if isinstance(name, str) else ""


class ReplyState:
    """Running totals of one reply: finish, usage, timings, and the parts split so far.

    `add(chunk)` returns the answer text the chunk adds; reasoning it adds waits in
    `reasoning` until the reader takes it (`take_reasoning()`), before that text.
    """

    def __init__(self, sent_at: float, secrets: list[str]) -> None:
        self.sent_at = sent_at
        self.secrets = secrets  # hidden in error text before it is cut
        self.first_at: float | None = None
        #: Chunks that added anything (text, reasoning, a tool-call fragment).
        self.tokens = 0
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.content_filter: ContentFilterResult | None = None
        self.reasoning = ""
        self.saw_reasoning = False
        self._textless = 0  # chunks that added reasoning or tool calls but no text
        self._think: ThinkSplitter | None = ThinkSplitter()
        self._tools: ToolCallAssembler | None = None

    def add(self, obj: Any) -> str:
        text = plain_delta(obj)  # the usual chunk, read quickly
        calls = False
        if text is None:
            info = parse_chunk(obj)
            if info.usage:
                self.usage = info.usage
            if info.finish_reason:
                self.finish_reason = info.finish_reason
                self.content_filter = info.content_filter or self.content_filter
            if info.reasoning:
                self.reasoning += info.reasoning
            if info.tool_calls:
                calls = True
                self._tools = self._tools or ToolCallAssembler()
                self._tools.add(info.tool_calls)
            text = info.text
        if text:
            if self._think is not None:
                text = self._split(text)
            if text:  # inline: this runs for every token
                if self.first_at is None:
                    self.first_at = time.perf_counter()
                self.tokens += 1
                return text
        if self.reasoning or calls:
            self._count()
        return text

    def _split(self, text: str) -> str:
        assert self._think is not None
        reasoning, text = self._think.feed(text)
        self.reasoning += reasoning
        if self._think.decided:
            self._think = None  # the answer from here on: no more splitting
        return text

    def _count(self) -> None:
        if self.first_at is None:
            self.first_at = time.perf_counter()
        self.tokens += 1
        self._textless += 1

    @property
    def saw_text(self) -> bool:
        return self.tokens > self._textless

    def take_reasoning(self) -> str:
        """The reasoning the last chunks added (for one `ReasoningDelta`)."""
        self.saw_reasoning = self.saw_reasoning or bool(self.reasoning)
        reasoning, self.reasoning = self.reasoning, ""
        return reasoning

    def close(self) -> str:
        """The end of the reply: the answer text still held back (a lone `<thi`, say); held
        reasoning goes to `reasoning`."""
        if self._think is None:
            return ""
        reasoning, text = self._think.close()
        self.reasoning += reasoning
        if text:
            self.tokens += 1
        return text

    def finished(self, started: ResponseStarted) -> Finished:
        end = time.perf_counter()
        tokens = (self.usage.completion_tokens if self.usage else None) or self.tokens
        rate = None
        if self.first_at is not None and tokens > 1 and end - self.first_at > 0.001:
            rate = round((tokens - 1) / (end - self.first_at), 1)
        stats = Stats(
            ttft_ms=round((self.first_at - self.sent_at) * 1000) if self.first_at else None,
            tokens=tokens,
            tokens_per_s=rate,
            request_id=started.request_id,
            duration_ms=round((end - self.sent_at) * 1000),
        )
        return Finished(self.finish_reason or "stop", self.usage, stats, self.content_filter,
                        tool_calls=self._tools.calls() if self._tools else (),
                        reasoning_only=self.saw_reasoning and not self.saw_text)
