"""Markdown arriving in pieces, cut into top-level blocks: finished ones and the open tail.

A block is finished once the first line of the next block is complete. From then on no later
text can change it: CommonMark decides block structure line by line, and the constructs that
reinterpret earlier lines (a setext underline, a table's delimiter row, a lazy continuation)
only ever change the block still open. Waiting for the next block's first line to be complete
covers pieces such as "2" that become "2." (the next item of the same list) a token later.
Finished blocks' source is never parsed again; only the open part is, each time it grows.

A block that never ends (a runaway or hostile server: a paragraph without a blank line, one
code fence) would make every frame parse all of it. So an open paragraph or code block longer
than `SPLIT_CHARS` is cut at a safe line: the part above is finished (a piece, drawn once),
the rest stays open as the piece's continuation (`Node.joined_above`/`joined_below`: no margin
or code padding between them). A paragraph is cut before a line that starts with a letter (it
cannot start another block nor be a table's header), a code block before a non-blank code
line; a cut fence is parsed again from its own opening line. The cost per token then stays
flat at any block length.

Differences from parsing the whole text at once:
- a link reference definition (`[x]: https://…`) only applies to blocks after it, as in
  Textual's MarkdownStream;
- in a block cut into pieces, inline markup that spans a cut (a code span or emphasis over
  a line break) is not joined, a setext underline (`===`) makes a heading of the last piece
  only, and code is highlighted piece by piece (a string or comment spanning a cut is
  coloured from the cut on as if it started there);
- a paragraph line longer than `LINE_SPLIT_CHARS` with no safe line above it is cut between
  two words: the line breaks there.
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
    joined_above: bool = False  # a piece of a long block cut into pieces: continues the one
    joined_below: bool = False  # above / is continued below (no margin, no padding between)


def tree(tokens: Iterable[Token]) -> list[Node]:
    roots: list[Node] = []
    stack: list[Node] = []
    for token in tokens:
        if token.nesting == 1:
            node = Node(token, joined_above=bool(token.meta and token.meta.get("joined_above")))
            (stack[-1].children if stack else roots).append(node)
            stack.append(node)
        elif token.nesting == -1:
            if stack:
                stack.pop()
        elif token.type == "inline" and stack:
            stack[-1].inline = token
        else:
            (stack[-1].children if stack else roots).append(
                Node(token, joined_above=bool(token.meta and token.meta.get("joined_above"))))
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

    #: An open paragraph or code block longer than this (characters) is cut at a safe line.
    SPLIT_CHARS = 4000
    #: A paragraph line longer than this with no safe line above it is cut between words.
    LINE_SPLIT_CHARS = 8000

    def __init__(self, text: str = "") -> None:
        self._parser: MarkdownIt | None = None
        self._done: list[str] = []  # source of the finished blocks
        self._open = ""  # source from the first block not finished yet
        self._pending: list[str] = [text] if text else []
        self._head = ""  # parsed before `_open`, not source: a cut fence's opening line
        self._joined: str | None = None  # the open part continues a cut block of this type
        self._cut: list[Node] = []  # the pieces `_split` cut off

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
        finished: list[Node] = []
        while True:
            text = self._head + self._open
            blocks = self._parse(text)
            keep = len(blocks) if final else _open_from(blocks, text.count("\n"))
            if keep:
                cut = len(text) if keep == len(blocks) else \
                    _offset_of_line(text, blocks[keep][0])
                self._done.append(text[len(self._head):cut])
                self._open = text[cut:]
                self._head, self._joined = "", None
            finished += [node for _, tokens in blocks[:keep] for node in tree(tokens)]
            still_open = [node for _, tokens in blocks[keep:] for node in tree(tokens)]
            if final or len(still_open) != 1 or not self._split(still_open[0]):
                return finished, still_open
            finished += self._cut

    def _parse(self, text: str) -> list[tuple[int, list[Token]]]:
        self.prepare()
        assert self._parser is not None
        blocks = split_blocks(self._parser.parse(text))
        if self._joined and blocks and blocks[0][1][0].type == self._joined:
            blocks[0][1][0].meta = {**(blocks[0][1][0].meta or {}), "joined_above": True}
        return blocks

    def _split(self, node: Node) -> bool:
        """Cut the one open block if it is long: its finished pieces go to `_cut`."""
        text = self._head + self._open
        kind = node.token.type
        if len(text) <= self.SPLIT_CHARS or kind not in _CUT_BEFORE or not node.token.map:
            return False
        cuts = self._cuts(text, node)
        if not cuts:
            return False
        opener = text[:text.index("\n") + 1] if kind == "fence" else ""  # parsed before each
        self._cut, start = [], 0
        for at in cuts:  # pieces of about SPLIT_CHARS / 2: each is painted at once
            piece = [node for _, tokens in self._parse(opener + text[start:at] if start
                                                        else text[:at]) for node in tree(tokens)]
            piece[-1].joined_below = True
            self._cut += piece
            self._joined, start = kind, at
        self._done.append(text[len(self._head):start])
        self._open, self._head = text[start:], opener
        return True

    def _cuts(self, text: str, node: Node) -> list[int]:
        """Where to cut the open block (`text`, from its first line): at safe lines about
        `SPLIT_CHARS / 2` apart, never in its last two lines (the last may be incomplete,
        the one before may yet become a table's header)."""
        assert node.token.map is not None
        kind, lines = node.token.type, text.split("\n")
        last = min(len(lines) - 1, node.token.map[1] - node.token.map[0]) - 1
        if kind == "fence":  # a line of code, not the closing fence
            last = min(last, node.token.content.count("\n"))
        first = 2 if kind == "fence" else 1  # a piece has a line of its own
        cuts: list[int] = []
        offset = len(lines[0]) + 1
        for j in range(1, last + 1):
            if kind == "paragraph_open":
                self._cut_words(text, cuts, offset)
            if (j >= first and offset - (cuts[-1] if cuts else 0) >= self.SPLIT_CHARS // 2
                    and _CUT_BEFORE[kind](lines[j - 1], lines[j])):
                cuts.append(offset)
            offset += len(lines[j]) + 1
        if kind == "paragraph_open":
            self._cut_words(text, cuts, len(text))
        return cuts

    def _cut_words(self, text: str, cuts: list[int], end: int) -> None:
        """Cuts between words while more than `LINE_SPLIT_CHARS` lie between the last cut
        and `end` with no safe line (a paragraph line that long breaks there)."""
        while end - (since := cuts[-1] if cuts else 0) > self.LINE_SPLIT_CHARS:
            at = _word_start(text, since + self.LINE_SPLIT_CHARS // 2, end)
            if not at:
                return
            cuts.append(at)


def _paragraph_cut(before: str, line: str) -> bool:
    # A letter cannot start a block (a list marker, a heading, a fence, a quote, HTML) nor
    # a table's delimiter row; a backslash at a line's end is a line break, not at a block's.
    return line[:1].isalpha() and not before.endswith("\\")


def _fence_cut(before: str, line: str) -> bool:
    return bool(line.strip())  # the rest never starts with blank lines (`rstrip` at the end)


def _indented_cut(before: str, line: str) -> bool:
    # Blank lines at the end of an indented code block are not code: keep them inside.
    return bool(before.strip()) and bool(line.strip())


_CUT_BEFORE = {"paragraph_open": _paragraph_cut, "fence": _fence_cut,
               "code_block": _indented_cut}


def _word_start(text: str, start: int, end: int) -> int:
    """The first word start (a letter after a space) in `text[start:end]`; 0 if none."""
    at = text.find(" ", start - 1, end - 1)
    while at != -1:
        if text[at + 1].isalpha():
            return at + 1
        at = text.find(" ", at + 1, end - 1)
    return 0


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
