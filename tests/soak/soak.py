"""Soak: many replies with random faults against the fake server; nothing lost, memory flat.

    python -m tests.soak.soak [--replies 500] [--minutes 30] [--seed 1]

Not a pytest test (it takes minutes). It drives the real app headless with Textual's Pilot in
this process (the same code path as a user: prompt widget, reply worker, checkpoints, saves),
against the scripted fake server on a real socket. Each reply gets one fault:

    ok         a normal stream               slow       a slow stream (~2 s)
    stall      text, then silence: timeout   drop       text, then the connection drops
    garbage    text, then bytes that are not SSE JSON
    retry-500  HTTP 500 once, then a reply   retry-429  HTTP 429 + retry-after-ms, then a reply
    fail-500   HTTP 500 until retries run out (no text; the reply is marked failed)
    hostile    escape sequences and bidi controls in the text (stored sanitised)
    cancel     escape mid-stream             switch     another conversation opened mid-stream
    disk       saving fails (ENOSPC) for ~1.5 s mid-reply, then works again

After each reply the expected outcome (text the server sent before the fault, finish reason) is
recorded; at the end every conversation file is parsed by a fresh store and compared with that
ledger. Prints RSS start (after warm-up) / end / max, and RSS each time a new conversation
starts (the same screen, after a full collection: the slope of these is the leak test),
replies ok or failed per fault kind, files parsed, messages lost. The fake server runs in
this process: its request log is cleared after every reply.

With `--trace N`, tracemalloc runs from the start (so what is freed later is seen going) and
the end compares the same screen (a new conversation) at reply N and at the end: how full
Textual's and Rich's memo caches got and what emptying them frees, then what is left by
allocation site (12 frames). It slows the app ~3x and costs RSS of its own; use it to find a
slope, not to measure RSS. `--census N` is the cheap one, no tracing: objects and bytes per
type at reply N and at the end, who holds the new ones and the removed replies still alive
(it turns off the app's gc.freeze, which hides long-lived objects from gc).
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import gc
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FAULTS = {"ok": 30, "slow": 4, "stall": 6, "drop": 6, "garbage": 6, "retry-500": 6,
          "retry-429": 6, "fail-500": 4, "hostile": 6, "cancel": 8, "switch": 6, "disk": 6}
HOSTILE = ["plain ", "\x1b]52;c;SGVsbG8=\x07", " \x1b]0;title\x07", " \x1b[31mred\x1b[0m",
           " \x9b2J", " \u202eevil\u202c", " [bold]markup[/]"]
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE / 2**20


def _memo_caches() -> str:
    """How full Textual's and Rich's memo caches are (ui.caches empties them over its limit),
    and among them the `StylesCache.get_inner_outer` lru_cache(1024), which kept the render
    caches of removed widgets alive (Textualize/textual#6665; emptied on every switch)."""
    from textual._styles_cache import StylesCache

    from llama_tui.ui import caches

    return (f"memo caches {caches.entries()} entries, of them removed widgets' styles "
            f"{StylesCache.get_inner_outer.cache_info().currsize}")


@dataclass
class Expected:
    fault: str
    conv_id: str
    index: int            # of the assistant message in the conversation
    prompt: str
    text: str             # exact text, or the text it must be a prefix of ("cancel")
    finish_reason: str
    prefix: bool = False


def _slope(points: list[tuple[int, float]]) -> float:
    """Least-squares growth per reply."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / var if var else 0.0


def _type_sizes() -> dict[str, tuple[int, int]]:
    """(objects, bytes: their own sizes, not what they refer to) per type, of what gc lists
    (not what gc.freeze hid at start-up: nothing made since)."""
    sizes: dict[str, list[int]] = {}
    for obj in gc.get_objects():
        entry = sizes.setdefault(f"{type(obj).__module__}.{type(obj).__qualname__}", [0, 0])
        entry[0] += 1
        entry[1] += sys.getsizeof(obj)
    return {name: (count, size) for name, (count, size) in sizes.items()}


def _holders_of(targets: list[Any], limit: int = 10) -> list[tuple[int, str]]:
    """For each target, the first object up its chain of referrers that is not a strip, a
    cache or a container (a widget, a styles cache, a screen...), counted per type. Only
    with `--census`, which keeps gc.freeze from hiding the app's long-lived objects."""
    from textual.cache import FIFOCache, LRUCache
    from textual.strip import Strip

    see_through = (Strip, FIFOCache, LRUCache, dict, list, tuple, set, frozenset)
    objects = gc.get_objects()
    parents: dict[int, list[Any]] = {}
    for obj in objects:
        for child in gc.get_referents(obj):
            parents.setdefault(id(child), []).append(obj)
    mine = {id(objects), id(targets)}
    roots: Counter[str] = Counter()
    for target in targets:
        seen, frontier, found = {id(target)}, [target], ""
        while frontier and not found and len(seen) < 500:
            up = []
            for obj in frontier:
                for parent in parents.get(id(obj), ()):
                    if id(parent) in seen or id(parent) in mine:
                        continue
                    seen.add(id(parent))
                    if not isinstance(parent, see_through):
                        found = f"{type(parent).__module__}.{type(parent).__qualname__}"
                        node = getattr(parent, "node", None) or parent
                        found += f" ({type(node).__qualname__} {getattr(node, 'id', '') or ''})"
                        break
                    up.append(parent)
                if found:
                    break
            frontier = up
        roots[found or "(none found)"] += 1
    return [(count, name) for name, count in roots.most_common(limit)]


def _lru_caches() -> dict[str, Any]:
    """Textual's and Rich's memo caches (what ui.caches empties), by name."""
    from llama_tui.ui import caches

    return {f"{f.__module__}.{f.__qualname__}": f for f in caches.lru_caches()}


def _words(rng: random.Random, n: int) -> list[str]:
    vocab = ["llama", "token", "stream", "café", "naïve", "🙂", "résumé", "**bold**", "`code`",
             "\n", "- item\n", "über", "中文", "value", "42"]
    return [rng.choice(vocab) + " " for _ in range(n)]


def script(fault: str, rng: random.Random) -> tuple[list[Any], str, str]:
    """(responses to enqueue, the text the client will receive, the finish reason)."""
    from llama_tui.sanitize import sanitize
    from tests.fakeserver import chat_stream, disconnect_after, error_response, stall_after
    from tests.fakeserver.scripts import SSE_TYPE
    from tests.fakeserver.server import Response, Send

    pieces = _words(rng, rng.randint(5, 60))
    text = "".join(pieces)
    delay = 0.005
    error500 = error_response(500, {"error": {"message": "overloaded"}})
    if fault == "slow":
        return [chat_stream(pieces[:40], delay=0.05)], "".join(pieces[:40]), "stop"
    if fault in ("cancel", "switch", "disk"):
        pieces = _words(rng, 80)
        return [chat_stream(pieces, delay=0.03)], "".join(pieces), "stop"
    if fault == "stall":
        return [stall_after(pieces, 30)], text, "error"
    if fault == "drop":
        return [disconnect_after(pieces)], text, "error"
    if fault == "garbage":
        chunks = [f"data: {json.dumps({'choices': [{'delta': {'content': p}}]})}\n\n".encode()
                  for p in pieces]
        junk = Send(b"data: {\"choices\": [\xff\xfe\n\n")
        return [Response(headers={"content-type": SSE_TYPE}, steps=[*map(Send, chunks), junk])], \
            text, "error"
    if fault == "retry-500":
        return [error500, chat_stream(pieces, delay=delay)], text, "stop"
    if fault == "retry-429":
        slow_down = error_response(429, {"error": {"message": "slow down"}},
                                   headers={"retry-after-ms": "50"})
        return [slow_down, chat_stream(pieces, delay=delay)], text, "stop"
    if fault == "fail-500":
        return [error500, error500, error500], "", "error"
    if fault == "hostile":
        pieces = pieces[:5] + HOSTILE + pieces[5:]
        return [chat_stream(pieces, delay=delay)], sanitize("".join(pieces)), "stop"
    return [chat_stream(pieces, delay=delay)], text, "stop"


class Soak:
    def __init__(self, args: argparse.Namespace, home: Path) -> None:
        self.args, self.home = args, home
        self.rng = random.Random(args.seed)
        self.ledger: list[Expected] = []
        self.outcome: Counter[tuple[str, str]] = Counter()
        self.problems: list[str] = []
        self.rss: list[float] = []
        self.same_state: list[tuple[int, float]] = []  # (reply, RSS) at each new conversation
        self.trace_start: Any = None
        self.census_start: tuple[int, dict[str, tuple[int, int]]] | None = None

    async def run(self) -> None:
        from llama_tui import engine as engine_module
        from llama_tui.ui.app import make_app
        from tests.fakeserver import FakeServer
        from tests.ui.conftest import wait_for

        engine_module.SAVE_RETRY_SECONDS = 1.0
        with FakeServer() as server:
            self.server = server
            self._write_config(server)
            app = make_app(probe_servers=())
            async with app.run_test(size=(120, 36)) as pilot:
                self.app, self.pilot, self.wait_for = app, pilot, wait_for
                await self._loop()

    def _write_config(self, server: Any) -> None:
        path = self.home / "config" / "config.toml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f'default_endpoint = "fake"\n[endpoints.fake]\nurl = "{server.base_url}/v1"\n'
                        'key = "sk-soak"\nread_timeout = 1.5\nmax_retries = 2\n', "utf-8")
        path.chmod(0o600)

    async def _loop(self) -> None:
        names, weights = zip(*FAULTS.items(), strict=True)
        budget = self.args.minutes * 60 / self.args.replies
        started = time.monotonic()
        for n in range(self.args.replies):
            if n % 5 == 0:
                await self.pilot.press("ctrl+n")
                if n >= 10:  # the same screen each time: an empty conversation
                    gc.collect()
                    self.same_state.append((n, rss_mb()))
                if self.trace_start is None and self.args.trace is not None and n >= self.args.trace:
                    self._trace_begin(n)
                if self.census_start is None and self.args.census is not None and n >= self.args.census:
                    self._census_begin(n)
            fault = self.rng.choices(names, weights)[0]
            try:
                await self._one(n, fault)
            except Exception as exc:  # the soak reports, it does not stop at the first problem
                self.outcome[(fault, "failed")] += 1
                self.problems.append(f"reply {n} ({fault}): {type(exc).__name__}: {exc}")
            with self.server._cond:  # the fake server's request log is not the app's memory
                self.server.requests.clear()
            if n == 10:
                gc.collect()
                self.rss.append(rss_mb())  # the start: after warm-up (imports, first screens)
            elif n > 10:
                self.rss.append(rss_mb())
            ahead = started + (n + 1) * budget - time.monotonic()
            if ahead > 0:
                await self.pilot.pause(ahead)
            if n % 50 == 49:
                last = f", at the last new conversation {self.same_state[-1][1]:.1f} MB" \
                    if self.same_state else ""
                print(f"  {n + 1} replies, {time.monotonic() - started:.0f} s, "
                      f"RSS {rss_mb():.1f} MB{last}, {_memo_caches()}", flush=True)
        await self.wait_for(self.pilot, lambda: not self.app.services.engine.unsaved, timeout=15)
        if self.trace_start is not None or self.census_start is not None:
            await self.pilot.press("ctrl+n")  # the same screen as at their start
            await self.pilot.pause(0.5)
            self.trace_report()  # while the app still runs
            self.census_report()

    def _census_begin(self, n: int) -> None:
        gc.collect()
        self.census_ids = {id(o) for o in gc.get_objects()}  # first: the set is not growth
        self.census_start = (n, _type_sizes())

    def census_report(self, top: int = 15) -> None:
        """What grew since `--census N`, per type: objects and their own bytes."""
        if self.census_start is None:
            return
        at, start = self.census_start
        gc.collect()
        end = _type_sizes()
        growth = {name: (count - start.get(name, (0, 0))[0], size - start.get(name, (0, 0))[1])
                  for name, (count, size) in end.items()}
        total = sum(size for _, size in growth.values())
        print(f"\nobjects gc lists, since reply {at}: {total / 2**20:+.2f} MB (own sizes), "
              f"RSS {rss_mb():.1f} MB; the types that grew most:")
        for name, (count, size) in sorted(growth.items(), key=lambda kv: -kv[1][1])[:top]:
            print(f"  {size / 1024:+9.1f} KiB {count:+7d}  {name}")
        grown = [name for name, (count, _) in sorted(growth.items(), key=lambda kv: -kv[1][1])
                 if count > 0][:4]
        for kind in grown:
            new = [o for o in gc.get_objects() if id(o) not in self.census_ids
                   and f"{type(o).__module__}.{type(o).__qualname__}" == kind]
            print(f"who holds the {len(new)} {kind} made since:")
            for count, name in _holders_of(new, limit=6):
                print(f"  {count:6d}  {name}")
            del new
        from llama_tui.ui.widgets.stream_markdown import StreamMarkdown

        detached = [o for o in gc.get_objects() if isinstance(o, StreamMarkdown) and not o.is_attached]
        print(f"replies removed from the screen but alive: {len(detached)}, held by:")
        for count, name in _holders_of(detached, limit=6):
            print(f"  {count:6d}  {name}")

    def _trace_begin(self, n: int) -> None:
        import tracemalloc

        gc.collect()
        self.trace_at = n
        self.lru_start = {name: f.cache_info().currsize for name, f in _lru_caches().items()}
        self.trace_start = tracemalloc.take_snapshot()
        self.traced_start = tracemalloc.get_traced_memory()[0]

    def trace_report(self, top: int = 12) -> None:
        """What grew since `--trace N`: first the bounded lru caches of Textual and Rich
        (their fill and what emptying them frees), then what is left, by allocation site."""
        import tracemalloc

        if self.trace_start is None:
            return
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - self.traced_start
        print(f"\ntracemalloc since reply {self.trace_at}: {grown / 2**20:+.2f} MB traced, "
              f"RSS {rss_mb():.1f} MB (tracing costs RSS of its own)")
        lrus = _lru_caches()
        fill = sorted(((f.cache_info().currsize, name) for name, f in lrus.items()), reverse=True)
        print("lru caches, entries (start -> end):")
        for size, name in fill[:top]:
            print(f"  {self.lru_start.get(name, 0):6d} -> {size:6d}  {name}")
        before = tracemalloc.get_traced_memory()[0]
        for f in lrus.values():
            f.cache_clear()
        gc.collect()
        freed = before - tracemalloc.get_traced_memory()[0]
        print(f"emptying every lru cache frees {freed / 2**20:.2f} MB (traced), RSS now {rss_mb():.1f} MB")
        end = tracemalloc.take_snapshot()
        ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
        stats = end.filter_traces(ignore).compare_to(self.trace_start.filter_traces(ignore),
                                                    "traceback")
        print(f"what is left, {sum(s.size_diff for s in stats) / 2**20:+.2f} MB, by site:")
        for stat in stats[:top * 2]:
            frames = stat.traceback.format(limit=12, most_recent_first=True)[::2]
            ours = [f for f in frames if "/llama_tui/" in f or "/tests/" in f][:2]
            print(f"  {stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks")
            for line in frames[:3] + ours:
                print(f"      {line.strip()}")

    async def _one(self, n: int, fault: str) -> None:
        from tests.ui.conftest import main, type_and_send

        screen = main(self.app)
        responses, text, finish = script(fault, self.rng)
        for response in responses:
            self.server.enqueue(response)
        prompt = f"prompt {n} ({fault})"
        await type_and_send(self.pilot, prompt)
        conv = screen.current
        assert conv is not None and len(conv.messages) >= 2, "the prompt was not sent"
        assert conv.messages[-2].content == prompt, "the prompt was not sent"
        expected = Expected(fault, conv.id, len(conv.messages) - 1, prompt, text, finish)
        job = self.app.services.engine.reply_for(conv)
        if fault in ("cancel", "switch", "disk"):
            assert job is not None, "a slow reply ended at once"
        if fault == "cancel":
            await self.wait_for(self.pilot, lambda: len(job.parts) >= self.rng.randint(3, 30))
            await self.pilot.press("escape")
            expected.finish_reason, expected.prefix = "cancelled", True
        elif fault == "switch":
            others = [s.id for s in screen.query_one("#sidebar").summaries if s.id != conv.id]
            await self.wait_for(self.pilot, lambda: len(job.parts) >= 5)
            if others:
                await screen.open_id(self.rng.choice(others))
                await self.pilot.pause(0.3)
                await screen.open_id(conv.id)
        elif fault == "disk":
            await self.wait_for(self.pilot, lambda: len(job.parts) >= 3)
            await self._disk_fails_for(1.5)
        await self.wait_for(self.pilot, lambda: self.app.services.engine.reply_for(conv) is None, timeout=30)
        expected.conv_id = conv.id  # a conflict copy would have changed it (none expected)
        self.ledger.append(expected)
        assert not self.server._queue, "the server has responses left: the script slipped"
        reply = conv.messages[expected.index]
        ok = self._matches(expected, reply.content, reply.finish_reason)
        self.outcome[(fault, "ok" if ok else "failed")] += 1
        if not ok:
            self.problems.append(f"reply {n} ({fault}) in memory: {reply.finish_reason} "
                                 f"{reply.content[:60]!r} vs {expected.text[:60]!r}")

    async def _disk_fails_for(self, seconds: float) -> None:
        from llama_tui.storage import atomic

        real = atomic.tempfile.mkstemp

        def full(*args: Any, **kwargs: Any) -> Any:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        atomic.tempfile.mkstemp = full  # type: ignore[assignment]
        try:
            await self.pilot.pause(seconds)
        finally:
            atomic.tempfile.mkstemp = real  # type: ignore[assignment]

    @staticmethod
    def _matches(expected: Expected, content: str, finish_reason: str | None) -> bool:
        if finish_reason != expected.finish_reason:
            return False
        return expected.text.startswith(content) if expected.prefix else content == expected.text

    def verify_files(self) -> tuple[int, int, int]:
        """(files parsed, files that failed to parse, messages lost) by a fresh store."""
        from llama_tui.storage.store import ConversationStore

        store = ConversationStore()
        summaries, problems = store.scan()
        convs = {}
        for summary in summaries:
            try:
                convs[summary.id] = store.load(summary.id)
            except Exception as exc:
                problems.append(f"{summary.path.name}: {exc}")  # type: ignore[arg-type]
        lost = 0
        for exp in self.ledger:
            conv = convs.get(exp.conv_id)
            ok = conv is not None and len(conv.messages) > exp.index
            if ok:
                user, reply = conv.messages[exp.index - 1], conv.messages[exp.index]
                ok = user.content == exp.prompt and self._matches(exp, reply.content,
                                                                  reply.finish_reason)
            if not ok:
                lost += 1
                self.problems.append(f"on disk: {exp.fault} reply in {exp.conv_id} "
                                     f"#{exp.index} lost or different")
        self.problems += [f"unreadable: {p}" for p in problems]
        return len(convs), len(problems), lost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replies", type=int, default=500)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--trace", type=int, metavar="N",
                        help="trace allocations from reply N on; print what grew at the end")
    parser.add_argument("--census", type=int, metavar="N",
                        help="count objects per type at reply N and at the end (cheap; no tracing)")
    args = parser.parse_args()
    if args.census is not None:
        gc.freeze = lambda: None  # type: ignore[assignment]  # gc must see every object
    if args.trace is not None:
        import tracemalloc

        # From the start: an object made before tracing began and freed later is not seen
        # going, so its replacement would look like growth.
        tracemalloc.start(12)
    home = Path(tempfile.mkdtemp(prefix="llama-tui-soak-"))
    os.environ["LLAMA_TUI_HOME"] = str(home)
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from llama_tui.cli import setup_logging
    from llama_tui.config import hide_keys_in_logs

    setup_logging()  # the log file, as the app has it (under the soak's home)
    hide_keys_in_logs()
    soak = Soak(args, home)
    began = time.monotonic()
    print(f"soak: {args.replies} replies over ~{args.minutes:g} min, seed {args.seed}, "
          f"home {home}", flush=True)
    try:
        asyncio.run(soak.run())
    except Exception as exc:  # the app crashed: still check the files and print the numbers
        soak.problems.insert(0, f"the app crashed: {type(exc).__name__}: {exc}"[:500])
    elapsed = time.monotonic() - began
    gc.collect()
    parsed, unreadable, lost = soak.verify_files()
    temps = list((home / "data" / "conversations").glob(".*.tmp"))
    log = home / "state" / "llama-tui.log"
    if log.exists() and b"sk-soak" in log.read_bytes():
        soak.problems.append("the key is in the log")
    rss = soak.rss or [rss_mb()]
    kinds = sorted({fault for fault, _ in soak.outcome})
    print(f"\nduration        {elapsed / 60:.1f} min")
    print(f"replies         {sum(soak.outcome.values())} "
          f"(ok {sum(v for (f, r), v in soak.outcome.items() if r == 'ok')}, "
          f"failed {sum(v for (f, r), v in soak.outcome.items() if r == 'failed')})")
    for kind in kinds:
        print(f"  {kind:<12}  ok {soak.outcome[(kind, 'ok')]:>4}  "
              f"failed {soak.outcome[(kind, 'failed')]:>3}")
    print(f"RSS MB          start {rss[0]:.1f}  end {rss[-1]:.1f}  max {max(rss):.1f}  "
          f"(growth {rss[-1] - rss[0]:+.1f})")
    same = soak.same_state
    if len(same) > 4:
        at = {n: mb for n, mb in same}
        later = [(n, mb) for n, mb in same if n >= 200] or same
        print(f"RSS MB, new conversation after a full collection (same screen each time): "
              f"reply {same[0][0]} {same[0][1]:.1f}, reply 200 {at.get(200, float('nan')):.1f}, "
              f"reply {same[-1][0]} {same[-1][1]:.1f}; from reply {later[0][0]} on "
              f"{_slope(later) * 100:+.2f} MB per 100 replies")
    print(f"files parsed    {parsed} (unreadable {unreadable}, temp files left {len(temps)})")
    print(f"messages lost   {lost}")
    print(f"log             {log.stat().st_size if log.exists() else 0} bytes, key in it: "
          f"{'yes' if 'the key is in the log' in soak.problems else 'no'}")
    for problem in soak.problems[:20]:
        print(f"  problem: {problem}")
    print(json.dumps({"replies": sum(soak.outcome.values()), "minutes": round(elapsed / 60, 1),
                      "rss_start_mb": round(rss[0], 1), "rss_end_mb": round(rss[-1], 1),
                      "rss_max_mb": round(max(rss), 1),
                      "rss_same_state_mb": [[n, round(mb, 1)] for n, mb in same],
                      "files_parsed": parsed,
                      "unreadable": unreadable, "lost": lost, "temp_files": len(temps),
                      "outcomes": {f"{f}:{r}": v for (f, r), v in sorted(soak.outcome.items())}}))
    sys.exit(1 if lost or unreadable or soak.problems else 0)


if __name__ == "__main__":
    main()
