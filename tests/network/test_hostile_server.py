"""A hostile server against the real client over a real socket: the client does bounded work.

What was tried, and what held (each line names the test that proves it):

- One 50 MB SSE line: refused at 1 MiB ("the server sent an event over 1 MiB") in well under
  a second, memory bounded (`test_a_50_mb_line_fails_at_the_event_cap`). The decoder is linear
  in line length (tests/unit/test_sse_decode.py).
- Endless bodies: a `text/html` page, a JSON reply, an error body: the first 1 MiB is read and
  the connection closed; an error body is cut and still reported (`test_endless_bodies_*`).
- Gzip and deflate bombs (250 KB inflating to 256 MiB) as a JSON reply, an error body and an
  event stream: inflated 64 KiB at a time and stopped at the cap, never all at once
  (`test_a_compression_bomb_is_stopped_while_inflating`); honest gzip still works.
- Endpoint values: `http://[::1`, a URL without a scheme, `ALL_PROXY=socks5://` without
  socksio: an `EndpointError` from the first request, never a traceback, and constructing a
  client never raises (`test_unusable_endpoint_values_are_clear_errors`, `..._socks_proxy_...`).
- Secrets: an error page echoing the key, cut at 300 characters wherever the key falls: no part
  of it (8 characters or more) survives (`test_a_key_echoed_at_the_cut_is_hidden`; the cut
  itself: tests/unit/test_dialects.py).
- Redirects: the key and secret headers never go to another origin
  (test_client_socket.py::test_redirect_to_another_origin_drops_the_key,
  test_sse_client.py::test_cross_origin_redirect_drops_every_secret); a redirect loop ends
  after 5 hops, and a redirect to `file://` or to a broken URL is a clear error
  (`test_redirect_loops_and_bad_locations`).
- Proxies: `HTTP_PROXY` is honoured (httpx's trust_env), so a plain-http endpoint's request,
  key included, goes through the proxy the user set, as curl does (`test_http_proxy_is_used`);
  https goes through CONNECT, the proxy never sees the key.
- TLS: verified by default, a bad certificate fails before the key is sent, a private CA
  needs `ca_bundle` (tests/reliability/test_secrets.py::test_tls_is_verified_by_default_...).
- Retry storms: only 408/409/429/5xx, at most `max_retries` times; a `retry-after` longer than
  20 s (or `inf`, `1e400`) is shown, not waited for; negative or `nan` values are ignored
  (`test_a_retry_storm_is_bounded`, test_sse_client.py::test_429_with_a_long_retry_after_...).
- Slowloris: the read timeout is between chunks, so any byte resets it: a server dripping
  comment lines (`: ping`) keeps a stream alive for as long as it likes. Accepted: the user
  sees nothing arrive and escape stops it; a silent server times out
  (`test_a_drip_of_comments_keeps_a_stream_alive`, test_client_socket.py::test_stall_...).
  Likewise a JSON or error body dripped a byte at a time is bounded by its 1 MiB cap only.
"""

from __future__ import annotations

import time
import tracemalloc
import zlib

import pytest

from llama_tui.client import (
    ApiError,
    Client,
    ConnectionFailed,
    EndpointError,
    GenerationRequest,
    ProtocolError,
    TooLarge,
)
from llama_tui.client.pool import ClientPool
from llama_tui.model import Endpoint
from tests.fakeserver import FakeServer, Repeat, Response, Send, chat_stream
from tests.fakeserver.scripts import JSON_TYPE, SSE_TYPE
from tests.network.test_client_socket import KEY, TEXT, collect, endpoint, finished, text_of

CHAT = GenerationRequest(messages=[{"role": "user", "content": "Hi"}])
NO_STREAM = GenerationRequest(messages=[{"role": "user", "content": "Hi"}], stream=False)
BLOCK = b"x" * 65536
#: Generous: each of these ends in well under a second on an idle machine.
QUICK = 10.0


async def timed(ep: Endpoint, request: GenerationRequest = CHAT) -> tuple[ApiError, float, int]:
    """The error the client raises, the seconds it took and the peak of traced memory."""
    tracemalloc.start()
    start = time.monotonic()
    try:
        events, error = await collect(ep, request)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert error is not None, events
    return error, time.monotonic() - start, peak


# -- size caps ----------------------------------------------------------------------------------

async def test_a_50_mb_line_fails_at_the_event_cap(fake_server: FakeServer) -> None:
    fake_server.enqueue(Response(headers={"content-type": SSE_TYPE},
                                 steps=[Send(b"data: "), Repeat(BLOCK, times=800), Send(b"\n\n")]))
    error, took, peak = await timed(endpoint(fake_server, max_retries=0))
    assert isinstance(error, TooLarge) and error.kind == "too_large"
    assert "the server sent an event over 1 MiB" in str(error)
    assert took < QUICK
    assert peak < 20 << 20, peak  # the line is refused at 1 MiB, not held whole


ENDLESS = {
    "html-200": (200, "text/html", b"<p>spam</p>" * 6000, ProtocolError,
                 "unexpected content type text/html"),
    "json-200": (200, JSON_TYPE, b'{"choices": [' * 5000, TooLarge,
                 "the server sent a JSON response over 1 MiB"),
    "html-502": (502, "text/html", b"<html><title>Bad gateway</title>" + b"<p>x</p>" * 8000,
                 ApiError, "Bad gateway"),
    "json-500": (500, JSON_TYPE, b'{"error": {"message": "' + b"x" * 65536, ApiError, "HTTP 500"),
}


@pytest.mark.parametrize("case", sorted(ENDLESS))
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "no-stream"])
async def test_endless_bodies_are_read_up_to_1_mib(fake_server: FakeServer, case: str,
                                                   stream: bool) -> None:
    status, content_type, first, kind, words = ENDLESS[case]
    fake_server.enqueue(Response(status, {"content-type": content_type},
                                 [Send(first), Repeat(BLOCK)]))
    error, took, _ = await timed(endpoint(fake_server, max_retries=0),
                                 CHAT if stream else NO_STREAM)
    assert isinstance(error, kind) and words in str(error), str(error)
    assert took < QUICK
    assert len(str(error)) < 3000  # one readable line, not the megabyte


def bomb(encoding: str, size: int = 256 << 20) -> bytes:
    """`data: ` and `size` zero bytes, compressed: about 250 KB from 256 MiB."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31 if encoding == "gzip" else 15)
    zeros = bytes(1 << 24)
    parts = [packer.compress(b"data: ")]
    parts += [packer.compress(zeros) for _ in range(size // len(zeros))]
    return b"".join([*parts, packer.flush()])


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    return {encoding: bomb(encoding) for encoding in ("gzip", "deflate")}


BOMBS = {
    "sse": (200, SSE_TYPE, TooLarge, "an event over 1 MiB"),
    "json-200": (200, JSON_TYPE, TooLarge, "JSON response over 1 MiB"),
    "error-500": (500, "text/plain", ApiError, "HTTP 500"),
}


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
@pytest.mark.parametrize("case", sorted(BOMBS))
async def test_a_compression_bomb_is_stopped_while_inflating(
        fake_server: FakeServer, bombs: dict[str, bytes], encoding: str, case: str) -> None:
    status, content_type, kind, words = BOMBS[case]
    body = bombs[encoding]
    assert len(body) < 2 << 20
    fake_server.enqueue(Response(status, {"content-type": content_type,
                                          "content-encoding": encoding},
                                 [Send(body[i:i + 65536]) for i in range(0, len(body), 65536)]))
    error, took, peak = await timed(endpoint(fake_server, max_retries=0),
                                    NO_STREAM if case == "json-200" else CHAT)
    assert isinstance(error, kind) and words in str(error), str(error)
    assert took < QUICK
    # httpx inflates a whole network read at once (64 KiB of this bomb is 64 MB); here the
    # output comes 64 KiB at a time, so the peak stays near the 1 MiB cap.
    assert peak < 24 << 20, peak


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate"])
async def test_honest_compressed_streams_still_work(fake_server: FakeServer, encoding: str) -> None:
    plain = b"".join(s.data for s in chat_stream(list(TEXT)).steps if isinstance(s, Send))
    wbits = {"gzip": 31, "deflate": 15, "raw-deflate": -15}[encoding]
    packer = zlib.compressobj(6, zlib.DEFLATED, wbits)
    # Flushed per slice, as a server compressing a live stream does.
    pieces = [packer.compress(plain[i:i + 40]) + packer.flush(zlib.Z_SYNC_FLUSH)
              for i in range(0, len(plain), 40)] + [packer.flush()]
    fake_server.enqueue(Response(headers={"content-type": SSE_TYPE,
                                          "content-encoding": encoding.removeprefix("raw-")},
                                 steps=[Send(p) for p in pieces if p]))
    events, error = await collect(endpoint(fake_server))
    assert error is None, error
    assert text_of(events) == TEXT
    finished(events)
    sent = fake_server.wait_for_requests(1)[-1]
    assert sent.headers["accept-encoding"] == "gzip, deflate"


async def test_a_broken_gzip_body_is_a_protocol_error(fake_server: FakeServer) -> None:
    fake_server.enqueue(Response(headers={"content-type": SSE_TYPE, "content-encoding": "gzip"},
                                 steps=[Send(b"\x1f\x8b\x08\x00not gzip at all")]))
    _, error = await collect(endpoint(fake_server))
    assert isinstance(error, ProtocolError) and "gzip body cannot be decoded" in str(error)


# -- endpoint values ----------------------------------------------------------------------------

@pytest.mark.parametrize(("url", "words"), [
    ("http://[::1", "cannot be used"),
    ("http://[::1]:notaport/v1", "cannot be used"),
    ("localhost:8080/v1", "must start with http:// or https://"),
    ("example.com/v1", "must start with http:// or https://"),
    ("ftp://example.com/v1", "must start with http:// or https://"),
    ("http:///v1", "name a host"),
    ("http://user:hunter22@[::1", "cannot be used"),
])
async def test_unusable_endpoint_values_are_clear_errors(url: str, words: str) -> None:
    ep = Endpoint("mine", url, api_key=KEY)
    async with Client(ep) as client:
        with pytest.raises(EndpointError, match=words) as caught:
            async for _ in client.stream(CHAT):
                pass
        with pytest.raises(EndpointError):
            await client.list_models()
    assert caught.value.kind == "endpoint"
    assert "'mine'" in str(caught.value) and "hunter22" not in str(caught.value)


async def test_a_socks_proxy_without_socksio_is_a_clear_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("httpx")
    try:
        import socksio  # noqa: F401
        pytest.skip("socksio is installed: httpx can use the socks proxy")
    except ImportError:
        pass
    monkeypatch.setenv("ALL_PROXY", "socks5://user:pw@127.0.0.1:9")
    ep = Endpoint("proxied", "https://llama.example/v1", api_key=KEY)
    pool = ClientPool()
    client = pool.get(ep)  # constructing never raises (the TUI calls this outside a worker)
    with pytest.raises(EndpointError, match="socksio") as caught:
        async for _ in client.stream(CHAT):
            pass
    assert "proxied" in str(caught.value) and "pw@" not in str(caught.value)
    await pool.aclose()


@pytest.mark.parametrize("proxy", ["garbage://x", "http://[::1"])
async def test_a_proxy_url_httpx_refuses_is_a_clear_error(
        monkeypatch: pytest.MonkeyPatch, proxy: str) -> None:
    monkeypatch.setenv("HTTPS_PROXY", proxy)
    async with Client(Endpoint("p", "https://llama.example/v1")) as client:
        with pytest.raises(EndpointError, match="cannot set up HTTP"):
            await client.list_models()


async def test_http_proxy_is_used(fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", fake_server.base_url)
    monkeypatch.setenv("http_proxy", fake_server.base_url)
    fake_server.enqueue(chat_stream(["via the proxy"]))
    events, error = await collect(Endpoint("p", "http://llama.invalid/v1", api_key=KEY))
    assert error is None and text_of(events) == "via the proxy"
    assert fake_server.wait_for_requests(1)[-1].path == "http://llama.invalid/v1/chat/completions"


# -- secrets ------------------------------------------------------------------------------------

LONG_KEY = "sk-proj-" + "Q7w9Zr2XkLm4Np8Vt6Yb3Hc5Jd1Fg0" * 2


@pytest.mark.parametrize("offset", [270, 283, 289, 292, 296, 299])
async def test_a_key_echoed_at_the_cut_is_hidden(fake_server: FakeServer, offset: int) -> None:
    """The page repeats the key so that the 300-character cut falls inside it."""
    page = ("<html><body>" + "w" * (offset - 12) + LONG_KEY + " is not a valid key"
            + " pad" * 200 + "</body></html>")
    fake_server.enqueue(Response(401, {"content-type": "text/html"}, [Send(page.encode())]))
    ep = Endpoint("fake", fake_server.base_url + "/v1", api_key=LONG_KEY, max_retries=0)
    _, error = await collect(ep)
    assert error is not None and error.status == 401
    for text in (str(error), error.body or "", *error.details()):
        for n in range(8, len(LONG_KEY) + 1):
            assert LONG_KEY[:n] not in text, (n, text)


async def test_secret_headers_are_hidden_in_error_text(fake_server: FakeServer) -> None:
    secret = "apim-subscription-0123456789abcdef"
    body = {"error": {"message": f"Access denied for key {secret}. " + "y" * 3000}}
    fake_server.enqueue(Response(403, {"content-type": JSON_TYPE},
                                 [Send(str(body).replace("'", '"').encode())]))
    ep = Endpoint("fake", fake_server.base_url + "/v1", max_retries=0,
                  headers={"Ocp-Apim-Subscription-Key": secret})
    _, error = await collect(ep)
    assert error is not None and "Access denied for key [key hidden]" in str(error)
    assert secret[:8] not in str(error) + (error.body or "")
    assert len(error.message) < 2100


# -- redirects, retries, slow servers -------------------------------------------------------------

@pytest.mark.parametrize(("location", "kind", "words"), [
    ("/v1/chat/completions", ConnectionFailed, "too many redirects"),
    ("file:///etc/passwd", ConnectionFailed, "not an http(s) URL"),
    ("http://[::1", ConnectionFailed, "Invalid URL in location header"),
])
async def test_redirect_loops_and_bad_locations(fake_server: FakeServer, location: str,
                                                kind: type, words: str) -> None:
    fake_server.route("POST", "/v1/chat/completions",
                      Response(302, {"location": location}, [], chunked=False))
    _, error = await collect(endpoint(fake_server, max_retries=0))
    assert isinstance(error, kind) and words in str(error), str(error)


@pytest.mark.parametrize("retry_after", ["0", "-5", "nan", "inf", "1e400", "21"])
async def test_a_retry_storm_is_bounded(fake_server: FakeServer, retry_after: str) -> None:
    fake_server.route("POST", "/v1/chat/completions",
                      Response(503, {"content-type": JSON_TYPE, "retry-after": retry_after},
                               [Send(b'{"error": {"message": "busy"}}')], chunked=False))
    sleeps: list[float] = []
    _, error = await collect(endpoint(fake_server, max_retries=3), sleeps=sleeps)
    assert error is not None and error.status == 503
    long_wait = retry_after in ("inf", "1e400", "21")
    assert len(sleeps) == (0 if long_wait else 3)
    assert all(0 <= s <= 20 for s in sleeps)
    assert len(fake_server.requests) == len(sleeps) + 1


async def test_a_drip_of_comments_keeps_a_stream_alive(fake_server: FakeServer) -> None:
    """Each byte resets the read timeout (1 s here): 2 s of `: ping` every 0.25 s, then the
    reply. A server may keep a stream open this way for as long as it likes."""
    reply = chat_stream(["still", " here"])
    fake_server.enqueue(Response(headers={"content-type": SSE_TYPE},
                                 steps=[Repeat(b": ping\n", times=9, pause=0.25), *reply.steps]))
    start = time.monotonic()
    events, error = await collect(endpoint(fake_server, read_timeout=1.0))
    assert error is None and text_of(events) == "still here"
    assert time.monotonic() - start >= 2.0  # longer than the read timeout, and it held
