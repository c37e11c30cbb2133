"""Streaming Markdown block by block gives exactly what parsing the whole text gives.

`BlockStream` freezes a block once the next block's first line is complete and never parses
it again; these tests feed documents in every size of piece (down to one character, with an
`advance` after each) and compare the finished blocks, rendered, with a one-shot parse.
"""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from llama_tui.ui.widgets.block_stream import BlockStream, make_parser, split_blocks, tree
from llama_tui.ui.widgets.markdown_blocks import render_block
from tests.fakeserver.markdown import markdown_reply

WIDTH = 80

TRICKY = [
    "1. one\n2. two\n\n3. three after a blank line\n10. ten\n\nafter the list\n",
    "a paragraph\n| a | b |\n|---|--:|\n| 1 | 2 |\n\nnext\n",
    "Title in setext\n---\n\nSecond\n===\nbody\n",
    "```python\nx = 1\n\n\ny = 2\n```\nafter the fence\n",
    "> a quote\nlazy continuation\n\n> another\n\npara\n",
    "- a\n\n  continued in the item\n- b\n  - nested\n\n    deeper paragraph\n\nend\n",
    "para\n- list interrupts\n- second\n***\n# Heading\ntext **bold *both* bold** `code` ~~gone~~\n",
    "    indented code\n    more\n\ntext\n<div>\nhtml block\n</div>\n",
]


def rendered(nodes: list) -> list[tuple[tuple[str, ...], int, int]]:
    out = []
    for node in nodes:
        block = render_block(node, WIDTH, None)
        out.append((tuple(line.plain for line in block.lines), block.top, block.bottom))
    return out


def one_shot(text: str) -> list:
    return [node for _, tokens in split_blocks(make_parser().parse(text)) for node in tree(tokens)]


def streamed(pieces: list[str]) -> tuple[list, BlockStream]:
    stream = BlockStream()
    finished = []
    for piece in pieces:
        stream.feed(piece)
        done, _open = stream.advance(final=False)
        finished += done
    done, _open = stream.advance(final=True)
    assert not _open
    return finished + done, stream


def test_markdown_reply_token_by_token_equals_one_shot():
    pieces = markdown_reply(4000)
    text = "".join(pieces)
    finished, stream = streamed(pieces)
    assert stream.source == text
    assert rendered(finished) == rendered(one_shot(text))
    kinds = {node.token.type for node in finished}
    assert {"heading_open", "paragraph_open", "bullet_list_open", "ordered_list_open",
            "fence", "table_open", "blockquote_open"} <= kinds


def test_tricky_documents_character_by_character():
    for text in TRICKY:
        finished, _ = streamed(list(text))
        assert rendered(finished) == rendered(one_shot(text)), text


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len("".join(TRICKY))), max_size=40))
def test_any_split_equals_one_shot(cuts):
    text = "".join(TRICKY)
    bounds = sorted({0, len(text), *cuts})
    pieces = [text[a:b] for a, b in itertools.pairwise(bounds)]
    finished, _ = streamed(pieces)
    assert rendered(finished) == rendered(one_shot(text))


def test_finished_blocks_are_not_parsed_again():
    stream = BlockStream()
    parsed: list[str] = []
    parser = stream._parser = make_parser()
    original = parser.parse
    parser.parse = lambda src, env=None: parsed.append(src) or original(src, env)  # type: ignore[method-assign]
    for piece in markdown_reply(1500):
        stream.feed(piece)
        stream.advance(final=False)
    longest = max(len(src) for src in parsed)
    assert longest < len(stream.source) / 5  # only ever the open block, never the document
