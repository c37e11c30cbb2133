"""Markdown that grows while a reply streams, at a cost that does not grow with the reply.

- Finished blocks are frozen: parsed and rendered once (code highlighted then), kept as strips
  (block_stream.py says when a block is finished, markdown_blocks.py how it looks).
- Only the open tail block is parsed and rendered again, at most `FRAME_SECONDS` apart: text
  arriving faster is coalesced into one frame. The first text after a pause is shown at once.
- When the app is behind the network (a backlog: text appended in a tight run, much faster
  than any model streams), frames wait until it has caught up, up to `BACKLOG_MAX_WAIT`:
  a frame drawn mid-backlog is work done twice and delays the last words.
- Only changed lines are repainted. While streaming, the height grows in steps of
  `GROWTH_STEP` lines, so an anchored chat scrolls (repaints everything) once per step
  instead of once per line: that is most of the bytes sent to the terminal.
- One widget draws all lines (Line API), so layout cost does not grow with the reply.

Text is never parsed as Rich/Textual markup (markdown_blocks builds `Content` from text).
Selection (mouse drag, copy) works on the rendered text.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from rich.segment import Segment
from rich.style import Style as RichStyle
from textual.containers import VerticalScroll
from textual.content import Content
from textual.geometry import Region, Size
from textual.selection import Selection
from textual.strip import Strip
from textual.style import Style
from textual.widget import Widget

from llama_tui.ui.textual_compat import LayoutOnce, anchor_released
from llama_tui.ui.widgets.block_stream import BlockStream, Node, make_parser
from llama_tui.ui.widgets.frozen_blocks import FrozenBlock, FrozenBlocks, first_difference
from llama_tui.ui.widgets.markdown_blocks import (
    estimate_height,
    has_code,
    margins,
    render_block,
)

if TYPE_CHECKING:
    from textual.highlight import HighlightTheme


#: The Markdown styles (Textual component classes). They belong to the scrolling pane that
#: holds the replies (`MarkdownScroll`; the chat is one), not to each reply: Textual works out
#: every component class of a widget when it is mounted or restyled, and 20 of them per reply
#: would be about half the cost of opening a conversation. A reply finds them on its ancestors.
MARKDOWN_COMPONENTS: frozenset[str] = frozenset({
    *(f"stream-markdown--h{n}" for n in range(1, 7)),
    "stream-markdown--em", "stream-markdown--strong", "stream-markdown--s",
    "stream-markdown--code-inline", "stream-markdown--link", "stream-markdown--link-target",
    "stream-markdown--bullet",
    "stream-markdown--quote", "stream-markdown--quote-bar", "stream-markdown--code",
    "stream-markdown--table-header", "stream-markdown--table-rule", "stream-markdown--hr",
})


_NOT_REVERSED = Style(reverse=False)
_PLAIN = Style()
#: Words found by a search, marked where they show (`StreamMarkdown.mark`).
_MARKED = RichStyle(reverse=True, bold=True)


class MarkdownScroll(VerticalScroll):
    """A scrolling pane for `StreamMarkdown`s: it carries their styles (one set per pane)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = set(MARKDOWN_COMPONENTS)
    DEFAULT_CSS = """
    MarkdownScroll {
        & > .stream-markdown--em { text-style: italic; }
        & > .stream-markdown--strong { text-style: bold; }
        & > .stream-markdown--s { text-style: strike; }
        & > .stream-markdown--code-inline { background: $warning 10%; color: $text-warning 95%; }
        & > .stream-markdown--link { color: $text-accent; text-style: underline; }
        & > .stream-markdown--link-target { color: $text-muted; }
        & > .stream-markdown--bullet { color: $text-primary; }
        & > .stream-markdown--quote { background: $boost; }
        & > .stream-markdown--quote-bar { color: $text-primary 50%; }
        & > .stream-markdown--code { background: black 10%; }
        & > .stream-markdown--table-header { color: $primary; text-style: bold; }
        & > .stream-markdown--table-rule { color: $foreground 20%; }
        & > .stream-markdown--hr { color: $secondary; }
    }
    """ + "".join(  # headings take the theme's Markdown heading variables, as Textual's do
        f"MarkdownScroll > .stream-markdown--h{n} {{ color: $markdown-h{n}-color; "
        f"background: $markdown-h{n}-background; text-style: $markdown-h{n}-text-style; }}\n"
        for n in range(1, 7))


class StreamMarkdown(LayoutOnce, Widget):
    """A Markdown document that can be appended to (`append`) and closed (`finish`). Put it
    in a `MarkdownScroll` (directly or deeper): its styles come from there."""

    FRAME_SECONDS: ClassVar[float] = 1 / 10
    GROWTH_STEP: ClassVar[int] = 16
    #: A backlog: text appended at `BACKLOG_RATE` a second or more (reading text already
    #: received costs ~20 us a token; 5,000 a second is beyond live streaming), at least
    #: `BACKLOG_RUN` pieces, with no pause of `BACKLOG_PAUSE` since the run began.
    BACKLOG_RATE: ClassVar[float] = 5000.0
    BACKLOG_RUN: ClassVar[int] = 64
    BACKLOG_PAUSE: ClassVar[float] = 0.005
    BACKLOG_MAX_WAIT: ClassVar[float] = 0.25
    #: More blocks than this finishing at once (after a backlog) are measured lazily: the
    #: bottom screenful now, the rest after the frame (frozen_blocks.py, `extend`).
    MEASURE_LATER: ClassVar[int] = 8
    #: ...that rest (`settle`): when the reply is saved, with its restyle; at the latest this
    #: long after the burst (not at once: Textual writes the frame from a thread, which
    #: would wait for the GIL while we measure).
    SETTLE_AFTER: ClassVar[float] = 0.5

    DEFAULT_CSS = """
    StreamMarkdown {
        height: auto;
    }
    """

    def __init__(self, markdown: str = "", *, streaming: bool = False, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._blocks = BlockStream(markdown)
        self._streaming = streaming
        self._frozen = FrozenBlocks()  # measured at `_width`, painted when drawn
        self._pending_nodes: list[Node] = []  # frozen before the width was known
        self._tail: list[Node] = []
        self._tail_lines: list[Strip] = []
        self._width = 0
        self._restyled = False  # theme or CSS changed: render everything again?
        self._look: object = None
        self._strip_cache: dict[object, Strip] = {}
        self._grown = 0  # height shown while streaming (lines plus slack)
        self._frame_due = False
        self._last_frame = 0.0
        self._last_append = 0.0
        self._run = 0  # appends since the last pause of BACKLOG_PAUSE
        self._run_start = 0.0
        self._settle_with_styles = False
        self._mark: re.Pattern[str] | None = None

    def on_mount(self) -> None:
        if self._streaming:  # the request is on its way: be ready before the first token
            self._blocks.prepare()

    # -- the document ----------------------------------------------------------------------

    @property
    def source(self) -> str:
        """All the Markdown received so far."""
        return self._blocks.source

    @property
    def streaming(self) -> bool:
        return self._streaming

    def append(self, text: str) -> None:
        """Add text at the end; it is shown within `FRAME_SECONDS` (at once after a pause)."""
        if not text:
            return
        self._blocks.feed(text)
        now = self._now()
        if now - self._last_append > self.BACKLOG_PAUSE:
            self._run, self._run_start = 0, now
        self._run += 1
        self._last_append = now
        if self._frame_due:
            return
        self._frame_due = True
        self._later(self._last_frame + self.FRAME_SECONDS - now, self._frame)

    def finish(self) -> None:
        """No more text: freeze the last blocks (code gets highlighted) and drop the slack."""
        self._streaming = False
        self._advance(final=True)
        self.refresh(layout=True)  # the exact height, without the slack

    # Time and timers go through these two (tests drive frames with a fake clock).

    def _now(self) -> float:
        return time.monotonic()

    def _later(self, delay: float, callback: Callable[[], None]) -> None:
        """Call `callback` in `delay` seconds (soon after the current message if <= 0)."""
        if delay > 0:
            self.set_timer(delay, callback)
        else:
            self.call_later(callback)

    def _frame(self) -> None:
        now = self._now()
        if self._behind(now):
            self._later(2 * self.BACKLOG_PAUSE, self._frame)  # drawn once caught up
            return
        self._frame_due = False
        self._last_frame = now
        if self._blocks.pending:
            self._advance(final=not self._streaming)

    def _behind(self, now: float) -> bool:
        """Still reading a backlog (and not kept waiting for too long)?"""
        return (self._streaming and self._run >= self.BACKLOG_RUN
                and now - self._last_append < self.BACKLOG_PAUSE
                and self._run >= self.BACKLOG_RATE * (self._last_append - self._run_start)
                and now - self._last_frame < self.BACKLOG_MAX_WAIT)

    def _advance(self, final: bool) -> None:
        finished, self._tail = self._blocks.advance(final)
        self._redraw(finished)

    # -- rendering --------------------------------------------------------------------------

    def _theme(self) -> type[HighlightTheme]:
        from textual import highlight  # Pygments: not at startup

        if self.app.native_ansi_color:
            dark = self.app.current_theme.dark
            return highlight.ANSIDarkHighlightTheme if dark else highlight.ANSILightHighlightTheme
        return highlight.HighlightTheme

    def _measure(self, node: Node) -> tuple[list[Content], int, int]:
        block = render_block(node, self._width, None)
        return block.lines, block.top, block.bottom

    def _paint(self, node: Node, highlight: bool = True) -> list[Strip]:
        lines = render_block(node, self._width, self._theme() if highlight else None).lines
        return [self._strip(line) for line in lines]

    def _paint_frozen(self, block: FrozenBlock) -> list[Strip]:
        # Exactly the rows measured when it froze (highlighting never changes the text).
        # Code is highlighted, except in the frame that ends a burst (see `settle`).
        code = has_code(block.node)
        if block.lines is not None and (not code or self._frozen.estimated):
            block.plain = code
            strips = [self._strip(line) for line in block.lines]
        else:
            strips = self._paint(block.node)
        return (strips + [self._blank()] * block.height)[:block.height]

    def _strip(self, line: Content) -> Strip:
        """One line as a strip; the open block's unchanged lines come from a small cache."""
        key = (line.plain, tuple(line.spans))
        strip = self._strip_cache.get(key)
        if strip is None:
            # The line already fits the width (markdown_blocks wrapped it): styled straight to
            # segments, not wrapped again as `Visual.to_strips` would (3x the cost per line).
            base = self.visual_style
            strip = Strip([Segment(text, style.rich_style) for text, style in
                           line.render(base, end="", parse_style=self.style_of)])
            # Merged segments: fewer style changes for the terminal, fewer chops to composite.
            pad = (base + _NOT_REVERSED).rich_style  # as Textual pads a line
            strip = strip.adjust_cell_length(self._width, pad).simplify()
            if len(self._strip_cache) > 256:
                self._strip_cache.clear()
            self._strip_cache[key] = strip
        return strip

    def _render_tail(self) -> list[Strip]:
        lines: list[Strip] = []
        bottom = self._frozen.last_bottom
        for node in self._tail:
            strips = self._paint(node, highlight=False)
            top, next_bottom = margins(node)
            if bottom is not None:
                lines += [self._blank()] * max(bottom, top)
            lines += strips
            bottom = next_bottom
        return lines

    def _blank(self) -> Strip:
        return Strip.blank(self._width, self.visual_style.rich_style)

    def _row(self, y: int) -> Strip:
        if y < self._frozen.rows:
            return self._frozen.strip(y, self._paint_frozen) or self._blank()
        y -= self._frozen.rows
        return self._tail_lines[y] if y < len(self._tail_lines) else self._blank()

    def _redraw(self, newly_frozen: list[Node]) -> None:
        if not self._width or (self._restyled and self._look_changed()):
            self._width = 0  # everything is measured again at the next layout
            self._pending_nodes += newly_frozen
            self.refresh(layout=True)
            return
        height = self._height()
        start, old = self._frozen.rows, self._tail_lines
        if len(newly_frozen) > self.MEASURE_LATER and self._follows_bottom():
            # Text arrived faster than it was drawn: measure what shows (the bottom) now,
            # the blocks above it after the frame with the last words.
            self._frozen.extend(newly_frozen, self._measure,
                                lambda node: estimate_height(node, self._width),
                                rows=self._viewport_height())
            self._later(self.SETTLE_AFTER, self.settle)
        else:
            for node in newly_frozen:
                self._frozen.append(node, self._measure)
        self._tail_lines = self._render_tail()
        if self._height() != height:
            self.refresh(layout=True)
            return
        # Repaint only from the first changed cell of each changed line: a token appended to
        # a line costs the terminal a few bytes, not the line.
        regions = []
        for y in range(max(len(old), self._frozen.rows + len(self._tail_lines) - start)):
            x = first_difference(old[y] if y < len(old) else None, self._row(start + y))
            if x is not None and x < self._width:
                regions.append(Region(x, start + y, self._width - x, 1))
        if regions:
            self.refresh(*regions)

    def settle(self) -> None:
        """Measure the blocks a burst left estimated and highlight the code it drew plain
        (both wait until the frame with the last words is drawn). Idempotent; done when the
        reply is saved (`settle_when_restyled`: one repaint with its restyle), or by a
        timer `SETTLE_AFTER` the burst."""
        plain = [block for block in self._frozen.blocks if block.plain]
        for block in plain:
            block.strips, block.plain = None, False
        if self._frozen.settle(self._measure):
            self.refresh(layout=True)
        elif plain:
            self.refresh()

    def _follows_bottom(self) -> bool:
        """Does the pane keep its bottom (where this reply ends) in view as it grows? It is
        anchored and the user did not scroll away (`textual_compat.anchor_released`; when
        Textual cannot tell, this says no and every block is measured at once)."""
        scroller = self._scroller()
        return (scroller is not None and scroller.is_anchored
                and anchor_released(scroller) is False)

    def _layout(self, width: int) -> None:
        """Measure every block at `width` (a new width, theme or first layout)."""
        self._width = width
        self._strip_cache.clear()
        self._frozen.relayout(self._measure)
        for node in self._pending_nodes:
            self._frozen.append(node, self._measure)
        self._pending_nodes = []
        self._tail_lines = self._render_tail()

    def _height(self) -> int:
        """Lines drawn; while streaming, rounded up to a step that grows with the reply (a
        quarter of it, at most `GROWTH_STEP`): short replies grow line by line, long ones
        make the chat scroll once per step instead of once per line."""
        lines = self._frozen.rows + len(self._tail_lines)
        if not self._streaming:
            return lines
        if lines > self._grown or lines < self._grown - self.GROWTH_STEP:
            step = max(1, min(self.GROWTH_STEP, self._viewport_height() // 2, lines // 4))
            self._grown = -(-lines // step) * step
        return self._grown

    def _scroller(self) -> Widget | None:
        """The pane that scrolls this reply (every container is `is_scrollable` in Textual:
        the one that scrolls lets its content overflow vertically)."""
        for node in self.ancestors:
            if isinstance(node, Widget) and node.styles.overflow_y in ("auto", "scroll"):
                return node
        return None

    def _viewport_height(self) -> int:
        scroller = self._scroller()
        return scroller.scrollable_content_region.height if scroller else self.screen.size.height

    def _ensure(self, width: int) -> None:
        if self._blocks.pending and not self._streaming:
            self._advance(final=True)
        if width and ((self._restyled and self._look_changed()) or width != self._width):
            self._layout(width)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        self._ensure(width)
        return self._height()

    def mark(self, words: str) -> int | None:
        """Mark `words` (any case) wherever a line shows them; the first such line, or the
        first line with the first of them (words wrapped onto two lines), or None."""
        words = words.strip()
        self._mark = re.compile(re.escape(words), re.IGNORECASE) if words else None
        self.refresh()
        self._ensure(self.size.width)
        if self._mark is None or not self._width:
            return None
        rows = self._frozen.rows + len(self._tail_lines)
        first_word = re.compile(re.escape(words.split()[0]), re.IGNORECASE)
        for pattern in (self._mark, first_word):
            for y in range(rows):
                if pattern.search(self._row(y).text):
                    return y
        return None

    def _marked(self, strip: Strip) -> Strip:
        assert self._mark is not None
        spans = [m.span() for m in self._mark.finditer(strip.text)]
        if not spans:
            return strip
        starts = {strip.index_to_cell_position(start) for start, _ in spans}
        ends = {strip.index_to_cell_position(end) for _, end in spans}
        cuts = sorted(starts | ends | {strip.cell_length})
        pieces, at = [], 0
        for piece, end in zip(strip.divide(cuts), cuts, strict=False):
            pieces.append(piece.apply_style(_MARKED) if at in starts else piece)
            at = end
        return Strip.join(pieces)

    def render_line(self, y: int) -> Strip:
        self._ensure(self.size.width)
        strip = self._row(y).apply_offsets(0, y)
        if self._mark is not None:
            strip = self._marked(strip)
        selection = self.text_selection
        if selection is not None and (span := selection.get_span(y)) is not None:
            strip = self._select(strip, *span)
        return strip

    def _select(self, strip: Strip, start: int, end: int) -> Strip:
        style = self.screen.get_component_rich_style("screen--selection")
        length = len(strip.text)
        end = length if end == -1 else min(end, length)
        cuts = [strip.index_to_cell_position(i) for i in (start, end)]
        before, chosen, after = [*strip.divide(cuts), Strip([]), Strip([])][:3]
        return Strip.join([before, chosen.apply_style(style), after])

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        rows = self._frozen.rows + len(self._tail_lines)
        return selection.extract("\n".join(self._row(y).text for y in range(rows))), "\n"

    def selection_updated(self, selection: Selection | None) -> None:
        self.refresh()

    def style_of(self, style: Style | str) -> Style:
        """A style for `Content.render` through public API: `.name` is a component class of
        this widget or the nearest ancestor that has it; anything else is parsed."""
        if isinstance(style, Style):
            return style
        if style.startswith("."):
            for node in self.ancestors_with_self:
                if not isinstance(node, Widget):
                    break
                try:
                    return node.get_visual_style(style[1:], partial=True)
                except KeyError:
                    continue
            return _PLAIN
        try:
            return Style.parse(style)
        except Exception:  # an unknown style name in a theme: plain text, never a crash
            return _PLAIN

    def settle_when_restyled(self) -> None:
        """`settle` in the style update that is coming (the reply's border changes as it
        ends), so that both make one repaint: each is a repaint of the whole pane."""
        self._settle_with_styles = True

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._restyled = True  # checked at the next paint: a theme change, or just a hover?
        if self._settle_with_styles:
            self._settle_with_styles = False
            self.settle()
        self.refresh()

    def _look_changed(self) -> bool:
        self._restyled = False
        look = (self.visual_style, *(self.style_of(f".{name}")
                                     for name in sorted(MARKDOWN_COMPONENTS)))
        changed, self._look = look != self._look, look
        return changed


def warm_up() -> None:
    """Load what the first reply on screen needs (the Markdown parser, Pygments and a lexer:
    ~0.15 s here), so that opening the first conversation does not pay for it. Run in a
    thread while the app is idle."""
    from textual.highlight import highlight

    make_parser()
    highlight("def f(x):\n    return x\n", language="python")
