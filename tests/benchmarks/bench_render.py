"""Streaming a 4,000-token Markdown reply, measured from outside as a user sees it.

    /tmp/venv/bin/python tests/benchmarks/bench_render.py                 # full speed
    /tmp/venv/bin/python tests/benchmarks/bench_render.py --rate 100      # paced, 100 tokens/s
    /tmp/venv/bin/python tests/benchmarks/bench_render.py --bursts 8      # 8 bursts of 500

Each target (llama-tui; llama-tui with the MarkdownStream renderer it had before #6; a bare
Textual app with one `Markdown` fed by `Markdown.get_stream()`; a plain-text printer,
`llama-tui ask`; Elia 1.10 when installed in /tmp/elia-venv) runs in a 120x36 pty read by a
terminal emulator (pyte), against the same stream from streamserver.py (its own process).
The first event ("# Quic") comes alone, 0.5 s later the other 3,997 follow.

Columns: first char = when the first event's text is on screen, after the server wrote it;
last token = when the reply's last words are on screen, after the server wrote the last event;
stream = from the server's second event to the last words on screen; CPU = the app's user+system
time (/proc/<pid>/stat) from the second event until its output settles (0.5 s without a byte),
per token, and as % of one core while streaming; bytes = what the app wrote to the terminal
from the first event until it settled, and that divided by the plain printer's bytes.
With --rate, "last 500 / first 500" compares the CPU spent while the server sent events
3,501-4,000 (until the last is on screen) with events 2-501. With --bursts the reply comes in
bursts of 500 events at full speed, 1.5 s apart; CPU is per burst, until the next one starts
(the last: until its last token is on screen), and "last / first" compares the two.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import queue
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.benchmarks.ptyharness import PtyRun, squash  # noqa: E402
from tests.benchmarks.streamserver import reply_pieces  # noqa: E402
from tests.benchmarks.targets import Target, all_targets, variant  # noqa: E402


class StreamServer:
    """streamserver.py in a child process; `reply()` returns the stamps of the next stream."""

    def __init__(self, tokens: int, rate: float, burst: int = 0, gap: float = 1.5) -> None:
        argv = [sys.executable, str(Path(__file__).with_name("streamserver.py")),
                "--tokens", str(tokens), "--rate", str(rate)]
        if burst:
            argv += ["--burst", str(burst), "--gap", str(gap)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline().split()[1])
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.lines: queue.Queue[dict[str, object]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))

    def reply(self, timeout: float) -> list[float]:
        sent = self.lines.get(timeout=timeout)["sent"]
        assert isinstance(sent, list)
        return sent

    def drain(self) -> None:
        while not self.lines.empty():
            self.lines.get_nowait()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)


@dataclass
class Result:
    target: str
    first_ms: float
    last_ms: float
    stream_s: float
    cpu_ms_per_token: float
    cpu_pct: float
    flat: float | None
    bursts: list[float] | None
    bytes: int
    peak_rss_mb: float
    timed_out: bool = False


def tail_marker(text: str, min_chars: int = 24) -> str:
    """The reply's last words: enough to be unique in the reply (letters and digits)."""
    words = text.rstrip().splitlines()[-1].split()
    marker = ""
    for i in range(len(words) - 1, -1, -1):
        marker = " ".join(words[i:])
        if len(squash(marker)) >= min_chars and squash(text).count(squash(marker)) == 1:
            break
    return marker


def measure(target: Target, server: StreamServer, pieces: list[str], args: argparse.Namespace
            ) -> Result:
    env, home = target.prepare(server.base_url)
    run = PtyRun(target.argv, env, cwd=str(ROOT)).start()
    try:
        if target.ready:
            ready = run.watch("ready", target.ready)
            if not run.wait_for(ready, timeout=60):
                raise SystemExit(f"{target.name} never showed {target.ready!r}:\n{run.text()}")
            run.settle(0.3, 3)
        first = run.watch("first", pieces[0], target.columns)
        last = run.watch("last", tail_marker("".join(pieces)), target.columns)
        server.drain()
        if target.send:
            run.type(target.send)
        timeout = args.slow_timeout if target.slow else args.timeout
        if target.draws:
            seen = run.wait_for(first, last, timeout=timeout)
            sent = server.reply(timeout=timeout if seen else 30)
        else:  # nothing to see: until the server is done
            sent = pump_until_reply(run, server, timeout)
            seen = True
            first.seen_at = last.seen_at = sent[-1]
        end = run.settle(0.5, 15)
        if not seen:
            print(f"  {target.name}: last words not on screen after {timeout:.0f} s; screen:\n"
                  + run.text(), file=sys.stderr)
        return result(target, run, sent, first.seen_at, last.seen_at, end, args)
    finally:
        run.stop()
        shutil.rmtree(home, ignore_errors=True)


def pump_until_reply(run: PtyRun, server: StreamServer, timeout: float) -> list[float]:
    deadline = time.monotonic() + timeout
    while server.lines.empty() and time.monotonic() < deadline:
        run.pump(0.05)
    return server.reply(timeout=1)


def result(target: Target, run: PtyRun, sent: list[float], first_at: float | None,
           last_at: float | None, end: float, args: argparse.Namespace) -> Result:
    n = len(sent)
    timed_out = last_at is None
    shown = last_at if last_at is not None else end
    cpu = run.cpu_at
    streaming = max(shown - sent[1], 1e-9)
    flat = None
    if args.rate and n > 1000:
        first500 = cpu(sent[501]) - cpu(sent[1])
        last500 = cpu(max(shown, sent[-1])) - cpu(sent[n - 500])
        flat = last500 / first500 if first500 > 0 else None
    bursts = None
    if args.bursts:  # each burst until the next starts; the last until its last token shows
        starts = [sent[i] for i in range(1, n, args.burst)] + [max(shown, sent[-1])]
        bursts = [cpu(b) - cpu(a) for a, b in itertools.pairwise(starts)]
    return Result(
        target=target.name,
        first_ms=((first_at - sent[0]) * 1000) if first_at else float("nan"),
        last_ms=(shown - sent[-1]) * 1000,
        stream_s=streaming,
        cpu_ms_per_token=(cpu(end) - cpu(sent[1])) / (n - 1) * 1000,
        cpu_pct=(cpu(shown) - cpu(sent[1])) / streaming * 100,
        flat=flat,
        bursts=bursts,
        bytes=run.bytes_between(sent[0], end),
        peak_rss_mb=run.peak_rss_kb() / 1024,
        timed_out=timed_out,
    )


def med(values: list[float]) -> float:
    return statistics.median(values)


def fmt(value: float | None, digits: int = 0) -> str:
    if value is None or value != value:
        return "n/a"
    return f"{value:,.{digits}f}"


def table(results: dict[str, list[Result]], args: argparse.Namespace) -> str:
    printer = next((rs for name, rs in results.items() if name.startswith("plain")), None)
    printer_bytes = med([r.bytes for r in printer]) if printer else None
    head = ("| target | runs | first char (ms) | last token after last byte (ms) | stream (s) "
            "| CPU per token (ms) | CPU while streaming (% of a core) |")
    rule = "|---|---:|---:|---:|---:|---:|---:|"
    if args.rate:
        head += " last 500 / first 500 |"
        rule += "---:|"
    if args.bursts:
        head += " CPU per burst of 500 (ms) | last / first burst |"
        rule += "---|---:|"
    head += " terminal bytes | × plain printer | peak RSS (MB) |"
    rule += "---:|---:|---:|"
    lines = [head, rule]
    for name, rs in results.items():
        b = med([r.bytes for r in rs])
        late = " (timed out)" if any(r.timed_out for r in rs) else ""
        row = (f"| {name}{late} | {len(rs)} | {fmt(med([r.first_ms for r in rs]))} "
               f"| {fmt(med([r.last_ms for r in rs]))} | {fmt(med([r.stream_s for r in rs]), 2)} "
               f"| {fmt(med([r.cpu_ms_per_token for r in rs]), 3)} "
               f"| {fmt(med([r.cpu_pct for r in rs]), 1)} |")
        if args.rate:
            flats = [r.flat for r in rs if r.flat is not None]
            row += f" {fmt(med(flats), 2) if flats else 'n/a'} |"
        if args.bursts:
            per = [med([r.bursts[i] for r in rs if r.bursts]) * 1000
                   for i in range(len(rs[0].bursts or []))]
            ratio_b = per[-1] / per[0] if per and per[0] else float("nan")
            row += " " + " · ".join(f"{v:.0f}" for v in per) + f" | {ratio_b:.2f} |"
        ratio = f"{b / printer_bytes:,.1f}" if printer_bytes else "n/a"
        row += f" {b:,.0f} | {ratio} | {fmt(med([r.peak_rss_mb for r in rs]))} |"
        lines.append(row)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=0.0, help="events/s (0: full speed)")
    parser.add_argument("--bursts", type=int, default=0, help="bursts of --burst events")
    parser.add_argument("--burst", type=int, default=500)
    parser.add_argument("--tokens", type=int, default=4000)
    parser.add_argument("--runs", type=int, default=3, help="runs of each fast target")
    parser.add_argument("--targets", default="", help="comma-separated name prefixes")
    parser.add_argument("--variants", default="",
                        help='llama-tui variants to compare: "FPS:STEP", "off", "@PATH" (a checkout)')
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument("--slow-timeout", type=float, default=200)
    args = parser.parse_args()
    if args.bursts:
        args.tokens = args.bursts * args.burst
    targets = all_targets()
    if args.targets:
        wanted = [w.strip().lower() for w in args.targets.split(",")]
        targets = {k: v for k, v in targets.items() if any(k.lower().startswith(w) for w in wanted)}
    for spec in filter(None, args.variants.split(",")):
        targets[variant(spec).name] = variant(spec)
    if args.rate or args.bursts:  # the quadratic ones cannot keep up: full speed shows them
        targets = {k: v for k, v in targets.items() if not v.slow or args.targets}
    started = time.monotonic()
    pieces = reply_pieces(args.tokens)
    server = StreamServer(args.tokens, args.rate, args.burst if args.bursts else 0)
    results: dict[str, list[Result]] = {}
    try:
        # Round robin: this machine's speed drifts by up to ~1.5x over minutes, so every
        # target's runs are spread over the same stretch of time.
        for run in range(args.runs):
            for name, target in targets.items():
                if run and target.slow:
                    continue
                r = measure(target, server, pieces, args)
                results.setdefault(name, []).append(r)
                print(f"  {name}: last token {r.last_ms:.0f} ms, stream {r.stream_s:.2f} s, "
                      f"{r.cpu_ms_per_token:.3f} ms CPU/token,"
                      f" {r.bytes:,} bytes", file=sys.stderr)
    finally:
        server.stop()
    mode = (f"paced at {args.rate:g} events/s" if args.rate else
            f"{args.bursts} bursts of {args.burst} at full speed" if args.bursts else "full speed")
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"{len(pieces)} events ({len(''.join(pieces)):,} characters of Markdown), {mode}; "
          f"medians; Python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"load average {load}.\n")
    print(table(results, args))
    command = " ".join(["/tmp/venv/bin/python tests/benchmarks/bench_render.py", *sys.argv[1:]])
    print(f"\nReproduce: `{command}` (took {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
