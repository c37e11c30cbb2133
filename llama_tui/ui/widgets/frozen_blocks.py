"""The finished part of a streamed Markdown document, for `StreamMarkdown`.

A block is measured when it freezes (rendered without code highlighting, which gives its
height) and painted (code highlighted, turned into strips) only when one of its lines is
drawn. A long reply that arrives in one burst, or one reopened from disk, costs a parse and
a wrap, then only the blocks on screen are painted; Pygments never runs for code that
nobody scrolled to. The lines measured are kept for the newest `MEASURED_BLOCKS` blocks (those
at the bottom of a reply, drawn next) and painted from: only code is rendered again.

Many blocks finishing at once while the view follows the bottom (text that arrived faster
than it was drawn) can be added by `extend`: only the last screenful is measured, the
blocks above it get an estimated height until `settle` measures them, after the frame that
shows the last words (StreamMarkdown says when). The view follows the bottom, so the
estimates are never on screen.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass

from rich.cells import cell_len
from textual.content import Content
from textual.strip import Strip

from llama_tui.ui.widgets.block_stream import Node
from llama_tui.ui.widgets.markdown_blocks import margins

Measure = Callable[[Node], "tuple[list[Content], int, int]"]  # lines, margin above, below
Estimate = Callable[[Node], int]  # a guess of a block's height
Paint = Callable[["FrozenBlock"], list[Strip]]  # a block's strips, exactly `height` rows
MEASURED_BLOCKS = 8


@dataclass
class FrozenBlock:
    node: Node
    first: int  # the row of its first line
    height: int
    top: int  # blank rows it wants above
    bottom: int  # blank rows it wants below
    lines: list[Content] | None = None  # as measured (no highlighting), until painted
    strips: list[Strip] | None = None
    exact: bool = True  # False: `height` is an estimate (see `extend`)
    plain: bool = False  # code painted without highlighting (to be painted again)


class FrozenBlocks:
    """Rows of finished blocks with the blank rows between them (collapsed margins)."""

    def __init__(self) -> None:
        self.blocks: list[FrozenBlock] = []
        self._firsts: list[int] = []
        self.rows = 0

    @property
    def last_bottom(self) -> int | None:
        return self.blocks[-1].bottom if self.blocks else None

    @property
    def estimated(self) -> bool:
        return not all(block.exact for block in self.blocks)

    def append(self, node: Node, measure: Measure) -> None:
        self._add(node, *measure(node))

    def _add(self, node: Node, lines: list[Content] | None, top: int, bottom: int,
             height: int = 0) -> None:
        first = self.rows + (max(self.blocks[-1].bottom, top) if self.blocks else 0)
        if lines is not None:
            height = len(lines)
        if len(self.blocks) >= MEASURED_BLOCKS:
            self.blocks[-MEASURED_BLOCKS].lines = None
        self.blocks.append(FrozenBlock(node, first, height, top, bottom, lines,
                                       exact=lines is not None))
        self._firsts.append(first)
        self.rows = first + height

    def extend(self, nodes: list[Node], measure: Measure, estimate: Estimate,
               rows: int) -> None:
        """Add blocks, measuring only the last ones (at least `rows` rows of them); the
        others get `estimate`d heights until `settle`."""
        measured: dict[int, tuple[list[Content], int, int]] = {}
        total = 0
        for i in range(len(nodes) - 1, -1, -1):
            if total >= rows:
                break
            measured[i] = measure(nodes[i])
            total += len(measured[i][0]) + measured[i][1]
        for i, node in enumerate(nodes):
            if i in measured:
                self._add(node, *measured[i])
            else:
                self._add(node, None, *margins(node), height=estimate(node))

    def settle(self, measure: Measure) -> bool:
        """Measure the blocks whose height was estimated; True if any row moved."""
        moved = False
        rows, self._firsts = 0, []
        for i, block in enumerate(self.blocks):
            if not block.exact:
                lines, _, _ = measure(block.node)
                moved = moved or len(lines) != block.height
                block.height, block.lines, block.strips, block.exact = len(lines), None, None, True
            block.first = rows + (max(self.blocks[i - 1].bottom, block.top) if i else 0)
            self._firsts.append(block.first)
            rows = block.first + block.height
        self.rows = rows
        return moved

    def relayout(self, measure: Measure) -> None:
        """Measure every block again (a new width or look): nothing stays painted."""
        nodes = [block.node for block in self.blocks]
        self.blocks, self._firsts, self.rows = [], [], 0
        for node in nodes:
            self.append(node, measure)

    def strip(self, y: int, paint: Paint) -> Strip | None:
        """Row `y`, painting its block if it was not yet; None for a blank row."""
        index = bisect.bisect_right(self._firsts, y) - 1
        if index < 0:
            return None
        block = self.blocks[index]
        if y >= block.first + block.height:
            return None
        if block.strips is None:
            block.strips, block.lines = paint(block), None
        return block.strips[y - block.first]


def first_difference(old: Strip | None, new: Strip | None) -> int | None:
    """The first cell where two lines differ (None: they are the same)."""
    if old is None or new is None:
        return 0
    x = 0
    for a, b in zip(old, new, strict=False):
        if a != b:
            return x + _common_prefix_cells(a.text, b.text) if a.style == b.style else x
        x += a.cell_length
    return None if len(old) == len(new) else x


def _common_prefix_cells(a: str, b: str) -> int:
    size = 0
    for ca, cb in zip(a, b, strict=False):
        if ca != cb:
            break
        size += cell_len(ca)
    return size
