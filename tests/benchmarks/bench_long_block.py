"""One open Markdown block that keeps growing: CPU per token at 1k to 200k tokens.

    .venv/bin/python tests/benchmarks/bench_long_block.py                 # this checkout
    .venv/bin/python tests/benchmarks/bench_long_block.py --variants @/tmp/base  # and another

A hostile or runaway server can send one block that never ends: a paragraph without a blank
line (lines joined by single newlines, or one line with no newline at all) or one code fence.
For each kind and length N, in-process (headless, 120x36, `StreamMarkdown` in a
`MarkdownScroll`): the first N tokens arrive in one piece and are drawn, then tokens arrive
5 per frame (50 tokens/s at 10 frames/s) for `--frames` frames, each frame drawn and painted.
Columns: CPU per token (ms) over those frames; characters the Markdown parser read per token
(a work count: flat means the cost per token does not grow with the block); % of a core at
50 tokens/s; `finish` = the CPU of closing the reply there (what escape waits for).

Each checkout (`@PATH`, a git worktree of another commit) runs in its own process with that
checkout first on `sys.path`, so versions compare side by side in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LENGTHS = (1_000, 10_000, 50_000, 200_000)
KINDS = ("paragraph", "line", "fence")
PER_FRAME = 5


def tokens(kind: str, count: int, start: int = 0) -> list[str]:
    """`count` token-like pieces of one open block, from token `start` on."""
    words = ("the model streams a token and the client renders it while the server keeps "
             "sending more text about latency buffers terminals and widgets").split()
    out = []
    for i in range(start, start + count):
        if kind == "fence":
            if i == 0:
                out.append("```python\n")
            elif i % 8 == 0:
                out.append(f"value_{i} = compute({i}, 'x')\n")
            else:
                out.append(f"x{i % 7} += {i % 13} ")
            continue
        word = words[i % len(words)]
        if kind == "paragraph" and i % 24 == 23:
            out.append(word + ".\n")
        elif i % 12 == 11:
            out.append(word + ". ")
        else:
            out.append(word + " ")
    return out


async def measure(kind: str, length: int, frames: int) -> dict[str, float]:
    from textual.app import App, ComposeResult

    from llama_tui.ui.widgets.block_stream import make_parser
    from llama_tui.ui.widgets.stream_markdown import MarkdownScroll, StreamMarkdown

    parsed = [0]
    parser = make_parser()
    parse = type(parser).parse

    def counting(self, src, env=None):  # type: ignore[no-untyped-def]
        parsed[0] += len(src)
        return parse(self, src, env)

    type(parser).parse = counting  # type: ignore[method-assign]
    body = StreamMarkdown(streaming=True)

    class Page(App[None]):
        def compose(self) -> ComposeResult:
            with MarkdownScroll():
                yield body

    async with Page().run_test(size=(120, 36)) as pilot:
        pilot.app.query_one(MarkdownScroll).anchor()
        body.append("".join(tokens(kind, length)))
        body._advance(final=False)
        await pilot.pause()
        await pilot.pause()
        before, parsed[0] = time.process_time(), 0
        for frame in range(frames):
            body.append("".join(tokens(kind, PER_FRAME, length + frame * PER_FRAME)))
            body._advance(final=False)  # the frame StreamMarkdown's timer would draw
            await pilot.pause()  # painted
        cpu = (time.process_time() - before) / (frames * PER_FRAME)
        chars = parsed[0] / (frames * PER_FRAME)
        before = time.process_time()
        body.finish()
        await pilot.pause()
        finish = time.process_time() - before
    return {"cpu_ms": cpu * 1000, "chars": chars, "finish_ms": finish * 1000}


def worker(args: argparse.Namespace) -> None:
    sys.path.insert(0, args.root)  # this checkout's llama_tui before the installed one
    result = asyncio.run(measure(args.kind, args.length, args.frames))
    import llama_tui

    result["from"] = str(Path(llama_tui.__file__).parents[1])
    print(json.dumps(result))


def run(root: str, kind: str, length: int, frames: int, timeout: float) -> dict[str, float] | None:
    argv = [sys.executable, __file__, "--worker", "--root", root, "--kind", kind,
            "--length", str(length), "--frames", str(frames)]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return None
    except subprocess.CalledProcessError as exc:
        raise SystemExit(exc.stderr) from exc
    result: dict[str, float] = json.loads(out.stdout.splitlines()[-1])
    assert Path(str(result.pop("from"))).resolve() == Path(root).resolve(), result
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default="", help='other checkouts: "@PATH,@PATH"')
    parser.add_argument("--lengths", default=",".join(map(str, LENGTHS)))
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--root", default=str(ROOT), help=argparse.SUPPRESS)
    parser.add_argument("--kind", default="paragraph", help=argparse.SUPPRESS)
    parser.add_argument("--length", type=int, default=1000, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    roots = {"this checkout": str(ROOT)}
    roots.update({spec[1:]: spec[1:] for spec in filter(None, args.variants.split(","))})
    started = time.monotonic()
    print(f"CPU per token with one open block of N tokens, {PER_FRAME} tokens per frame, "
          f"{args.frames} frames; % of a core at 50 tokens/s.\n")
    print("| block | N tokens | checkout | CPU per token (ms) | % core at 50 tok/s "
          "| chars parsed per token | finish (ms) |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for kind in args.kinds.split(","):
        for length in map(int, args.lengths.split(",")):
            for name, root in roots.items():
                r = run(root, kind, length, args.frames, args.timeout)
                if r is None:
                    print(f"| {kind} | {length:,} | {name} | timed out | | | |", flush=True)
                    continue
                print(f"| {kind} | {length:,} | {name} | {r['cpu_ms']:.3f} "
                      f"| {r['cpu_ms'] * 50 / 10:.1f} | {r['chars']:,.0f} "
                      f"| {r['finish_ms']:,.0f} |", flush=True)
    command = " ".join([".venv/bin/python tests/benchmarks/bench_long_block.py", *sys.argv[1:]])
    print(f"\nReproduce: `{command}` (took {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
