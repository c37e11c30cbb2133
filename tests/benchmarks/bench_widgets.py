"""Why one widget for a whole reply: the cost of one tail update as the reply grows.

    /tmp/venv/bin/python tests/benchmarks/bench_widgets.py

In-process (headless, 120x36, an anchored VerticalScroll, as in the chat). A reply of N
finished blocks is drawn two ways, then its open tail is updated 40 times (each update waits
for the screen to refresh); the table shows the CPU per update:
- "a widget per block": each finished block its own Static, the tail a Static (the shape of
  Textual's Markdown, which also nests widgets for list items and table cells);
- "one StreamMarkdown": all blocks in one Line-API widget, tail updates repaint changed lines.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from textual.app import App, ComposeResult  # noqa: E402
from textual.content import Content  # noqa: E402
from textual.widget import Widget  # noqa: E402
from textual.widgets import Static  # noqa: E402

from llama_tui.ui.widgets.stream_markdown import MarkdownScroll, StreamMarkdown  # noqa: E402
from tests.fakeserver.markdown import markdown_reply  # noqa: E402

UPDATES = 40


class Page(App[None]):
    CSS = "MarkdownScroll > Static { margin-bottom: 1; }"

    def __init__(self, widgets: list[Widget]) -> None:
        super().__init__()
        self.widgets = widgets

    def compose(self) -> ComposeResult:
        with MarkdownScroll():  # a VerticalScroll carrying the Markdown styles
            yield from self.widgets


def paragraphs(n: int) -> list[str]:
    text = "".join(markdown_reply(n * 40, seed=3))
    blocks = [b for b in text.split("\n\n") if b.strip()]
    return (blocks * (n // max(len(blocks), 1) + 1))[:n]


async def per_block(n: int) -> float:
    tail = Static(Content("tail"))
    widgets: list[Widget] = [Static(Content(b)) for b in paragraphs(n)]
    async with Page([*widgets, tail]).run_test(size=(120, 36)) as pilot:
        pilot.app.query_one(MarkdownScroll).anchor()
        tail.update(Content("warm-up"))
        await pilot.pause(0.3)
        started = time.process_time()
        for i in range(UPDATES):
            tail.update(Content("the open tail grows " * (i + 1)))
            await pilot.pause()
        return (time.process_time() - started) / UPDATES


async def one_widget(n: int) -> float:
    body = StreamMarkdown("\n\n".join(paragraphs(n)) + "\n\n", streaming=True)
    body.FRAME_SECONDS = 0.0
    async with Page([body]).run_test(size=(120, 36)) as pilot:
        pilot.app.query_one(MarkdownScroll).anchor()
        body.append("warm-up ")  # the scrollbar appears: one render at the new width
        await pilot.pause(0.3)
        started = time.process_time()
        for _ in range(UPDATES):
            body.append("the open tail grows ")
            await pilot.pause()
        return (time.process_time() - started) / UPDATES


async def main() -> None:
    print(f"CPU per tail update (ms), mean of {UPDATES}; the reply has N finished blocks.\n")
    print("| N blocks | a widget per block | one StreamMarkdown |\n|---:|---:|---:|")
    for n in (10, 50, 150, 600):
        a, b = await per_block(n), await one_widget(n)
        print(f"| {n} | {a * 1000:.1f} | {b * 1000:.1f} |")
    print("\nReproduce: `/tmp/venv/bin/python tests/benchmarks/bench_widgets.py`")


if __name__ == "__main__":
    asyncio.run(main())
