"""CPU cost per event of reading a plain content stream in the client (after SSE decoding).

    .venv/bin/python tests/benchmarks/bench_client_parse.py [--tree PATH] [--runs 25]

- `ReplyState.add` on an already-parsed chunk (`{"content"}` and `{"role", "content"}`
  deltas): the fast path (`plain_delta`) plus the reply's totals and the reasoning check the
  reader makes per event;
- `_event_text`: json.loads plus the above, per event;
- `Client.stream` over `httpx.MockTransport`, one event per read: everything but the socket.

`--tree PATH` measures another checkout's `llama_tui` (say `git archive <commit> llama_tui |
tar -x -C /tmp/old`) to compare two versions; run them alternately on a busy machine and keep
the minimum. Process CPU time, best of --runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import timeit
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
N = 20000
CHUNK: dict[str, Any] = {"id": "chatcmpl-1", "object": "chat.completion.chunk",
                         "created": 1700000000, "model": "llama",
                         "choices": [{"index": 0, "delta": {"content": " token"},
                                      "finish_reason": None}]}
EVENT = json.dumps(CHUNK)
END = b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'


def state_class(sse: Any) -> Any:
    return getattr(sse, "ReplyState", None) or sse._StreamState  # the name before 2026


def add_cost(sse: Any, runs: int) -> dict[str, float]:
    out = {}
    with_role = json.loads(EVENT)
    with_role["choices"][0]["delta"]["role"] = "assistant"
    for name, chunk in (("{content}", json.loads(EVENT)), ("{role,content}", with_role)):
        state = state_class(sse)(0.0, [])
        state.add(chunk)
        stmt = "add(chunk)\nif getattr(state, 'reasoning', ''): pass"
        times = timeit.repeat(stmt, globals={"add": state.add, "chunk": chunk, "state": state},
                              number=50000, repeat=runs)
        out[name] = min(times) / 50000 * 1e9
    return out


def event_text_cost(sse: Any, runs: int) -> float:
    from llama_tui.client.sse_decode import ServerSentEvent

    started = sse.ResponseStarted(200, {}, None, "u", {})
    event = ServerSentEvent("message", EVENT)
    best = float("inf")
    for _ in range(runs):
        state = state_class(sse)(0.0, [])
        start = time.process_time()
        for _ in range(N):
            sse._event_text(event, state, started)
        best = min(best, time.process_time() - start)
    return best / N * 1e6


def stream_cost(runs: int) -> float:
    import httpx

    from llama_tui.client import Client, GenerationRequest
    from llama_tui.model import Endpoint

    chunks = [f"data: {EVENT}\n\n".encode()] * N + [END]

    class Body(httpx.AsyncByteStream):
        async def __aiter__(self) -> Any:
            for chunk in chunks:
                yield chunk

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=Body())

    async def once() -> float:
        endpoint = Endpoint("bench", "http://bench.invalid/v1")
        async with Client(endpoint, transport=httpx.MockTransport(handler)) as client:
            request = GenerationRequest(messages=[{"role": "user", "content": "x"}])
            start = time.process_time()
            async for _ in client.stream(request):
                pass
            return time.process_time() - start

    return min(asyncio.run(once()) for _ in range(runs)) / N * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tree", help="a directory holding another llama_tui to measure")
    parser.add_argument("--runs", type=int, default=25)
    args = parser.parse_args()
    sys.path.insert(0, args.tree or str(ROOT))
    import importlib

    try:  # the client module's name since it was renamed, and before
        sse = importlib.import_module("llama_tui.client.http")
    except ImportError:
        sse = importlib.import_module("llama_tui.client.sse")

    print(f"client: {sse.__file__}")
    for name, ns in add_cost(sse, args.runs * 2).items():
        print(f"state.add {name:<15} {ns:7.0f} ns/event")
    print(f"_event_text (json + add)  {event_text_cost(sse, args.runs):7.2f} µs/event")
    print(f"Client.stream, MockTransport {stream_cost(max(args.runs // 3, 3)):5.2f} µs/event")


if __name__ == "__main__":
    main()
