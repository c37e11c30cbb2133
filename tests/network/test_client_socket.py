"""The streaming client against the scripted fake server over a real socket (docs/design.md §3).

Unlike tests/unit/test_sse_client.py (httpx.MockTransport), every byte here crosses a TCP
connection: chunk boundaries, chunked framing, connection drops, stalls and redirects are real.
One test per quirk of the wire.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from llama_tui.client import (
    ApiError,
    Client,
    ConnectionFailed,
    ContentFilterError,
    EmptyStream,
    Finished,
    GenerationRequest,
    ResponseStarted,
    StreamError,
    StreamTimeout,
    TextDelta,
    TruncatedStream,
)
from llama_tui.model import Endpoint, GenerationParams
from tests.fakeserver import (
    FakeServer,
    Response,
    Send,
    azure_content_filter_400,
    chat_json,
    chat_stream,
    completion_stream,
    disconnect_after,
    error_response,
    sse_events,
    stall_after,
)

KEY = "sk-test-secret"
CHAT = GenerationRequest(messages=[{"role": "user", "content": "Hi"}])
PIECES = ["Café ", "— ", "🙂", " appétit", " 日本語", "!"]
TEXT = "".join(PIECES)


def endpoint(server: FakeServer, **kw: Any) -> Endpoint:
    return Endpoint("fake", server.base_url + "/v1", api_key=KEY, **kw)


async def collect(
    ep: Endpoint, request: GenerationRequest = CHAT, sleeps: list[float] | None = None
) -> tuple[list[Any], ApiError | None]:
    """Every event the client yields, then the error it raised (or None)."""
    events: list[Any] = []
    kwargs: dict[str, Any] = {}
    if sleeps is not None:

        async def sleep(seconds: float) -> None:
            sleeps.append(seconds)

        kwargs["sleep"] = sleep
    async with Client(ep, **kwargs) as client:
        try:
            async for event in client.stream(request):
                events.append(event)
        except ApiError as exc:
            return events, exc
    return events, None


def text_of(events: list[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def finished(events: list[Any]) -> Finished:
    assert events, "no events"
    last = events[-1]
    assert isinstance(last, Finished), events
    assert sum(isinstance(e, Finished) for e in events) == 1
    assert isinstance(events[0], ResponseStarted)
    return last


def chunk(
    content: str | None = None, finish: str | None = None, *, role: bool = False, **extra: Any
) -> str:
    """One ``data:`` line of a chat chunk (for hand-built streams)."""
    delta: dict[str, Any] = {"role": "assistant"} if role else {}
    if content is not None:
        delta["content"] = content
    obj = {"id": "", "object": "chat.completion.chunk", "created": 0, "model": "m",
           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
    return "data: " + json.dumps(obj, ensure_ascii=False)


async def assert_streams_text(server: FakeServer, response: Response, text: str = TEXT) -> Finished:
    server.enqueue(response)
    events, error = await collect(endpoint(server))
    assert error is None, error
    assert text_of(events) == text
    return finished(events)


# -- framing -----------------------------------------------------------------------------------

@pytest.mark.parametrize("split", [1, 3, 7])
async def test_chunk_boundaries_inside_utf8_and_data_lines(fake_server: FakeServer, split: int) -> None:
    response = chat_stream(PIECES, split_bytes=split)
    sends = [step.data for step in response.steps if isinstance(step, Send)]
    body = b"".join(sends)
    assert body.count(b"data: ") == len(PIECES) + 3  # role chunk, pieces, finish chunk, [DONE]
    # The script really cuts inside multi-byte characters and inside the "data:" field names.
    assert any(_cuts_utf8(p) for p in sends)
    cuts = set(itertools.accumulate(len(p) for p in sends))
    fields = [m.start() for m in re.finditer(b"data: ", body)]
    assert any(start < cut < start + 5 for start in fields for cut in cuts)
    result = await assert_streams_text(fake_server, response)
    assert result.finish_reason == "stop"


def _cuts_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


async def test_crlf_line_endings(fake_server: FakeServer) -> None:
    response = chat_stream(PIECES, crlf=True)
    assert isinstance(step := response.steps[0], Send) and b"\r\n\r\n" in step.data
    assert (await assert_streams_text(fake_server, response)).finish_reason == "stop"


async def test_comment_lines_are_ignored(fake_server: FakeServer) -> None:
    response = chat_stream(PIECES, comments=True)
    assert isinstance(step := response.steps[0], Send) and step.data.startswith(b": ping\n")
    assert (await assert_streams_text(fake_server, response)).finish_reason == "stop"


async def test_data_without_space(fake_server: FakeServer) -> None:
    response = chat_stream(PIECES, no_space=True)
    assert isinstance(step := response.steps[0], Send) and step.data.startswith(b"data:{")
    assert (await assert_streams_text(fake_server, response)).finish_reason == "stop"


# -- chunk shapes ------------------------------------------------------------------------------

async def test_role_in_every_delta(fake_server: FakeServer) -> None:
    response = chat_stream(PIECES, role_every_delta=True)
    assert (await assert_streams_text(fake_server, response)).finish_reason == "stop"


async def test_finish_reason_on_the_last_content_chunk(fake_server: FakeServer) -> None:
    response = chat_stream(PIECES, finish_reason="length", finish_on_last_content=True)
    assert (await assert_streams_text(fake_server, response)).finish_reason == "length"


async def test_usage_chunk_with_empty_choices(fake_server: FakeServer) -> None:
    usage = {"prompt_tokens": 9, "completion_tokens": 6, "total_tokens": 15}
    response = chat_stream(PIECES, usage=usage, usage_chunk=True)
    result = await assert_streams_text(fake_server, response)
    assert result.finish_reason == "stop"
    assert result.usage is not None
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (9, 6)
    assert result.stats.tokens == 6


async def test_azure_prompt_annotation_chunk_first(fake_server: FakeServer) -> None:
    safe = {"filtered": False, "severity": "safe"}
    annotation = {
        "id": "", "object": "", "created": 0, "model": "", "choices": [],
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {
            "hate": safe, "self_harm": safe, "sexual": safe, "violence": safe}}],
    }
    events = ["data: " + json.dumps(annotation), chunk("", role=True)]
    events += [chunk(p) for p in PIECES] + [chunk(finish="stop"), "data: [DONE]"]
    assert (await assert_streams_text(fake_server, sse_events(events))).finish_reason == "stop"


async def test_tgi_empty_string_finish_reason_means_not_finished(fake_server: FakeServer) -> None:
    events = [chunk(p, finish="") for p in PIECES] + [chunk(finish="length"), "data: [DONE]"]
    result = await assert_streams_text(fake_server, sse_events(events))
    assert result.finish_reason == "length"


async def test_completion_stream(fake_server: FakeServer) -> None:
    fake_server.enqueue(completion_stream(PIECES, finish_reason="length"))
    request = GenerationRequest("completion", prompt="Once upon a time",
                                params=GenerationParams(max_tokens=7))
    events, error = await collect(endpoint(fake_server), request)
    assert error is None, error
    assert text_of(events) == TEXT
    assert finished(events).finish_reason == "length"
    sent = fake_server.requests[0]
    assert sent.path == "/v1/completions"
    body = sent.json()
    assert body["prompt"] == "Once upon a time" and "messages" not in body
    assert body["max_tokens"] == 7 and body["stream"] is True


async def test_json_response_to_a_stream_request(fake_server: FakeServer) -> None:
    usage = {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}
    fake_server.enqueue(chat_json(TEXT, usage=usage))
    events, error = await collect(endpoint(fake_server))
    assert error is None, error
    assert [type(e) for e in events] == [ResponseStarted, TextDelta, Finished]
    assert text_of(events) == TEXT
    result = finished(events)
    assert result.finish_reason == "stop" and result.usage is not None
    assert result.usage.completion_tokens == 5


# -- retries -----------------------------------------------------------------------------------

async def test_429_with_retry_after_ms_then_success(fake_server: FakeServer) -> None:
    busy = {"error": {"message": "Rate limit reached", "type": "rate_limit", "code": "429"}}
    fake_server.enqueue(error_response(429, busy, headers={"retry-after-ms": "400"}),
                        chat_stream(PIECES))
    started = time.monotonic()
    events, error = await collect(endpoint(fake_server))
    elapsed = time.monotonic() - started
    assert error is None, error
    assert text_of(events) == TEXT
    assert len(fake_server.requests) == 2
    # The server asked for 400 ms (not the default 0.5 s * jitter); honoured, roughly.
    assert 0.35 <= elapsed < 5.0


async def test_500_three_times_is_an_error_after_max_retries(fake_server: FakeServer) -> None:
    body = {"error": {"message": "The server had an error", "type": "server_error"}}
    fake_server.route("POST", "/v1/chat/completions",
                      error_response(500, body, headers={"x-request-id": "req-500"}))
    sleeps: list[float] = []
    events, error = await collect(endpoint(fake_server, max_retries=2), sleeps=sleeps)
    assert events == []
    assert isinstance(error, ApiError) and type(error) is ApiError
    assert error.status == 500 and "The server had an error" in error.message
    assert error.request_id == "req-500" and error.date
    assert len(fake_server.requests) == 3  # max_retries + 1
    assert len(sleeps) == 2 and all(0 < s <= 8 for s in sleeps)


# -- errors inside a 200 stream --------------------------------------------------------------

async def test_error_object_mid_stream_after_some_text(fake_server: FakeServer) -> None:
    events = [chunk("", role=True), chunk("Hello"), chunk(", wor"),
              'data: {"error": {"message": "CUDA out of memory", "type": "server_error", '
              '"code": 500}}']
    fake_server.enqueue(sse_events(events, headers={"x-request-id": "req-mid"}))
    got, error = await collect(endpoint(fake_server))
    assert text_of(got) == "Hello, wor"
    assert isinstance(error, StreamError)
    assert "CUDA out of memory" in error.message
    assert error.request_id == "req-mid"
    assert not any(isinstance(e, Finished) for e in got)


async def test_event_error(fake_server: FakeServer) -> None:
    events = [chunk("Hel"), chunk("lo"),
              'event: error\ndata: {"error": {"message": "Input validation error"}}']
    fake_server.enqueue(sse_events(events))
    got, error = await collect(endpoint(fake_server))
    assert text_of(got) == "Hello"
    assert isinstance(error, StreamError)
    assert "Input validation error" in error.message


async def test_eof_without_done_is_truncated(fake_server: FakeServer) -> None:
    fake_server.enqueue(chat_stream(PIECES, finish_reason=None, done=False))
    got, error = await collect(endpoint(fake_server))
    assert text_of(got) == TEXT
    assert isinstance(error, TruncatedStream)
    assert "incomplete" in error.message


async def test_bare_done_after_text_without_finish_is_truncated(fake_server: FakeServer) -> None:
    """What llama.cpp sends to a stream that another request interrupted."""
    fake_server.enqueue(chat_stream(PIECES[:2], finish_reason=None, done=True))
    got, error = await collect(endpoint(fake_server))
    assert text_of(got) == "".join(PIECES[:2])
    assert isinstance(error, TruncatedStream)
    assert not any(isinstance(e, Finished) for e in got)


async def test_abrupt_disconnect_is_truncated(fake_server: FakeServer) -> None:
    fake_server.enqueue(disconnect_after(PIECES[:3]))
    got, error = await collect(endpoint(fake_server))
    assert text_of(got) == "".join(PIECES[:3])
    assert isinstance(error, TruncatedStream)


async def test_stall_is_a_stream_timeout(fake_server: FakeServer) -> None:
    fake_server.enqueue(stall_after(["Let", " me"], 30))
    started = time.monotonic()
    got, error = await collect(endpoint(fake_server, read_timeout=0.3))
    assert time.monotonic() - started < 10
    assert text_of(got) == "Let me"
    assert isinstance(error, StreamTimeout)
    assert "no data from the server for 0.3 s" in error.message


async def test_connection_refused_fails_quickly() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # The socket is closed now: nothing listens on that port.
    ep = Endpoint("gone", f"http://127.0.0.1:{port}/v1", api_key=KEY, max_retries=0)
    started = time.monotonic()
    got, error = await collect(ep)
    assert time.monotonic() - started < 5
    assert got == []
    assert isinstance(error, ConnectionFailed)
    assert f"127.0.0.1:{port}" in error.message


async def test_empty_event_stream(fake_server: FakeServer) -> None:
    fake_server.enqueue(sse_events([]))
    got, error = await collect(endpoint(fake_server))
    assert [type(e) for e in got] == [ResponseStarted]
    assert isinstance(error, EmptyStream)


# -- error bodies ------------------------------------------------------------------------------

GATEWAY_PAGE = """<!DOCTYPE html>
<html><head><title>502 Bad Gateway - upstream llama unavailable</title>
<style>body { font-family: sans-serif }</style></head>
<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>
"""


async def test_html_gateway_page_is_an_error_with_its_title(fake_server: FakeServer) -> None:
    fake_server.route("POST", "/v1/chat/completions",
                      error_response(502, GATEWAY_PAGE, headers={"x-request-id": "gw-1"}))
    sleeps: list[float] = []
    got, error = await collect(endpoint(fake_server), sleeps=sleeps)
    assert got == []
    assert isinstance(error, ApiError) and error.status == 502
    assert error.message == "502 Bad Gateway - upstream llama unavailable"
    assert "<" not in str(error)
    assert error.request_id == "gw-1"


async def test_azure_400_content_filter(fake_server: FakeServer) -> None:
    fake_server.enqueue(azure_content_filter_400())
    got, error = await collect(endpoint(fake_server))
    assert got == []
    assert isinstance(error, ContentFilterError)
    assert error.status == 400 and error.code == "content_filter"
    tripped = error.result.tripped
    assert [(c.category, c.severity) for c in tripped] == [("violence", "medium")]
    assert error.request_id == "3f2a9c1e-7b4d-4e8a-9f10-5c6d7e8f9a0b"
    assert error.date == "Tue, 14 Nov 2023 22:13:20 GMT"
    assert "violence: severity medium" in str(error)
    assert len(fake_server.requests) == 1  # a 400 is never retried


async def test_200_finish_reason_content_filter_after_text(fake_server: FakeServer) -> None:
    results = {"hate": {"filtered": False, "severity": "safe"},
               "violence": {"filtered": True, "severity": "high"}}
    final = json.loads(chunk(finish="content_filter")[len("data: "):])
    final["choices"][0]["content_filter_results"] = results
    events = [chunk("Once", role=True), chunk(" upon a"), "data: " + json.dumps(final),
              "data: [DONE]"]
    result = await assert_streams_text(fake_server, sse_events(events), "Once upon a")
    assert result.finish_reason == "content_filter"
    assert result.content_filter is not None
    assert [(c.category, c.severity) for c in result.content_filter.tripped] == [
        ("violence", "high")]


# -- what goes on the wire ---------------------------------------------------------------------

@pytest.fixture
def other_server() -> Iterator[FakeServer]:
    with FakeServer() as server:
        yield server


async def test_redirect_to_another_origin_drops_the_key(
    fake_server: FakeServer, other_server: FakeServer
) -> None:
    assert other_server.port != fake_server.port
    target = other_server.url("/v1/chat/completions")
    fake_server.enqueue(Response(307, {"location": target}, [], chunked=False))
    other_server.enqueue(chat_stream(PIECES))
    ep = endpoint(fake_server, headers={"X-Gateway-Key": "gw-secret"})
    events, error = await collect(ep)
    assert error is None, error
    assert text_of(events) == TEXT
    first, second = fake_server.requests[0], other_server.requests[0]
    assert first.headers["authorization"] == f"Bearer {KEY}"
    assert first.headers["x-gateway-key"] == "gw-secret"
    assert "authorization" not in second.headers
    assert "x-gateway-key" not in second.headers
    assert KEY not in json.dumps(second.headers) and KEY.encode() not in second.body
    assert second.method == "POST" and second.json() == first.json()  # 307 keeps method and body


async def test_redirect_within_the_origin_keeps_the_key(fake_server: FakeServer) -> None:
    fake_server.route("POST", "/old/v1/chat/completions",
                      Response(307, {"location": "/v1/chat/completions"}, [], chunked=False))
    fake_server.enqueue(chat_stream(PIECES))
    ep = Endpoint("fake", fake_server.url("/old/v1"), api_key=KEY)
    events, error = await collect(ep)
    assert error is None, error
    assert text_of(events) == TEXT
    assert [r.path for r in fake_server.requests] == ["/old/v1/chat/completions",
                                                       "/v1/chat/completions"]
    assert fake_server.requests[1].headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize("stream", [True, False])
async def test_stream_is_a_json_bool_and_max_tokens_always_sent(
    fake_server: FakeServer, stream: bool
) -> None:
    fake_server.enqueue(chat_stream(PIECES) if stream else chat_json(TEXT))
    request = GenerationRequest(messages=[{"role": "user", "content": "Hi"}], stream=stream)
    events, error = await collect(endpoint(fake_server), request)
    assert error is None, error
    assert text_of(events) == TEXT
    received = fake_server.requests[0]
    body = received.json()
    assert body["stream"] is stream  # a JSON boolean, never the string "True"
    assert b'"True"' not in received.body
    assert isinstance(body["max_tokens"], int) and body["max_tokens"] > 0
    assert received.headers["content-type"] == "application/json"
    assert received.headers["accept"] == ("text/event-stream" if stream else "application/json")


async def test_breaking_out_mid_stream_closes_the_response(fake_server: FakeServer) -> None:
    pieces = [f" word{i}" for i in range(400)]
    fake_server.enqueue(chat_stream(pieces, delay=0.02))
    seen: list[str] = []
    async with Client(endpoint(fake_server)) as client:
        stream = client.stream(CHAT)
        async for event in stream:
            if isinstance(event, TextDelta):
                seen.append(event.text)
                if len(seen) == 3:
                    break
        await stream.aclose()
        # The client is still open: only the response was closed, and the server noticed.
        deadline = time.monotonic() + 5
        while fake_server.connections_closed_by_client == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
    assert seen == pieces[:3]
    assert fake_server.connections_closed_by_client == 1
