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


# -- long open blocks are cut into pieces -------------------------------------------------

LONG = [
    # a paragraph of hard-broken lines; lines starting with a digit, a star or a backtick
    # must not start a piece (they could start another block, or be markup)
    "".join(f"line {i} of a long paragraph with *some* words\n"
            + ("2. not a list here\n" if i % 7 == 0 else "")
            + ("`code` then text\n" if i % 5 == 0 else "") for i in range(60)) + "\nafter\n",
    # a fence with blank lines and a closing fence after 80 lines, then a paragraph
    "```python\n" + "".join(f"x_{i} = {i}\n" + ("\n\n" if i % 9 == 0 else "")
                            for i in range(80)) + "```\nafter the fence\n",
    "    " + "\n    ".join(f"indented {i}" + ("\n" if i % 6 == 0 else "") for i in range(70))
    + "\n\ntext\n",
    "~~~~\n" + "```\nnot a closer\n" * 30 + "~~~~\n",
]


def laid_out(nodes: list, theme: object = None) -> list[str]:
    """The rows a `StreamMarkdown` draws for these blocks (margins collapsed, as there)."""
    rows: list[str] = []
    bottom = None
    for node in nodes:
        block = render_block(node, WIDTH, theme)  # type: ignore[arg-type]
        if bottom is not None:
            rows += [""] * max(bottom, block.top)
        rows += [line.plain for line in block.lines]
        bottom = block.bottom
    return rows


def cut_streamed(pieces: list[str], split: int = 150) -> tuple[list, BlockStream]:
    stream = BlockStream()
    stream.SPLIT_CHARS = split
    stream.LINE_SPLIT_CHARS = 4 * split
    finished = []
    for piece in pieces:
        stream.feed(piece)
        done, _open = stream.advance(final=False)
        finished += done
        assert len(stream._head + stream._open) <= stream.LINE_SPLIT_CHARS + len(piece)  # bounded
    done, _open = stream.advance(final=True)
    return finished + done, stream


def test_long_blocks_cut_into_pieces_draw_the_same_rows():
    from textual.highlight import HighlightTheme

    for text in LONG:
        for size in (3, 40):
            finished, stream = cut_streamed([text[i:i + size] for i in range(0, len(text), size)])
            assert stream.source == text
            assert sum(node.joined_below for node in finished) >= 3, text[:40]  # it was cut
            assert laid_out(finished) == laid_out(one_shot(text)), (text[:40], size)
            # Highlighting colours each piece on its own, but never changes its text.
            assert laid_out(finished, HighlightTheme) == laid_out(finished)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(LONG), st.lists(st.integers(min_value=0, max_value=3000), max_size=30))
def test_long_blocks_any_split_draw_the_same_rows(text, cuts):
    bounds = sorted({0, len(text), *(c for c in cuts if c < len(text))})
    finished, _ = cut_streamed([text[a:b] for a, b in itertools.pairwise(bounds)])
    assert laid_out(finished) == laid_out(one_shot(text))


def test_a_line_too_long_is_cut_between_words_its_only_difference_a_line_break():
    words = [f"word{i}" for i in range(2000)]
    text = "".join(w + " " for w in words) + "\n\nafter\n"
    finished, stream = cut_streamed([w + " " for w in words] + ["\n\nafter\n"], split=200)
    assert stream.source.rstrip() == text.rstrip()
    cuts = sum(node.joined_below for node in finished)
    assert cuts >= 10
    ours, whole = laid_out(finished), laid_out(one_shot(text))
    assert " ".join(ours).split() == " ".join(whole).split()  # the same words, in order
    assert len(whole) <= len(ours) <= len(whole) + cuts  # at most a line break per cut


def parsed_per_token(pieces: list[str], window: int, per_frame: int = 5) -> float:
    """Characters parsed per token over the last `window` tokens, a frame every
    `per_frame` tokens (the work a frame does, counted, not timed)."""
    stream = BlockStream()
    stream.feed("".join(pieces[:-window]))
    stream.advance(final=False)
    parsed = [0]
    parser = stream._parser = make_parser()
    original = parser.parse

    def counting(src, env=None):  # type: ignore[no-untyped-def]
        parsed[0] += len(src)
        return original(src, env)

    parser.parse = counting  # type: ignore[method-assign]
    for i in range(len(pieces) - window, len(pieces)):
        stream.feed(pieces[i])
        if i % per_frame == 0:
            stream.advance(final=False)
    return parsed[0] / window


def test_the_work_per_token_does_not_grow_with_an_open_block():
    """A block of 20,000 tokens (cut into pieces as it grows) costs no more per token than
    one of 1,000; measured over enough tokens to span several cuts."""
    from tests.benchmarks.bench_long_block import tokens

    for kind in ("paragraph", "line", "fence"):
        short = parsed_per_token(tokens(kind, 1_000), window=500, per_frame=10)
        long = parsed_per_token(tokens(kind, 20_000), window=3_000, per_frame=10)
        assert long < 2 * short, (kind, short, long)
