"""CPU cost of the SSE decoder (llama_tui/client/sse_decode.py): huge lines and normal events.

    .venv/bin/python tests/benchmarks/bench_sse_decode.py [--big 50] [--decoder PATH]

- one `data:` line of N MB, fed in 64 KiB chunks (what httpx hands over from a fast socket):
  the time must grow linearly with N, not with N squared;
- normal token rates: one small chat chunk per network read (the usual shape, the fast path),
  the same event cut in two reads, and a 64 KiB read holding many events (a replayed stream):
  microseconds per event.

`--decoder PATH` loads another copy of sse_decode.py (say, the previous commit's, from
`git show HEAD~1:llama_tui/client/sse_decode.py > /tmp/old.py`) to compare the two.
Process CPU time (time.process_time), best of --runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

READ = 65536
EVENT = ("data: " + json.dumps({
    "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1700000000,
    "model": "llama", "choices": [{"index": 0, "delta": {"content": " token"},
                                   "finish_reason": None}]}) + "\n\n").encode()


def load(path: str | None) -> ModuleType:
    if path is None:
        from llama_tui.client import sse_decode
        return sse_decode
    spec = importlib.util.spec_from_file_location("other_sse_decode", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def cpu(fn: Any, runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def big_line(module: ModuleType, megabytes: float, cap: bool = False) -> None:
    """Without `cap` the decoder's event limit (if it has one) is lifted, to see the cost of
    decoding the line; with it, the cost of refusing the line."""
    limit = getattr(module, "MAX_EVENT_BYTES", None)
    decoder = module.SSEDecoder(**({"max_event": 1 << 62} if limit and not cap else {}))
    body = b"data: " + b"x" * int(megabytes * 1_000_000) + b"\n\n"
    view = memoryview(body)
    events = []
    for i in range(0, len(body), READ):
        try:
            events += decoder.feed(bytes(view[i:i + READ]))
        except ValueError:  # the capped decoder refuses the line: that is the point
            assert cap
            return
    assert len(events) == 1


def per_event(module: ModuleType, chunks: list[bytes], events: int, runs: int) -> float:
    def run() -> None:
        decoder = module.SSEDecoder()
        got = 0
        for chunk in chunks:
            got += len(decoder.feed(chunk))
        assert got == events, (got, events)
    return cpu(run, runs) / events * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--big", type=float, default=50.0, help="MB of the biggest line")
    parser.add_argument("--decoder", help="another sse_decode.py to measure")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    module = load(args.decoder)
    print(f"decoder: {module.__file__}")
    for mb in (0.5, 5.0, args.big):
        runs = 1 if mb >= 50 else 3
        took = cpu(lambda mb=mb: big_line(module, mb), runs)
        print(f"one {mb:g} MB line in 64 KiB reads: {took:.3f} s CPU")
    if getattr(module, "MAX_EVENT_BYTES", None):
        took = cpu(lambda: big_line(module, args.big, cap=True), 3)
        print(f"one {args.big:g} MB line, default cap: {took:.4f} s CPU (fails at the cap)")
    n = 20000
    one = [EVENT] * n
    half = len(EVENT) // 2
    cut = [p for _ in range(n) for p in (EVENT[:half], EVENT[half:])]
    packed_body = EVENT * n
    packed = [packed_body[i:i + READ] for i in range(0, len(packed_body), READ)]
    print(f"event size {len(EVENT)} bytes, {n} events")
    print(f"one event per read:      {per_event(module, one, n, args.runs):.2f} µs/event")
    print(f"each event in two reads: {per_event(module, cut, n, args.runs):.2f} µs/event")
    print(f"64 KiB reads, many each: {per_event(module, packed, n, args.runs):.2f} µs/event")


if __name__ == "__main__":
    main()
