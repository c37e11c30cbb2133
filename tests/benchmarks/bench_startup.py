"""Startup with a big history, measured from outside in a pty (120x36), medians of --runs.

    /tmp/venv/bin/python tests/benchmarks/bench_startup.py [--count 10000] [--runs 7]

- first paint: from spawn until the main screen is on screen (the new-conversation hint);
- list shown: until the newest (unpinned) conversation's title is in the list;
- RSS with the list shown (after 1 s), and its peak; CPU seconds used to get there;
each with 10,000 conversations (gen_conversations.py; warm index, and without the index),
and with none. Then where the time goes until the first paint (apps/startup_phases.py notes
when each phase ends), and the import time of the app against Textual's alone.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.benchmarks.gen_conversations import ensure  # noqa: E402
from tests.benchmarks.ptyharness import PtyRun  # noqa: E402
from tests.benchmarks.targets import llama_tui_argv  # noqa: E402

HINT = "New conversation. Type below and press Enter"


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLAMA_TUI_", "XDG_"))}
    env["LLAMA_TUI_HOME"] = str(home)
    env["LLAMA_TUI_BASE_URL"] = "http://127.0.0.1:9/v1"  # never contacted: nothing is sent
    return env


def newest_title(home: Path) -> str | None:
    """The newest conversation's title (pinned ones come first in the list, but they can be
    old: on a start without an index they show once every file is read)."""
    from llama_tui.storage.store import ConversationStore

    folder = home / "data" / "conversations"
    summaries, _ = ConversationStore(folder, home / "state" / "index.json").scan()
    return next((s.title for s in summaries if not s.pinned), None)


def start_once(home: Path, title: str | None, argv: list[str] | None = None,
               env: dict[str, str] | None = None) -> dict[str, float]:
    run = PtyRun(argv or llama_tui_argv(), env or env_for(home), cwd=str(ROOT)).start()
    try:
        paint = run.watch("paint", HINT, columns=(34, 120))
        shown = run.watch("list", title[:16], columns=(0, 34)) if title else paint  # as cut
        if not run.wait_for(paint, shown, timeout=30):
            raise SystemExit("the app never showed its main screen:\n" + run.text())
        at = time.monotonic()
        while time.monotonic() - at < 1.0:
            run.pump(0.05)
        settled = time.monotonic()
        assert paint.seen_at is not None and shown.seen_at is not None
        return {"paint": paint.seen_at - run.spawned_at, "list": shown.seen_at - run.spawned_at,
                "rss": run.rss_at(settled) / 1024, "peak": run.peak_rss_kb() / 1024,
                "cpu": run.cpu_at(shown.seen_at), "spawned": run.spawned_at}
    finally:
        run.stop()


def phases(home: Path, title: str | None, runs: int) -> list[tuple[str, float]]:
    """Median length of each startup phase (seconds), from apps/startup_phases.py's stamps."""
    names = ["interpreter ready", "imports done", "scan started", "history scanned",
             "frame written", "on screen"]
    lengths: dict[str, list[float]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as folder:
        stamps_file = Path(folder) / "phases.json"
        env = {**env_for(home), "BENCH_PHASES": str(stamps_file)}
        argv = [sys.executable, str(ROOT / "tests/benchmarks/apps/startup_phases.py")]
        for _ in range(runs):
            measured = start_once(home, title, argv, env)
            stamps = json.loads(stamps_file.read_text())
            stamps["on screen"] = measured["spawned"] + measured["list"]
            # the last frame written before the list was seen: the one that showed it
            stamps["frame written"] = max(t for t in stamps.pop("frames")
                                          if t <= stamps["on screen"])
            previous = measured["spawned"]
            for name in names:
                lengths[name].append(stamps[name] - previous)
                previous = stamps[name]
    return [(name, statistics.median(values)) for name, values in lengths.items()]


PHASES = {
    "interpreter ready": "spawn → Python running (interpreter, site, venv)",
    "imports done": "import llama_tui.ui.app (Textual, httpx via llama_tui.client, config)",
    "scan started": "App start: config, CSS, main screen compose, until on_mount scans",
    "history scanned": "store.scan_newest() (index read, stat of each file, summaries)",
    "frame written": "list filled, new conversation shown, layout, the frame that shows them",
    "on screen": "that frame through the pty to the emulator",
}


def import_seconds(module: str) -> tuple[float, list[tuple[float, str]]]:
    """Median wall time of importing `module` in a fresh interpreter; its costliest direct
    imports (cumulative seconds, from `python -X importtime`)."""
    times = []
    for _ in range(5):
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", f"import {module}"], check=True, cwd=ROOT)
        times.append(time.monotonic() - started)
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"],
                          capture_output=True, text=True, check=True, cwd=ROOT)
    children: list[tuple[float, str]] = []
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( +)(\S+)", line)
        if not match:
            continue
        depth = (len(match.group(2)) - 1) // 2
        if depth == 0 and match.group(3) != module:
            children = []  # another top-level import: not ours
        elif depth == 1:
            children.append((int(match.group(1)) / 1e6, match.group(3)))
        elif depth == 0:
            break
    return statistics.median(times), sorted(children, reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--home", type=Path, default=Path("/tmp/llama-tui-bench-history"))
    args = parser.parse_args()
    started = time.monotonic()
    ensure(args.home, args.count)
    index = args.home / "state" / "index.json"
    title = newest_title(args.home)
    cases: list[tuple[str, list[dict[str, float]]]] = []
    with tempfile.TemporaryDirectory(prefix="llama-tui-empty-") as empty:
        cases.append(("no conversations", [start_once(Path(empty), None)
                                           for _ in range(args.runs)]))
    cases.append((f"{args.count:,} conversations, warm index",
                  [start_once(args.home, title) for _ in range(args.runs)]))
    cold = []
    for _ in range(args.runs):
        index.unlink(missing_ok=True)
        cold.append(start_once(args.home, title))
    cases.append((f"{args.count:,} conversations, no index", cold))

    print(f"Medians of {args.runs} runs; Python {sys.version.split()[0]}, {os.cpu_count()} CPUs."
          "\n\n| history | first paint (s) | list shown (s) | CPU to list shown (s) "
          "| RSS, list shown (MB) | peak RSS (MB) |\n|---|---:|---:|---:|---:|---:|")
    for name, runs in cases:
        m = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(f"| {name} | {m['paint']:.2f} | {m['list']:.2f} | {m['cpu']:.2f} "
              f"| {m['rss']:.0f} | {max(r['peak'] for r in runs):.0f} |")
    print(f"\nWhere the time goes until the list is shown ({args.count:,} conversations, warm "
          "index; medians):\n\n| phase | what | ms |\n|---|---|---:|")
    for name, seconds in phases(args.home, title, args.runs):
        print(f"| {name} | {PHASES[name]} | {seconds * 1000:.0f} |")
    print("\n| import in a fresh interpreter | wall (s) | costliest direct imports (s) |"
          "\n|---|---:|---|")
    for module in ("textual.app", "llama_tui.ui.app"):
        seconds, slowest = import_seconds(module)
        names = ", ".join(f"{name} {s:.2f}" for s, name in slowest[:5])
        print(f"| `import {module}` | {seconds:.2f} | {names} |")
    print(f"\nReproduce: `/tmp/venv/bin/python tests/benchmarks/bench_startup.py "
          f"--count {args.count} --runs {args.runs}` (took {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
