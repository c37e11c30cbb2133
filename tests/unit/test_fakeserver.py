"""Fast checks that the scripted fake server puts exactly the scripted bytes on the wire."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.fakeserver import (
    Close,
    FakeServer,
    Response,
    Send,
    Sleep,
    chat_stream,
    json_response,
    markdown_reply,
    stall_after,
)


def test_chunk_boundaries_are_the_send_boundaries(fake_server: FakeServer) -> None:
    parts = [b"data: {\"a\"", b":1}\n\n", b"data: [DONE]\n\n"]
    fake_server.enqueue(Response(steps=[Send(p) for p in parts]))
    with httpx.Client() as client, client.stream("POST", fake_server.url("/v1/x")) as r:
        assert r.headers["transfer-encoding"] == "chunked"
        assert list(r.iter_raw()) == parts


def test_keep_alive_and_recorded_requests(fake_server: FakeServer) -> None:
    fake_server.enqueue(chat_stream(["Hi", " there"]), json_response({"ok": True}))
    with httpx.Client(base_url=fake_server.base_url) as client:
        first = client.post("/v1/chat/completions", json={"messages": [], "stream": True})
        second = client.post("/v1/other?x=1", json={"n": 2})
        port = first.extensions["network_stream"].get_extra_info("client_addr")
        assert second.extensions["network_stream"].get_extra_info("client_addr") == port
    assert '"content":" there"' in first.text and first.text.endswith("data: [DONE]\n\n")
    assert second.json() == {"ok": True}
    requests = fake_server.wait_for_requests(2)
    assert [(r.method, r.path, r.query) for r in requests] == [
        ("POST", "/v1/chat/completions", ""),
        ("POST", "/v1/other", "x=1"),
    ]
    assert requests[0].json() == {"messages": [], "stream": True}
    assert requests[1].headers["content-type"] == "application/json"


def test_models_and_missing_script(fake_server: FakeServer) -> None:
    assert httpx.get(fake_server.url("/v1/models")).json()["data"][0]["id"] == "fake-model"
    response = httpx.post(fake_server.url("/v1/chat/completions"), json={})
    assert response.status_code == 500
    assert "no scripted response" in response.json()["error"]["message"]


def test_close_aborts_the_stream(fake_server: FakeServer) -> None:
    fake_server.enqueue(Response(steps=[Send(b"data: {}\n\n"), Close()]))
    with httpx.Client() as client, client.stream("GET", fake_server.url("/v1/s")) as r:
        assert r.headers["connection"] == "close"
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            r.read()


def test_client_going_away_is_counted(fake_server: FakeServer) -> None:
    fake_server.enqueue(Response(steps=[Send(b"data: {}\n\n"), Sleep(5), Send(b"late")]))
    with httpx.Client() as client, client.stream("GET", fake_server.url("/s")) as r:
        next(r.iter_raw())
    deadline = time.monotonic() + 2
    while fake_server.connections_closed_by_client == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fake_server.connections_closed_by_client == 1


def test_stop_is_fast_during_a_stall() -> None:
    server = FakeServer().start()
    server.enqueue(stall_after(["Hel", "lo"], stall_seconds=60))
    client = httpx.Client(timeout=10)
    with client.stream("POST", server.url("/v1/chat/completions")) as r:
        raw = r.iter_raw()
        while b'"lo"' not in next(raw):
            pass
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 1.0
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            list(raw)
    client.close()


def test_split_bytes_cuts_inside_a_multibyte_character(fake_server: FakeServer) -> None:
    pieces = ["Café ", "— ", "🙂!"]
    fake_server.enqueue(chat_stream(pieces, split_bytes=3))
    with httpx.Client() as client, client.stream("POST", fake_server.url("/v1/c")) as r:
        chunks = list(r.iter_raw())
    assert all(len(c) <= 3 for c in chunks)
    assert any(_cuts_utf8(c) for c in chunks)
    text = "".join(
        json.loads(line[6:])["choices"][0]["delta"].get("content", "")
        for line in b"".join(chunks).decode("utf-8").splitlines()
        if line.startswith("data: {")
    )
    assert text == "".join(pieces)


def _cuts_utf8(chunk: bytes) -> bool:
    try:
        chunk.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def test_markdown_reply_is_deterministic_and_rich() -> None:
    pieces = markdown_reply(4000, seed=1)
    assert len(pieces) == 4000 and pieces == markdown_reply(4000, seed=1)
    text = "".join(pieces)
    for marker in ("# ", "```python", "```bash", "| --", "> ", "- ", "1. ", "**", "🙂"):
        assert marker.replace("| --", "|--") in text
    assert " " in pieces and "\n" in pieces
