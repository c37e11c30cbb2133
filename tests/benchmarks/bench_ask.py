"""Benchmark `llama-tui ask` against `curl -N` on the same ~2,000-token stream.

    /tmp/venv/bin/python tests/benchmarks/bench_ask.py [--peer URL] [--runs 5] [--tokens 2000]

1. Records the peer's SSE body once (httpx): a chat request with `logit_bias {"2": -100}`
   (bans `</s>`) and `max_tokens` N, so the tiny llama.cpp model streams N tokens.
2. Replays exactly those bytes from the fake server (tests/fakeserver) to `curl -N` and to
   `python -m llama_tui ask`, each a child process whose stdout is a pipe the parent reads.
   The server notes when it wrote the first content event to the socket (after a 50 ms pause,
   so the client is idle and waiting); the parent notes when that content came out of the
   child's stdout. Same process, same monotonic clock. 50 ms later the rest is sent as fast
   as the socket takes it (64 KiB writes), so throughput is the client's, not the server's.
3. Live against the peer: `curl -N` and `ask` (run through this script, which adds the
   `logit_bias` to the request body, since `ask` has no flag for it), paced by the peer.

Throughput: tokens/s (content events after the first) and MB/s of the SSE body consumed,
from the server's first write of the rest (replay) or the first content seen on stdout (live)
to the last byte seen on stdout. Medians of --runs runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

LOGIT_BIAS_ENV = "BENCH_LOGIT_BIAS"


# -- child mode: the real `ask`, with extra JSON merged into the request body -----------------

def run_ask_with_extra_body(argv: list[str]) -> int:
    """`llama-tui ask` exactly as shipped, except that the payload gets `logit_bias` added."""
    import llama_tui.client.http as sse
    from llama_tui.cli import main

    extra = json.loads(os.environ[LOGIT_BIAS_ENV])
    original = sse.build_payload

    def build_payload(endpoint: Any, request: Any) -> dict[str, Any]:
        return {**original(endpoint, request), "logit_bias": extra}

    sse.build_payload = build_payload  # type: ignore[assignment]
    return main(argv)


# -- measuring a child's stdout ---------------------------------------------------------------

@dataclass
class Reading:
    spawned: float
    #: (time, cumulative bytes) after each read of the child's stdout
    reads: list[tuple[float, int]]
    output: bytes
    code: int
    stderr: str

    def seen_at(self, offset: int) -> float:
        """When the first `offset` bytes of output had arrived."""
        for at, total in self.reads:
            if total >= offset:
                return at
        raise ValueError(f"output never reached {offset} bytes")


def read_child(cmd: list[str], env: dict[str, str], timeout: float = 60) -> Reading:
    spawned = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, cwd=ROOT)
    assert proc.stdout is not None and proc.stderr is not None
    fd = proc.stdout.fileno()
    reads: list[tuple[float, int]] = []
    chunks: list[bytes] = []
    total = 0
    deadline = spawned + timeout
    while time.perf_counter() < deadline:
        data = os.read(fd, 1 << 16)
        if not data:
            break
        total += len(data)
        reads.append((time.perf_counter(), total))
        chunks.append(data)
    stderr = proc.stderr.read().decode("utf-8", "replace")
    proc.stdout.close()
    proc.stderr.close()
    code = proc.wait(timeout=10)
    return Reading(spawned, reads, b"".join(chunks), code, stderr)


# -- the stream -------------------------------------------------------------------------------

@dataclass
class Recording:
    body: bytes
    content_type: str
    events: list[bytes]
    first_content: int  # index of the first event with text
    text: str
    tokens: int


def parse_recording(body: bytes, content_type: str) -> Recording:
    events = [e + b"\n\n" for e in body.replace(b"\r\n", b"\n").split(b"\n\n") if e.strip()]
    if b"".join(events) != body:
        raise SystemExit("recorded body is not plain LF-separated SSE; cannot replay it exactly")
    texts: list[str] = []
    first = -1
    for i, event in enumerate(events):
        line = event.decode("utf-8").strip()
        if not line.startswith("data:") or line[5:].strip() == "[DONE]":
            continue
        choices = json.loads(line[5:]).get("choices") or [{}]
        piece = (choices[0].get("delta") or {}).get("content") or ""
        if piece:
            texts.append(piece)
            first = i if first < 0 else first
    if first < 0:
        raise SystemExit("the recorded stream has no text")
    return Recording(body, content_type, events, first, "".join(texts), len(texts))


def record(peer: str, tokens: int) -> Recording:
    import httpx

    payload = {"messages": [{"role": "user", "content": "hi"}], "stream": True,
               "max_tokens": tokens, "logit_bias": {"2": -100}}
    with httpx.Client(timeout=120) as client, client.stream(
        "POST", peer.rstrip("/") + "/chat/completions", json=payload
    ) as response:
        response.raise_for_status()
        body = response.read()
        content_type = response.headers["content-type"]
    return parse_recording(body, content_type)


def make_timed_server() -> Any:
    from tests.fakeserver import FakeServer

    class TimedServer(FakeServer):
        """Notes when the marked bytes (the first content event) went onto the socket."""

        marker: bytes = b""
        written_at: float | None = None  # the first content event
        rest_at: float | None = None  # the first write after it

        async def _write(self, reader: Any, writer: Any, data: bytes) -> None:
            # Stamped as the bytes are handed to the socket (the write itself is a send()).
            now = time.perf_counter()
            if self.written_at is None:
                if self.marker and self.marker in data:
                    self.written_at = now
            elif self.rest_at is None:
                self.rest_at = now
            await super()._write(reader, writer, data)

        def reset(self) -> None:
            self.written_at = self.rest_at = None

    return TimedServer()


def replay_response(rec: Recording) -> Any:
    from tests.fakeserver import Response, Send, Sleep

    head = b"".join(rec.events[: rec.first_content])
    first = rec.events[rec.first_content]
    rest = b"".join(rec.events[rec.first_content + 1 :])
    # Pauses around the first content event put it alone on the wire to an idle client.
    steps: list[Any] = [Send(head), Sleep(0.05), Send(first), Sleep(0.05)]
    steps += [Send(rest[i : i + (1 << 16)]) for i in range(0, len(rest), 1 << 16)]
    return Response(headers={"content-type": rec.content_type, "x-request-id": "bench"},
                    steps=steps)


# -- runs -------------------------------------------------------------------------------------

@dataclass
class Sample:
    first_char_ms: float | None  # after the server wrote the first content event (replay only)
    spawn_to_first_ms: float
    tokens_per_s: float
    mb_per_s: float


def child_env(home: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLAMA_TUI_")}
    env["LLAMA_TUI_HOME"] = home
    env.update(extra or {})
    return env


def sample(reading: Reading, rec: Recording, first_offset: int, written_at: float | None = None,
           rest_at: float | None = None) -> Sample:
    """Throughput spans from the server's first write after the first content event (replay)
    or from the first content seen on stdout (live) to the last byte seen on stdout."""
    first_seen = reading.seen_at(first_offset)
    last_seen = reading.reads[-1][0]
    span = max(last_seen - (rest_at if rest_at is not None else first_seen), 1e-9)
    wire_bytes = len(rec.body) - len(b"".join(rec.events[: rec.first_content + 1]))
    return Sample(
        first_char_ms=(first_seen - written_at) * 1000 if written_at is not None else None,
        spawn_to_first_ms=(first_seen - reading.spawned) * 1000,
        tokens_per_s=(rec.tokens - 1) / span,
        mb_per_s=wire_bytes / span / 1e6,
    )


def check(reading: Reading, expected: bytes, what: str) -> None:
    if reading.code != 0 or reading.output != expected:
        raise SystemExit(
            f"{what}: exit {reading.code}, {len(reading.output)} bytes out "
            f"(expected {len(expected)}); stderr: {reading.stderr[-500:]}"
        )


def curl_cmd(url: str, payload: dict[str, Any]) -> list[str]:
    return ["curl", "-sSN", "-X", "POST", url, "-H", "content-type: application/json",
            "-d", json.dumps(payload)]


def bench_replay(rec: Recording, runs: int, home: str) -> dict[str, list[Sample]]:
    server = make_timed_server()
    server.marker = rec.events[rec.first_content]
    server.default = replay_response(rec)
    server.start()
    url = server.base_url + "/v1"
    text_out = (rec.text + "\n").encode("utf-8")
    curl_first = len(b"".join(rec.events[: rec.first_content + 1]))
    cmds = {
        "curl -N": (curl_cmd(url + "/chat/completions", {"messages": [], "stream": True}),
                    rec.body, curl_first),
        "llama-tui ask": ([sys.executable, "-m", "llama_tui", "ask", "--base-url", url, "hi"],
                          text_out, 1),
    }
    results: dict[str, list[Sample]] = {name: [] for name in cmds}
    try:
        for _ in range(runs):
            for name, (cmd, expected, first_offset) in cmds.items():
                server.reset()
                reading = read_child(cmd, child_env(home))
                check(reading, expected, f"replay {name}")
                results[name].append(
                    sample(reading, rec, first_offset, server.written_at, server.rest_at))
    finally:
        server.stop()
    return results


def bench_live(peer: str, rec: Recording, tokens: int, runs: int,
               home: str) -> dict[str, list[Sample]]:
    bias = {"2": -100}
    payload = {"messages": [{"role": "user", "content": "hi"}], "stream": True,
               "max_tokens": tokens, "logit_bias": bias}
    ask = [sys.executable, str(Path(__file__).resolve()), "--as-ask", "--", "ask",
           "--base-url", peer, "--max-tokens", str(tokens), "hi"]
    env = child_env(home, {LOGIT_BIAS_ENV: json.dumps(bias)})
    results: dict[str, list[Sample]] = {"curl -N": [], "llama-tui ask": []}
    for _ in range(runs):
        reading = read_child(curl_cmd(peer.rstrip("/") + "/chat/completions", payload), env)
        if reading.code != 0:
            raise SystemExit(f"live curl failed: {reading.stderr}")
        # Live ids and timestamps differ from the recording: find this run's first content event.
        live = parse_recording(reading.output, rec.content_type)
        offset = len(b"".join(live.events[: live.first_content + 1]))
        results["curl -N"].append(sample(reading, live, offset))

        reading = read_child(ask, env)
        check(reading, (rec.text + "\n").encode("utf-8"), "live ask")
        results["llama-tui ask"].append(sample(reading, rec, 1))
    return results


# -- report -----------------------------------------------------------------------------------

def median(values: list[float | None]) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return "n/a"
    m = statistics.median(present)
    if abs(m) >= 100:
        return f"{m:,.0f}"
    return f"{m:.1f}" if abs(m) >= 10 else f"{m:.2f}"


def table(rows: list[tuple[str, str, list[Sample]]]) -> str:
    lines = [
        "| stream | client | first char after first content byte on socket (ms) "
        "| first char after spawn (ms) | tokens/s | MB/s (SSE) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for stream, client, samples in rows:
        lines.append(
            f"| {stream} | {client} | {median([s.first_char_ms for s in samples])} "
            f"| {median([s.spawn_to_first_ms for s in samples])} "
            f"| {median([s.tokens_per_s for s in samples])} "
            f"| {median([s.mb_per_s for s in samples])} |"
        )
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--as-ask":
        sys.exit(run_ask_with_extra_body(sys.argv[3:] if sys.argv[2:3] == ["--"] else sys.argv[2:]))
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peer", default=os.environ.get("LLAMA_TUI_PEER_URL")
                        or "http://127.0.0.1:8090/v1")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--no-live", action="store_true", help="only the replay part")
    args = parser.parse_args()
    if shutil.which("curl") is None:
        raise SystemExit("curl is needed")

    started = time.perf_counter()
    rec = record(args.peer, args.tokens)
    with tempfile.TemporaryDirectory(prefix="llama-tui-bench-") as home:
        saved = Path(home) / "peer-stream.sse"
        saved.write_bytes(rec.body)
        replay = bench_replay(rec, args.runs, home)
        live = {} if args.no_live else bench_live(args.peer, rec, args.tokens, args.runs, home)

    rows = [("replay", name, samples) for name, samples in replay.items()]
    rows += [("live peer", name + (" (+logit_bias)" if "ask" in name else ""), samples)
             for name, samples in live.items()]
    print(f"Stream: {rec.tokens} content events, {len(rec.body):,} bytes of SSE recorded from "
          f"{args.peer} (logit_bias {{\"2\": -100}}, max_tokens {args.tokens}).")
    print(f"Medians of {args.runs} runs; Python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, {platform.platform()}.\n")
    print(table(rows))
    print("\nReproduce: `cd " + str(ROOT) + " && /tmp/venv/bin/python tests/benchmarks/bench_ask.py"
          + f" --peer {args.peer} --runs {args.runs} --tokens {args.tokens}`")
    print(f"(took {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
