"""Hypothesis over the SSE reader: any bytes, cut anywhere, give events or an `ApiError`,
never another exception; SSE noise between the events changes nothing; text that arrived
before garbage is delivered before the error (so the partial reply can be kept).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llama_tui.client import (
    ApiError,
    Client,
    Finished,
    GenerationRequest,
    ReasoningDelta,
    ResponseStarted,
    TextDelta,
)
from llama_tui.model import Endpoint

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CHAT = GenerationRequest(messages=[{"role": "user", "content": "Hi"}])
SSE_TYPES = ["text/event-stream", "text/event-stream; charset=utf-8", "application/json",
             "text/html", ""]


async def _pieces(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def _split(body: bytes, data: st.DataObject) -> list[bytes]:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=16), label="cuts"))
    return [body[a:b] for a, b in itertools.pairwise([0, *cuts, len(body)]) if b > a]


def _run(parts: list[bytes], content_type: str = "text/event-stream") -> tuple[list[Any], Any]:
    """Every event, then what the stream raised (None, or the exception itself)."""

    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"content-type": content_type} if content_type else {}
        return httpx.Response(200, headers=headers, content=_pieces(parts))

    async def main() -> tuple[list[Any], Any]:
        events: list[Any] = []
        endpoint = Endpoint("t", "https://llama.example/v1", api_key="sk-fuzz", max_retries=0)
        async with Client(endpoint, transport=httpx.MockTransport(handler)) as client:
            try:
                async for event in client.stream(CHAT):
                    events.append(event)
            except Exception as exc:  # judged by the caller: only ApiError is allowed
                return events, exc
        return events, None

    return asyncio.run(main())


def _texts(events: list[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def _well_formed(events: list[Any], error: Any) -> None:
    assert error is None or isinstance(error, ApiError), repr(error)
    assert events and isinstance(events[0], ResponseStarted)
    kinds = [type(e) for e in events[1:]]
    assert all(k is TextDelta for k in kinds[:-1])
    if error is None:
        assert kinds and kinds[-1] is Finished  # a stream that did not fail finished
    assert Finished not in kinds[:-1]
    if error is not None:
        assert str(error) and "\x1b" not in str(error)


LINES = st.sampled_from([
    b"data: [DONE]\n\n", b"data: {}\n\n", b"data: {\"choices\": []}\n\n", b": ping\n\n",
    b"event: error\ndata: {\"error\": {\"message\": \"x\"}}\n\n", b"data: \n\n", b"\r\n", b"\r",
    b"data: {\"choices\": [{\"delta\": {\"content\": \"a\"}, \"finish_reason\": \"stop\"}]}\n\n",
    b"data: {\"choices\": [{\"text\": \"b\"}]}\n\n", b"data: {\"error\": \"boom\"}\n\n",
    b"retry: 10\n", b"id: 7\n", b"data: null\n\n", b"data: [1, 2]\n\n", b"data: \"s\"\n\n",
    b"\xef\xbb\xbf", b"\xff\xfe", b"\x1b]52;c;SGk=\x07", b"data: {\"choices\": [{\"delta\": null}]}\n\n",
    b"data: {\"choices\": [{\"delta\": {\"content\": 5}}]}\n\n", b"data: {\"choices\": {}}\n\n",
    b"data: {\"usage\": {\"completion_tokens\": \"many\"}}\n\n",
])


@FUZZ
@given(body=st.lists(LINES | st.binary(max_size=40), max_size=12).map(b"".join),
       content_type=st.sampled_from(SSE_TYPES), data=st.data())
def test_any_bytes_cut_anywhere_give_events_or_an_api_error(
    body: bytes, content_type: str, data: st.DataObject
) -> None:
    events, error = _run(_split(body, data), content_type)
    _well_formed(events, error)


def _chunk(text: str, finish: str | None = None) -> bytes:
    obj = {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]}
    return b"data: " + json.dumps(obj, ensure_ascii=False).encode() + b"\n\n"


NOISE = st.sampled_from([b": keep-alive\n\n", b"event: ping\n\n", b"id: 42\n", b"retry: 3000\n",
                         b"data: {\"choices\": []}\n\n", b"\n", b"x-unknown-field: 1\n\n"])


@FUZZ
@given(words=st.lists(st.text(min_size=1, max_size=10), min_size=1, max_size=8),
       noise=st.lists(st.lists(NOISE, max_size=2), min_size=9, max_size=9), data=st.data())
def test_noise_between_events_changes_nothing(
    words: list[str], noise: list[list[bytes]], data: st.DataObject
) -> None:
    parts = [_chunk(w) for w in words] + [_chunk("", "stop"), b"data: [DONE]\n\n"]
    body = b"".join(b"".join(n) + p for n, p in zip(noise, parts, strict=False))
    events, error = _run(_split(body, data))
    assert error is None, error
    assert _texts(events) == "".join(words)
    assert events[-1].finish_reason == "stop"


@FUZZ
@given(words=st.lists(st.text(min_size=1, max_size=10), min_size=1, max_size=6),
       junk=st.binary(min_size=1, max_size=30).filter(lambda b: b"\n" not in b), data=st.data())
def test_text_before_garbage_is_delivered_before_the_error(
    words: list[str], junk: bytes, data: st.DataObject
) -> None:
    body = b"".join(_chunk(w) for w in words) + b"data: {" + junk + b"\n\n"
    events, error = _run(_split(body, data))
    _well_formed(events, error)
    assert isinstance(error, ApiError)
    assert _texts(events) == "".join(words)


def test_text_held_back_is_delivered_before_a_mid_stream_error() -> None:
    """Leading whitespace (it may precede `<think>`) and a tag's start are held back while
    undecided; an error that comes next does not swallow them (hypothesis found "\\r")."""
    cases = {"\r": ("\r", ""), "  ": ("  ", ""), "<thi": ("<thi", ""),
             "<think>plan</thi": ("", "plan</thi")}
    for word, (text, thinking) in cases.items():
        events, error = _run([_chunk(word) + b"data: {\x00\n\n"])
        assert isinstance(error, ApiError)
        assert _texts(events) == text, word
        assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == thinking
