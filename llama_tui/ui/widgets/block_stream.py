"""Markdown arriving in pieces, cut into top-level blocks: finished ones and the open tail.

A block is finished once the first line of the next block is complete. From then on no later
text can change it: CommonMark decides block structure line by line, and the constructs that
reinterpret earlier lines (a setext underline, a table's delimiter row, a lazy continuation)
only ever change the block still open. Waiting for the next block's first line to be complete
covers pieces such as "2" that become "2." (the next item of the same list) a token later.
Finished blocks' source is never parsed again; only the open part is, each time it grows.

The one difference from parsing the whole text at once: a link reference definition
(`[x]: https://…`) only applies to blocks after it, as it did with Textual's MarkdownStream.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # markdown-it is imported with the first reply, not at startup
    from markdown_it import MarkdownIt
    from markdown_it.rules_core import StateCore
    from markdown_it.token import Token


def _hard_breaks(state: StateCore) -> None:
    for token in state.tokens:
        for child in token.children or ():
            if child.type == "softbreak":
                child.type = "hardbreak"


@functools.cache
def make_parser() -> MarkdownIt:
    """GFM-like Markdown where single newlines are line breaks (chat replies mean them).
    One parser for every reply: it holds no state between parses."""
    from markdown_it import MarkdownIt

    parser = MarkdownIt("gfm-like")
    parser.core.ruler.push("hard_breaks", _hard_breaks)
    return parser


@dataclass
class Node:
    """A block token with its children (the flat markdown-it stream made into a tree)."""

    token: Token
    children: list[Node] = field(default_factory=list)
    inline: Token | None = None


def tree(tokens: Iterable[Token]) -> list[Node]:
    roots: list[Node] = []
    stack: list[Node] = []
    for token in tokens:
        if token.nesting == 1:
            node = Node(token)
            (stack[-1].children if stack else roots).append(node)
            stack.append(node)
        elif token.nesting == -1:
            if stack:
                stack.pop()
        elif token.type == "inline" and stack:
            stack[-1].inline = token
        else:
            (stack[-1].children if stack else roots).append(Node(token))
    return roots


def split_blocks(tokens: list[Token]) -> list[tuple[int, list[Token]]]:
    """Top-level blocks as (first line, tokens from the opening token to its closing one)."""
    blocks: list[tuple[int, list[Token]]] = []
    depth = 0
    for token in tokens:
        if depth == 0:
            blocks.append((token.map[0] if token.map else 0, []))
        blocks[-1][1].append(token)
        depth += token.nesting
    return blocks


class BlockStream:
    """The Markdown received so far: `feed` pieces, `advance` to learn what is finished."""

    def __init__(self, text: str = "") -> None:
        self._parser: MarkdownIt | None = None
        self._done: list[str] = []  # source of the finished blocks
        self._open = ""  # source from the first block not finished yet
        self._pending: list[str] = [text] if text else []

    @property
    def source(self) -> str:
        return "".join(self._done) + self._open + "".join(self._pending)

    @property
    def pending(self) -> bool:
        """Text fed since the last `advance`."""
        return bool(self._pending)

    def prepare(self) -> None:
        """Load the parser now (a reply is coming), not with the first token."""
        if self._parser is None:
            self._parser = make_parser()

    def feed(self, text: str) -> None:
        if text:
            self._pending.append(text)

    def advance(self, final: bool) -> tuple[list[Node], list[Node]]:
        """Parse the open part: (blocks finished by this text, blocks still open).

        With `final` there is no more text: every block is finished.
        """
        self._open += "".join(self._pending)
        self._pending.clear()
        self.prepare()
        assert self._parser is not None
        blocks = split_blocks(self._parser.parse(self._open))
        keep = len(blocks) if final else _open_from(blocks, self._open.count("\n"))
        if keep:
            cut = len(self._open) if keep == len(blocks) else \
                _offset_of_line(self._open, blocks[keep][0])
            self._done.append(self._open[:cut])
            self._open = self._open[cut:]
        finished = [node for _, tokens in blocks[:keep] for node in tree(tokens)]
        still_open = [node for _, tokens in blocks[keep:] for node in tree(tokens)]
        return finished, still_open


def _open_from(blocks: list[tuple[int, list[Token]]], complete_lines: int) -> int:
    """Index of the first block that may still change: the last one, or the one before it
    while the first line of the last is incomplete."""
    keep = len(blocks) - 1
    if keep >= 1 and blocks[keep][0] >= complete_lines:
        keep -= 1
    return max(keep, 0)


def _offset_of_line(text: str, line: int) -> int:
    offset = 0
    for _ in range(line):
        offset = text.index("\n", offset) + 1
    return offset
