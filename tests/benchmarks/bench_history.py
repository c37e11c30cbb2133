"""Browsing a big history: 10,000 conversations (gen_conversations.py), measured as a user
meets them. Prints a markdown table.

    python tests/benchmarks/bench_history.py [--count 10000] [--runs 5]

- list visible: spawn the app in a pty (120x36) and time until the newest (unpinned)
  conversation's title is on screen: warm index, cold index (index deleted), and after
  another program changed 200 files while the app was closed;
- RSS of the app with the list shown;
- open: time for `open_id()` to mount a conversation's newest messages, and until the
  screen has settled, over 40 conversations (in-process, Pilot, 1 s after start); the
  1,000-message one;
- `llama-tui list` for all of them (cold and warm index);
- full-text search over all of them (a frequent word, a rare phrase, a miss).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.benchmarks.gen_conversations import BIG_TITLE, ensure  # noqa: E402
from tests.benchmarks.ptyharness import PtyRun  # noqa: E402


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLAMA_TUI_")}
    env["LLAMA_TUI_HOME"] = str(home)
    env["LLAMA_TUI_BASE_URL"] = "http://127.0.0.1:9/v1"  # never contacted: no prompt is sent
    return env


def newest_title(folder: Path) -> str:
    from llama_tui.storage.store import ConversationStore

    summaries, _ = ConversationStore(folder, folder.parent.parent / "state" / "index.json").scan()
    # Pinned ones sort first but can be old: on a cold start they join with the full scan.
    return next(s.title for s in summaries if not s.pinned)


def list_visible(home: Path, title: str) -> tuple[float, int]:
    """Seconds from spawn until `title` shows in the list; RSS (kB) a moment later."""
    run = PtyRun([sys.executable, "-m", "llama_tui"], env_for(home)).start()
    try:
        watch = run.watch("newest", title[:16], columns=(0, 34))
        if not run.wait_for(watch, timeout=20):
            raise RuntimeError("the list never showed the newest conversation:\n" + run.text())
        run.settle(0.3, 3)
        return watch.seen_at - run.spawned_at, run.peak_rss_kb()  # type: ignore[operator]
    finally:
        run.type("\x11")  # ctrl+q
        time.sleep(0.2)
        run.stop()


def touch_some(folder: Path, count: int) -> None:
    files = sorted(folder.glob("*.toml"))
    for path in random.Random(1).sample(files, count):
        path.write_text(path.read_text("utf-8").replace("updated_at", "updated_at", 1) + "\n")


def cli_list(home: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "llama_tui", "list"], env=env_for(home),
                          capture_output=True, text=True, check=True)
    assert len(done.stdout.splitlines()) >= 1000, done.stdout[:200]
    return time.perf_counter() - started


async def open_times(home: Path, samples: int) -> tuple[list[float], list[float], float, int]:
    os.environ.update(env_for(home))
    from llama_tui.ui.app import make_app
    from llama_tui.ui.widgets.chat_view import ChatView

    app = make_app(probe_servers=())
    mounted, settled = [], []
    async with app.run_test(size=(120, 36)) as pilot:
        screen = app.screen
        # As a user who picks a conversation a moment after start: by then (1 s) the app has
        # loaded the Markdown parser and Pygments in the background (screens/main.settle_in).
        await pilot.pause(1.0)
        await app.workers.wait_for_complete([w for w in app.workers if w.group == "warm-up"])
        summaries = screen.query_one("#sidebar").summaries  # type: ignore[attr-defined]
        chosen = random.Random(2).sample(summaries, samples)
        for summary in chosen:
            start = time.perf_counter()
            await screen.open_id(summary.id)  # type: ignore[attr-defined]
            mounted.append(time.perf_counter() - start)
            await pilot.pause()
            settled.append(time.perf_counter() - start)
        big = next(s for s in summaries if s.title == BIG_TITLE)
        start = time.perf_counter()
        await screen.open_id(big.id)  # type: ignore[attr-defined]
        big_ms = time.perf_counter() - start
        await pilot.pause()
        widgets = len(screen.query_one(ChatView).children)
    return mounted, settled, big_ms, widgets


def search_times(folder: Path) -> list[tuple[str, int, float]]:
    from llama_tui.search import search
    from llama_tui.storage.store import ConversationStore

    summaries, _ = ConversationStore(folder, folder.parent.parent / "state" / "index.json").scan()
    out = []
    for query in ("latency", "résumé after quickly", "no-such-word-anywhere"):
        start = time.perf_counter()
        hits = search(summaries, query)
        out.append((query, len(hits), time.perf_counter() - start))
    return out


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description="browse a big history, measured")
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--home", type=Path, default=Path("/tmp/llama-tui-bench-history"))
    args = parser.parse_args()
    folder = ensure(args.home, args.count)
    index = args.home / "state" / "index.json"
    title = newest_title(folder)
    rows: list[tuple[str, str]] = []

    warm = [list_visible(args.home, title) for _ in range(args.runs)]
    rows.append(("list visible, warm index (median)", ms(statistics.median(t for t, _ in warm))))
    rows.append(("RSS with the list shown (max)", f"{max(r for _, r in warm) / 1024:.0f} MB"))
    cold = []
    for _ in range(args.runs):
        index.unlink(missing_ok=True)
        cold.append(list_visible(args.home, title)[0])
    rows.append(("list visible, no index (median)", ms(statistics.median(cold))))
    changed = []
    for _ in range(args.runs):
        list_visible(args.home, title)  # index complete again
        touch_some(folder, 200)
        changed.append(list_visible(args.home, title)[0])
    rows.append(("list visible, 200 files changed by another program (median)",
                 ms(statistics.median(changed))))

    mounted, settled, big, widgets = asyncio.run(open_times(args.home, 40))
    rows.append(("open: newest messages mounted (median / max of 40)",
                 f"{ms(statistics.median(mounted))} / {ms(max(mounted))}"))
    rows.append(("open: screen settled (median / max of 40)",
                 f"{ms(statistics.median(settled))} / {ms(max(settled))}"))
    rows.append(("open the 1,000-message conversation (widgets mounted)",
                 f"{ms(big)} ({widgets} widgets)"))

    index.unlink(missing_ok=True)
    rows.append(("`llama-tui list`, no index", ms(cli_list(args.home))))
    rows.append(("`llama-tui list`, warm (median of 3)",
                 ms(statistics.median(cli_list(args.home) for _ in range(3)))))
    for query, hits, seconds in search_times(folder):
        rows.append((f"search {query!r} ({hits} hits)", ms(seconds)))

    print(f"\n{args.count} conversations, {sum(1 for _ in folder.glob('*.toml'))} files, "
          f"{sum(p.stat().st_size for p in folder.glob('*.toml')) / 1e6:.0f} MB\n")
    print("| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
