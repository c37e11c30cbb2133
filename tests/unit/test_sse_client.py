"""The streaming client over `httpx.MockTransport`: parsing, errors, retries, redirects
(docs/design.md §3)."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llama_tui.client import (
    ApiError,
    Client,
    EmptyStream,
    Finished,
    GenerationRequest,
    ProtocolError,
    ReasoningDelta,
    ResponseStarted,
    StreamError,
    StreamTimeout,
    TextDelta,
    TruncatedStream,
)
from llama_tui.client.http import MAX_RETRY_WAIT
from llama_tui.model import Endpoint

URL = "https://llama.example/v1"
SSE = {"content-type": "text/event-stream; charset=utf-8"}
CHAT = GenerationRequest(messages=[{"role": "user", "content": "Hi"}])


def chunk(text: str | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"id": "", "object": "chat.completion.chunk", "choices": [
        {"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": finish}],
        **extra}


def sse(*items: Any, nl: str = "\n", prefix: str = "data: ") -> bytes:
    out = ""
    for item in items:
        data = item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)
        out += f"{prefix}{data}{nl}{nl}"
    return out.encode("utf-8")


Handler = Callable[[httpx.Request], httpx.Response]


async def run(
    handler: Handler, request: GenerationRequest = CHAT, endpoint: Endpoint | None = None,
    waits: list[float] | None = None,
) -> tuple[list[Any], ApiError | None]:
    """Every event the client yields, then the error it raised (or None)."""

    async def sleep(seconds: float) -> None:
        if waits is None:
            raise AssertionError("unexpected retry")
        waits.append(seconds)

    events: list[Any] = []
    endpoint = endpoint or Endpoint("t", URL, api_key="sk-test")
    async with Client(endpoint, transport=httpx.MockTransport(handler), sleep=sleep) as client:
        try:
            async for event in client.stream(request):
                events.append(event)
        except ApiError as exc:
            return events, exc
    return events, None


def texts(events: list[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def reply(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Handler:
    return lambda request: httpx.Response(status, headers=headers or SSE, content=body)


# -- parsing ----------------------------------------------------------------------------------

async def test_reasoning_and_text_in_one_delta_come_reasoning_first() -> None:
    both = {"choices": [{"index": 0, "delta": {"reasoning_content": "think", "content": "Hi"}}]}
    events, error = await run(reply(sse(both, chunk(None, "stop"), "[DONE]")))
    assert error is None
    assert events[1:3] == [ReasoningDelta("think"), TextDelta("Hi")]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(1, 40), min_size=1, max_size=8))
async def test_no_reasoning_ever_reaches_a_text_delta(sizes: list[int]) -> None:
    """Reasoning in every shape, inline tags cut anywhere: the answer text is exactly the answer."""
    inline = "\n<think>inline thought</think>\n\n"
    pieces, pos = [], 0
    for size in itertools.cycle(sizes):
        if pos >= len(inline):
            break
        pieces.append(inline[pos:pos + size])
        pos += size
    body = sse(*[chunk(p) for p in pieces],
               {"choices": [{"delta": {"reasoning": "vllm thought", "content": None}}]},
               {"choices": [{"delta": {"content": "", "reasoning": "ollama thought"}}]},
               chunk("The answer."), chunk(None, "stop"), "[DONE]")
    events, error = await run(reply(body))
    assert error is None
    assert texts(events) == "The answer."
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == \
        "inline thoughtvllm thoughtollama thought"

async def test_stream_events_and_stats() -> None:
    seen: list[httpx.Request] = []
    body = sse(chunk("Hello"), chunk(" world", "stop"),
               {"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 7}}, "[DONE]")

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, headers={**SSE, "x-request-id": "req-42"}, content=body)

    events, error = await run(handler)
    assert error is None
    started, *deltas, finished = events
    assert isinstance(started, ResponseStarted)
    assert (started.status, started.request_id) == (200, "req-42")
    assert started.url == "https://llama.example/v1/chat/completions"
    assert deltas == [TextDelta("Hello"), TextDelta(" world")]
    assert isinstance(finished, Finished) and finished.finish_reason == "stop"
    assert finished.usage is not None and finished.usage.completion_tokens == 7
    assert finished.stats.tokens == 7  # the server's count wins over our chunk count
    assert isinstance(finished.stats.ttft_ms, int) and finished.stats.ttft_ms >= 0
    assert finished.stats.request_id == "req-42"
    sent = json.loads(seen[0].content)
    assert sent["stream"] is True and sent["max_tokens"] > 0
    assert seen[0].headers["authorization"] == "Bearer sk-test"
    assert seen[0].headers["accept"] == "text/event-stream"


async def test_crlf_no_space_comments_and_dialect_noise() -> None:
    body = (b": ping\r\n\r\n"
            + sse({"choices": [], "prompt_filter_results": [{"prompt_index": 0}]},
                  chunk(None), chunk("a"), {"choices": [{"index": 0, "finish_reason": None}]},
                  chunk("b"), chunk(None, "length"), nl="\r\n", prefix="data:")
            + b": keep-alive\r\n\r\ndata:[DONE]\r\n\r\n")
    events, error = await run(reply(body))
    assert error is None
    assert texts(events) == "ab"
    assert events[-1].finish_reason == "length"
    assert events[-1].stats.tokens == 2  # no usage: one per text chunk


async def test_json_response_to_a_stream_request() -> None:
    body = json.dumps({"object": "chat.completion", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Whole reply."},
         "finish_reason": "stop"}], "usage": {"completion_tokens": 3}}).encode()
    events, error = await run(reply(body, headers={"content-type": "application/json"}))
    assert error is None
    assert [type(e) for e in events] == [ResponseStarted, TextDelta, Finished]
    assert texts(events) == "Whole reply."
    assert (events[-1].finish_reason, events[-1].stats.tokens) == ("stop", 3)


async def test_html_200_is_a_protocol_error() -> None:
    page = b"<html><head><title>Sign in - Corporate Proxy</title></head><body>...</body></html>"
    events, error = await run(reply(page, headers={"content-type": "text/html",
                                                   "x-request-id": "r9"}))
    assert isinstance(error, ProtocolError)
    assert "text/html" in error.message and "Sign in - Corporate Proxy" in error.message
    assert (error.status, error.request_id) == (200, "r9")
    assert [type(e) for e in events] == [ResponseStarted]


async def test_error_object_inside_a_200_stream() -> None:
    body = sse(chunk("par"), {"error": {"message": "CUDA out of memory", "type": "server_error",
                                        "code": 500}})
    events, error = await run(reply(body))
    assert isinstance(error, StreamError)
    assert error.message == "CUDA out of memory" and error.status == 200
    assert texts(events) == "par"


@pytest.mark.parametrize("data", [b'{"message": "model overloaded"}', b"model overloaded"])
async def test_event_error_inside_a_200_stream(data: bytes) -> None:
    body = sse(chunk("x")) + b"event: error\ndata: " + data + b"\n\n"
    events, error = await run(reply(body))
    assert isinstance(error, StreamError) and error.message == "model overloaded"
    assert texts(events) == "x"


async def test_eof_without_done_or_finish_is_truncated_after_the_partial_text() -> None:
    events, error = await run(reply(sse(chunk("Once upon"), chunk(" a time"))))
    assert isinstance(error, TruncatedStream)
    assert texts(events) == "Once upon a time"
    assert not any(isinstance(e, Finished) for e in events)


@pytest.mark.parametrize("body", [b"", b": ping\n\n: ping\n\n"])
async def test_empty_event_stream(body: bytes) -> None:
    events, error = await run(reply(body))
    assert isinstance(error, EmptyStream)
    assert [type(e) for e in events] == [ResponseStarted]


async def test_bare_done_after_text_is_truncated() -> None:
    # llama.cpp ends an interrupted stream with [DONE] and no finish_reason anywhere:
    # not a complete reply.
    events, error = await run(reply(sse(chunk("fine"), "[DONE]")))
    assert isinstance(error, TruncatedStream) and texts(events) == "fine"
    assert "finish reason" in error.message


async def test_bare_done_without_text_is_empty() -> None:
    events, error = await run(reply(sse({"choices": []}, chunk(None), "[DONE]")))
    assert isinstance(error, EmptyStream) and texts(events) == ""


async def test_finish_without_done_is_complete() -> None:
    events, error = await run(reply(sse(chunk("ok", "stop"))))
    assert error is None and events[-1].finish_reason == "stop"


async def test_content_filter_finish_after_some_text() -> None:
    results = {"violence": {"filtered": True, "severity": "high"}}
    body = sse(chunk("I will"), {"choices": [{"index": 0, "delta": {}, "finish_reason":
                                              "content_filter",
                                              "content_filter_results": results}]}, "[DONE]")
    events, error = await run(reply(body))
    assert error is None and texts(events) == "I will"
    finished = events[-1]
    assert finished.finish_reason == "content_filter"
    assert finished.content_filter.summary() == "violence: severity high, filtered"


async def _stall(first: bytes, exc: Exception) -> AsyncIterator[bytes]:
    yield first
    raise exc


@pytest.mark.parametrize(
    ("exc", "kind"),
    [(httpx.ReadTimeout("slow"), StreamTimeout), (httpx.ReadError("reset"), TruncatedStream)],
)
async def test_broken_stream_keeps_the_partial_text(exc: Exception, kind: type) -> None:
    events, error = await run(
        lambda r: httpx.Response(200, headers=SSE, content=_stall(sse(chunk("half")), exc)))
    assert isinstance(error, kind) and texts(events) == "half"


async def test_closing_the_iterator_closes_the_response() -> None:
    closed: list[bool] = []

    class Body(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield sse(chunk("one"))
            await asyncio.sleep(3600)
            yield b""  # pragma: no cover

        async def aclose(self) -> None:
            closed.append(True)

    handler = lambda r: httpx.Response(200, headers=SSE, stream=Body())  # noqa: E731
    async with Client(Endpoint("t", URL), transport=httpx.MockTransport(handler)) as client:
        stream = client.stream(CHAT)
        assert isinstance(await anext(stream), ResponseStarted)
        assert await anext(stream) == TextDelta("one")
        await stream.aclose()  # what cancelling (Escape) does
    assert closed == [True]


# -- retries ----------------------------------------------------------------------------------

def sequence(*responses: httpx.Response, log: list[httpx.Request]) -> Handler:
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        log.append(request)
        return queue.pop(0)

    return handler


OK = sse(chunk("ok", "stop"), "[DONE]")


async def test_429_then_200_honours_retry_after() -> None:
    log: list[httpx.Request] = []
    waits: list[float] = []
    handler = sequence(
        httpx.Response(429, headers={"retry-after": "2"}, json={"error": {"message": "slow down"}}),
        httpx.Response(200, headers=SSE, content=OK), log=log)
    events, error = await run(handler, waits=waits)
    assert error is None and texts(events) == "ok"
    assert waits == [2.0] and len(log) == 2
    assert log[0].content == log[1].content


async def test_retry_after_ms_wins() -> None:
    log: list[httpx.Request] = []
    waits: list[float] = []
    handler = sequence(
        httpx.Response(503, headers={"retry-after-ms": "1500", "retry-after": "9"}),
        httpx.Response(200, headers=SSE, content=OK), log=log)
    _, error = await run(handler, waits=waits)
    assert error is None and waits == [1.5]


async def test_429_with_a_long_retry_after_is_not_retried() -> None:
    log: list[httpx.Request] = []
    waits: list[float] = []
    long = str(int(MAX_RETRY_WAIT) + 40)
    handler = sequence(httpx.Response(429, headers={"retry-after": long, "x-request-id": "q"},
                                      json={"error": {"message": "quota", "code": "429"}}),
                       log=log)
    events, error = await run(handler, waits=waits)
    assert error is not None and error.status == 429 and error.message == "quota"
    assert error.retry_after == float(long) and error.request_id == "q"
    assert waits == [] and len(log) == 1 and events == []


async def test_400_is_never_retried() -> None:
    log: list[httpx.Request] = []
    handler = sequence(httpx.Response(400, headers={"retry-after": "1"},
                                      json={"error": {"message": "bad max_tokens"}}), log=log)
    _, error = await run(handler, waits=[])
    assert error is not None and (error.status, error.message) == (400, "bad max_tokens")
    assert len(log) == 1


async def test_retries_exhausted_raise_the_last_error() -> None:
    log: list[httpx.Request] = []
    waits: list[float] = []
    handler = sequence(*[httpx.Response(503, headers={"retry-after": "0.01"},
                                        json={"error": {"message": f"busy {i}"}})
                         for i in range(3)], log=log)
    _, error = await run(handler, endpoint=Endpoint("t", URL, max_retries=2), waits=waits)
    assert error is not None and error.message == "busy 2" and error.status == 503
    assert len(log) == 3 and waits == [0.01, 0.01]


async def test_connect_error_is_retried_with_backoff() -> None:
    calls: list[int] = []
    waits: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            raise httpx.ConnectError("refused")
        return httpx.Response(200, headers=SSE, content=OK)

    _, error = await run(handler, waits=waits)
    assert error is None and len(calls) == 2
    assert len(waits) == 1 and 0.3 <= waits[0] <= 0.7


# -- redirects --------------------------------------------------------------------------------

def redirecting(target: str, log: list[httpx.Request], status: int = 307) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        log.append(request)
        if len(log) == 1:
            return httpx.Response(status, headers={"location": target})
        return httpx.Response(200, headers=SSE, content=OK)

    return handler


@pytest.mark.parametrize("auth", ["bearer", "raw", "api-key"])
async def test_cross_origin_redirect_drops_every_secret(auth: str) -> None:
    log: list[httpx.Request] = []
    endpoint = Endpoint("t", URL, auth=auth, api_key="sk-secret",  # type: ignore[arg-type]
                        headers={"X-Gateway-Token": "gw-secret"})
    events, error = await run(redirecting("https://evil.example/v1/chat/completions", log),
                              endpoint=endpoint)
    assert error is None and texts(events) == "ok"
    first, second = log
    assert "sk-secret" in str(first.headers.raw) and first.headers["x-gateway-token"] == "gw-secret"
    assert second.url.host == "evil.example"
    for name in ("authorization", "api-key", "x-gateway-token"):
        assert name not in second.headers
    assert "secret" not in str(second.headers.raw)
    assert second.content == first.content  # a 307 keeps the body


async def test_same_origin_redirect_keeps_the_headers() -> None:
    log: list[httpx.Request] = []
    endpoint = Endpoint("t", URL, api_key="sk-secret", headers={"X-Gateway-Token": "gw"})
    _, error = await run(redirecting("/v2/chat/completions", log, status=308), endpoint=endpoint)
    assert error is None
    second = log[1]
    assert str(second.url) == "https://llama.example/v2/chat/completions"
    assert second.headers["authorization"] == "Bearer sk-secret"
    assert second.headers["x-gateway-token"] == "gw"


# -- any split of the bytes gives the same reply -------------------------------------------------

async def _pieces(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    words=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=8),
    finish=st.sampled_from(["stop", "length", "content_filter"]),
    nl=st.sampled_from(["\n", "\r\n"]),
    prefix=st.sampled_from(["data: ", "data:"]),
    data=st.data(),
)
def test_any_split_of_the_body_gives_the_same_reply(
    words: list[str], finish: str, nl: str, prefix: str, data: st.DataObject
) -> None:
    words = [*words, "😀é中\u2028x"]
    body = sse({"choices": []}, *[chunk(w) for w in words], chunk(None, finish),
               "[DONE]", nl=nl, prefix=prefix)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=12), label="cuts"))
    bounds = [0, *cuts, len(body)]
    parts = [body[a:b] for a, b in itertools.pairwise(bounds) if b > a]

    handler = lambda r: httpx.Response(200, headers=SSE, content=_pieces(parts))  # noqa: E731
    events, error = asyncio.run(run(handler))
    assert error is None
    assert texts(events) == "".join(words)
    assert events[-1].finish_reason == finish
