"""The client and the CLI against a real llama.cpp server (../shared/peers/README.md).

Opt-in: set LLAMA_TUI_PEER_URL (e.g. http://127.0.0.1:8090/v1, printed by
`../shared/peers/start-llamacpp-peer.sh 8090`). The peer's tiny model is deterministic, so the
exact reply text is known. The peer serves one stream at a time (a new request ends a running
one), so these tests run one after another.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from llama_tui.client import (
    Client,
    EmptyStream,
    Finished,
    GenerationRequest,
    ResponseStarted,
    TextDelta,
    TruncatedStream,
)
from llama_tui.model import Endpoint, GenerationParams

PEER_URL = os.environ.get("LLAMA_TUI_PEER_URL", "").strip()
pytestmark = [
    pytest.mark.peer,
    pytest.mark.skipif(not PEER_URL, reason="set LLAMA_TUI_PEER_URL to run against the real peer"),
]

ROOT = Path(__file__).resolve().parents[2]
REPLY = " Hello! I am a tiny test model, running on llama.cpp.\nHere is an emoji: 🙂 Bon appétit"
CHAT = [{"role": "user", "content": "Hello, who are you?"}]


def peer() -> Endpoint:
    return Endpoint("peer", PEER_URL, read_timeout=30.0, max_retries=0)


async def stream(request: GenerationRequest) -> tuple[list[str], Finished, ResponseStarted]:
    pieces: list[str] = []
    started: ResponseStarted | None = None
    async with Client(peer()) as client:
        async for event in client.stream(request):
            if isinstance(event, ResponseStarted):
                started = event
            elif isinstance(event, TextDelta):
                pieces.append(event.text)
            else:
                assert started is not None
                return pieces, event, started
    raise AssertionError("no Finished")


async def test_chat_stream() -> None:
    pieces, finished, started = await stream(GenerationRequest(messages=CHAT))
    assert "".join(pieces) == REPLY
    assert len(pieces) > 10  # streamed token by token, not in one piece
    assert "🙂" in pieces and all("\ufffd" not in p for p in pieces)
    assert finished.finish_reason == "stop"
    assert "text/event-stream" in started.headers["content-type"]
    assert started.body["stream"] is True and started.body["max_tokens"] > 0
    assert finished.stats.tokens == len(pieces) and finished.stats.ttft_ms is not None


async def test_chat_stream_cut_by_max_tokens() -> None:
    request = GenerationRequest(messages=CHAT, params=GenerationParams(max_tokens=5))
    pieces, finished, _ = await stream(request)
    assert REPLY.startswith("".join(pieces)) and pieces
    assert finished.finish_reason == "length"


async def test_chat_no_stream() -> None:
    async with Client(peer()) as client:
        reply = await client.complete(GenerationRequest(messages=CHAT, stream=False))
    assert reply.text == REPLY
    assert reply.finished.finish_reason == "stop"
    assert "application/json" in reply.started.headers["content-type"]
    assert reply.finished.usage is not None and reply.finished.usage.completion_tokens


async def test_completion_stream_counts_until_length() -> None:
    request = GenerationRequest("completion", prompt="Now please count",
                                params=GenerationParams(max_tokens=40))
    pieces, finished, started = await stream(request)
    text = "".join(pieces)
    assert text.startswith(" one two three four five six seven eight nine ten one two")
    assert finished.finish_reason == "length"
    assert started.url.endswith("/completions") and not started.url.endswith("/chat/completions")


async def test_oversized_prompt_is_an_empty_stream_error() -> None:
    request = GenerationRequest(messages=[{"role": "user", "content": "word " * 6000}])
    with pytest.raises(EmptyStream) as caught:
        await stream(request)
    assert caught.value.status == 200
    assert "empty event stream" in str(caught.value)


async def test_a_stream_interrupted_by_another_request_is_truncated() -> None:
    """The peer ends a running stream with a bare [DONE] when a new request arrives."""
    request = GenerationRequest("completion", prompt="please count",
                                params=GenerationParams(max_tokens=2000))
    pieces: list[str] = []
    async with Client(peer()) as client, Client(peer()) as other:
        with pytest.raises(TruncatedStream):
            async for event in client.stream(request):
                if isinstance(event, TextDelta):
                    pieces.append(event.text)
                    if len(pieces) == 20:
                        reply = await other.complete(GenerationRequest(
                            messages=CHAT, params=GenerationParams(max_tokens=3)))
                        assert reply.finished.finish_reason == "length"
    assert 20 <= len(pieces) < 2000


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLAMA_TUI_")}
    env["LLAMA_TUI_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "llama_tui", "ask", "--base-url", PEER_URL, *args],
                          stdin=subprocess.DEVNULL, capture_output=True, env=env, cwd=ROOT,
                          timeout=60)


def test_cli_ask(isolated_home: Path) -> None:
    done = _cli(isolated_home, "Hello, who are you?")
    assert done.returncode == 0, done.stderr
    assert done.stdout == (REPLY + "\n").encode("utf-8")
    assert done.stderr == b""


def test_cli_ask_completion_length(isolated_home: Path) -> None:
    done = _cli(isolated_home, "--completion", "--max-tokens", "6", "please count")
    assert done.returncode == 0, done.stderr
    assert done.stdout == b" one two three four five six\n"
    assert b"max_tokens" in done.stderr and b"Traceback" not in done.stderr


def test_cli_ask_oversized_prompt_fails(isolated_home: Path) -> None:
    done = _cli(isolated_home, "word " * 6000)
    assert done.returncode == 1
    assert done.stdout == b""
    assert b"no reply" in done.stderr and b"Traceback" not in done.stderr
