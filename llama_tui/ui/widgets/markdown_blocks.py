"""Markdown blocks rendered to lines of `Content` at a given width, for `StreamMarkdown`.

One top-level block (the markdown-it tokens from its opening token to its closing one) becomes
a list of lines that already fit the width, plus the blank lines it wants above and below.
The look follows Textual's `Markdown` widget (same bullets, heading styles, code highlighting)
without its widget tree: a whole reply is a few widgets, not hundreds.

Model text only ever becomes the plain text of a `Content`; it is never parsed as markup.
Styles are component classes (".stream-markdown--strong") of the pane that holds the replies
(`MarkdownScroll`), resolved when the lines are turned into strips, so themes apply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.content import Content, Span

from llama_tui.ui.widgets.block_stream import Node

if TYPE_CHECKING:  # Pygments (through textual.highlight) loads with the first code block
    from markdown_it.token import Token
    from textual.highlight import HighlightTheme

BULLETS = ["• ", "▪ ", "‣ ", "⭑ ", "◦ "]  # Textual's Markdown bullets, by depth
_WS = re.compile(r"\s+")
_INLINE_STYLES = {
    "em_open": ".stream-markdown--em",
    "strong_open": ".stream-markdown--strong",
    "s_open": ".stream-markdown--s",
    "link_open": ".stream-markdown--link",
}
# (blank lines above, blank lines below); nested paragraphs have none (as in Textual).
_MARGINS = {"h1": (2, 1), "h2": (2, 1), "paragraph_open": (0, 1), "bullet_list_open": (0, 1),
            "ordered_list_open": (0, 1), "blockquote_open": (1, 1), "fence": (1, 1),
            "code_block": (1, 1), "table_open": (0, 1), "hr": (1, 1), "html_block": (0, 1)}


@dataclass
class Rendered:
    lines: list[Content]
    top: int = 0
    bottom: int = 0


def render_block(node: Node, width: int, theme: type[HighlightTheme] | None) -> Rendered:
    """Render a top-level block. `theme` None: code is not highlighted (a block still open)."""
    top, bottom = margins(node)
    return Rendered(_render(node, max(width, 4), theme, 0), top, bottom)


def has_code(node: Node) -> bool:
    """Does the block hold code (which highlighting styles)? Other blocks render the same
    with or without a highlight theme."""
    return node.token.type in ("fence", "code_block") or any(map(has_code, node.children))


def estimate_height(node: Node, width: int) -> int:
    """A quick guess of a block's height at `width` (its source lines, long ones wrapped),
    for blocks that are not on screen yet."""
    token = node.token
    lines = token.map[1] - token.map[0] if token.map else 1
    return max(1, lines + _text_length(node) // max(width, 1))


def _text_length(node: Node) -> int:
    own = len(node.inline.content) if node.inline is not None else 0
    return own + sum(map(_text_length, node.children))


def margins(node: Node) -> tuple[int, int]:
    token = node.token
    if token.type == "heading_open":
        top, bottom = _MARGINS.get(token.tag, (1, 1))
    else:
        top, bottom = _MARGINS.get(token.type, (0, 1))
    return (0 if node.joined_above else top), (0 if node.joined_below else bottom)


def _render(node: Node, width: int, theme: type[HighlightTheme] | None, depth: int) -> list[Content]:
    kind = node.token.type
    if kind == "heading_open":
        return _heading(node, width)
    if kind in ("bullet_list_open", "ordered_list_open"):
        return _list(node, width, theme, depth)
    if kind == "blockquote_open":
        return _quote(node, width, theme, depth)
    if kind in ("fence", "code_block"):
        return _code(node, width, theme)
    if kind == "table_open":
        return _table(node, width)
    if kind == "hr":
        return [Content.styled("─" * width, ".stream-markdown--hr")]
    if kind == "html_block":
        return Content(node.token.content.rstrip("\n")).wrap(width)
    if node.inline is not None:
        return inline(node.inline).wrap(width)
    return _stack(node.children, width, theme, depth)


def _stack(nodes: list[Node], width: int, theme: type[HighlightTheme] | None,
           depth: int) -> list[Content]:
    """Blocks inside a list item or quote, one after the other, nested margins collapsed."""
    lines: list[Content] = []
    previous = 0
    for i, child in enumerate(nodes):
        top, bottom = (0, 0) if child.token.type == "paragraph_open" else margins(child)
        if i:
            lines += [Content("")] * max(previous, top)
        lines += _render(child, width, theme, depth)
        previous = bottom
    return lines


def inline(token: Token) -> Content:
    """The text of an inline token with its emphasis, code and links as styled spans.

    A link shows its target after its text when they differ ("your bank (https://…)"): a
    reply must not be able to dress one address up as another. Links are never clickable.
    """
    parts: list[str] = []
    spans: list[Span] = []
    opened: list[tuple[str, int]] = []
    targets: list[str] = []
    size = 0
    for child in token.children or ():
        if child.type == "link_open":
            targets.append(str(child.attrs.get("href", "")))
        elif child.type == "link_close" and opened:
            href = targets.pop() if targets else ""
            label = "".join(parts)[opened[-1][1]:]
            style, begin = opened.pop()
            spans.append(Span(begin, size, style))
            if href and not _same_address(label, href):
                target = f" ({href})"
                spans.append(Span(size, size + len(target), ".stream-markdown--link-target"))
                parts.append(target)
                size += len(target)
            continue
        kind, start = child.type, size
        if kind in ("text", "html_inline"):
            text = _WS.sub(" ", child.content) if kind == "text" else child.content
        elif kind in ("softbreak", "hardbreak"):
            text = "\n"
        elif kind == "code_inline":
            text = child.content
            spans.append(Span(start, start + len(text), ".stream-markdown--code-inline"))
        elif kind == "image":
            text = "🖼  " + (child.content or str(child.attrs.get("alt", "")))
        elif kind in _INLINE_STYLES:
            opened.append((_INLINE_STYLES[kind], size))
            continue
        elif kind.endswith("_close") and opened:
            style, begin = opened.pop()
            spans.append(Span(begin, size, style))
            continue
        else:
            continue
        parts.append(text)
        size += len(text)
    spans += [Span(begin, size, style) for style, begin in opened]
    return Content("".join(parts), spans)


def _same_address(label: str, href: str) -> bool:
    def bare(text: str) -> str:
        text = text.strip().lower()
        for prefix in ("https://", "http://", "mailto:"):
            text = text.removeprefix(prefix)
        return text.rstrip("/")

    return bare(label) == bare(href)


def _heading(node: Node, width: int) -> list[Content]:
    level = node.token.tag
    text = inline(node.inline) if node.inline is not None else Content("")
    lines = text.wrap(width) or [Content("")]
    if level == "h1":
        lines = [line.center(width) for line in lines]
    return [line.stylize_before(f".stream-markdown--{level}") for line in lines]


def _list(node: Node, width: int, theme: type[HighlightTheme] | None, depth: int) -> list[Content]:
    items = [child for child in node.children if child.token.type == "list_item_open"]
    if node.token.type == "ordered_list_open":
        try:
            start = int(items[0].token.info) if items else 1
        except ValueError:
            start = 1
        markers = [f"{n}. " for n in range(start, start + len(items))]
        size = max((len(m) for m in markers), default=0)
        markers = [m.rjust(size + 1) for m in markers]
        inner = depth
    else:
        markers = [BULLETS[depth % len(BULLETS)]] * len(items)
        inner = depth + 1
    lines: list[Content] = []
    for marker, item in zip(markers, items, strict=True):
        indent = len(marker)
        body = _stack(item.children, width - indent, theme, inner) or [Content("")]
        lines.append(Content.styled(marker, ".stream-markdown--bullet") + body[0])
        lines += [Content(" " * indent) + line for line in body[1:]]
    return lines


def _quote(node: Node, width: int, theme: type[HighlightTheme] | None, depth: int) -> list[Content]:
    body = _stack(node.children, width - 3, theme, depth) or [Content("")]
    bar = Content.styled("▌", ".stream-markdown--quote-bar")
    return [_fill(bar + " " + line, width, ".stream-markdown--quote") for line in body]


def _code(node: Node, width: int, theme: type[HighlightTheme] | None) -> list[Content]:
    """A code block between two padding lines; a piece of a cut one (block_stream.py) has
    the padding only where the whole block starts or ends, and keeps its own last lines."""
    token = node.token
    code = token.content.removesuffix("\n") if node.joined_below else token.content.rstrip()
    language = token.info.split()[0] if token.info.strip() else None
    if theme is not None and code:
        content = _highlighted(code, language, theme)
    else:
        content = Content(code.expandtabs(8))
    lines = [] if node.joined_above else [Content("")]
    for line in content.split("\n", allow_blank=True):
        lines += [Content("  ") + part for part in line.fold(max(width - 4, 2))]
    if not node.joined_below:
        lines.append(Content(""))
    return [_fill(line, width, ".stream-markdown--code") for line in lines]


_HIGHLIGHTED: dict[tuple[str, str | None, object], Content] = {}


def _highlighted(code: str, language: str | None, theme: type[HighlightTheme]) -> Content:
    """Pygments runs once per code block, not again when the width changes."""
    key = (code, language, theme)
    if key not in _HIGHLIGHTED:
        from textual.highlight import highlight

        if len(_HIGHLIGHTED) >= 256:
            _HIGHLIGHTED.clear()
        content = highlight(code, language=language, theme=theme)
        if len(content.plain) < len(code) and code.startswith(content.plain):
            # It drops a last newline: a piece of a cut block keeps its last blank line.
            content += Content(code[len(content.plain):])
        _HIGHLIGHTED[key] = content
    return _HIGHLIGHTED[key]


def _fill(line: Content, width: int, style: str) -> Content:
    """Pad to the full width and put `style` under everything (a background band)."""
    return line.pad_right(max(width - line.cell_length, 0)).stylize_before(style)


def _cells(row: Node) -> list[tuple[Content, str]]:
    out = []
    for cell in row.children:
        align = str(cell.token.attrs.get("style", "")).removeprefix("text-align:") or "left"
        out.append((inline(cell.inline) if cell.inline is not None else Content(""), align))
    return out


def _table(node: Node, width: int) -> list[Content]:
    rows: list[list[tuple[Content, str]]] = []
    for section in node.children:
        rows += [_cells(row) for row in section.children if row.token.type == "tr_open"]
    if not rows:
        return []
    columns = max(len(row) for row in rows)
    widths = [max((row[i][0].cell_length for row in rows if i < len(row)), default=0)
              for i in range(columns)]
    widths = _fit(widths, width - 3 * (columns - 1))
    lines: list[Content] = []
    for index, row in enumerate(rows):
        cells = [row[i] if i < len(row) else (Content(""), "left") for i in range(columns)]
        wrapped = [[_align(part, w, align) for part in cell.wrap(w) or [Content("")]]
                   for (cell, align), w in zip(cells, widths, strict=True)]
        for y in range(max(len(w) for w in wrapped)):
            parts = [(w[y] if y < len(w) else Content(" " * widths[i]))
                     for i, w in enumerate(wrapped)]
            line = Content.styled(" │ ", ".stream-markdown--table-rule").join(parts)
            lines.append(line.stylize_before(".stream-markdown--table-header") if index == 0
                         else line)
        if index == 0:
            rule = "─┼─".join("─" * w for w in widths)
            lines.append(Content.styled(rule, ".stream-markdown--table-rule"))
    return lines


def _align(cell: Content, width: int, align: str) -> Content:
    if align == "right":
        return cell.right(width)
    if align == "center":
        return cell.center(width)
    return cell.pad_right(max(width - cell.cell_length, 0))


def _fit(widths: list[int], room: int) -> list[int]:
    """Shrink the widest columns until the table fits in `room` cells."""
    widths = [max(w, 1) for w in widths]
    room = max(room, len(widths))
    while sum(widths) > room:
        widest = max(range(len(widths)), key=widths.__getitem__)
        widths[widest] -= max(1, (sum(widths) - room) // len(widths))
        widths[widest] = max(widths[widest], 1)
    return widths
