"""A reasoning model's thinking, shown apart from its answer.

Live while the model thinks: dim, headed "Thinking · 12 s", its last lines only, wrapped here
to the block's width so that the block keeps one height (a frame repaints it without a layout
of the chat, and costs the same however long the thinking grows). It folds to one line
("▸ Thought for 12 s") when the answer starts or the reply ends; `t` on the focused reply, or
a click, opens and closes it. The text is sanitised before it gets here and shown literally
(never as markup).
"""

from __future__ import annotations

import textwrap
import time

from textual.content import Content
from textual.events import Click
from textual.widgets import Static

#: While live, the thinking shows this many of its last lines.
LIVE_LINES = 6
#: The most characters looked at from the end to find those lines.
LIVE_CHARS = 600
#: New thinking is drawn at most this often (a burst of pieces is one frame).
FRAME_SECONDS = 0.1


class ThinkingBlock(Static):
    def __init__(self, text: str = "", *, live: bool = False,
                 seconds: float | None = None) -> None:
        super().__init__("", classes="thinking")
        self._parts: list[str] = [text] if text else []
        self._chars = len(text)
        self.live = live
        self._started = time.monotonic()
        self._seconds = seconds
        self.expanded = False
        self._pending = False

    def on_mount(self) -> None:
        self._draw()
        if self.live:
            self.set_interval(1.0, self._tick, name="thinking-clock")

    @property
    def text(self) -> str:
        return "".join(self._parts)

    @property
    def seconds(self) -> float | None:
        if self.live:
            return time.monotonic() - self._started
        return self._seconds

    def append(self, delta: str) -> None:
        """More thinking; drawn at the next frame of this block (never per piece)."""
        self._parts.append(delta)
        self._chars += len(delta)
        if not self._pending and self.is_mounted:
            self._pending = True
            self.set_timer(FRAME_SECONDS, self._draw)

    def done(self) -> None:
        """The answer started, or the reply ended: collapse to one line."""
        if self.live:
            self._seconds = time.monotonic() - self._started
            self.live = False
            self.expanded = False
            self._draw()

    def toggle(self) -> None:
        if not self.live:
            self.expanded = not self.expanded
            self._draw()

    def on_click(self, event: Click) -> None:
        event.stop()
        self.toggle()

    def _tick(self) -> None:
        if self.live:
            self._draw()

    def _draw(self) -> None:
        self._pending = False
        relayout = self.has_class("-live") != self.live
        self.set_class(self.live, "-live")
        # Live, the block has a fixed height (app.tcss): its text changes, its size does not.
        self.update(Content(self._header() + self._body()), layout=relayout or not self.live)

    def _header(self) -> str:
        seconds = self.seconds
        took = f" for {seconds:.0f} s" if seconds is not None and seconds >= 1 else ""
        if self.live:
            return f"Thinking · {seconds or 0:.0f} s"
        words = len(self.text.split())
        arrow = "▾" if self.expanded else "▸"
        return f"{arrow} Thought{took} · {words} words · t {'hides' if self.expanded else 'shows'}"

    def _body(self) -> str:
        if self.expanded:
            return "\n" + self.text.strip("\n")
        if not self.live:
            return ""
        tail = self._tail().strip("\n")
        return "\n" + tail if tail else ""

    def _tail(self) -> str:
        """The last rows as they wrap at this width, from the last pieces only (a long
        thinking costs no more)."""
        pieces: list[str] = []
        size = 0
        for piece in reversed(self._parts):
            pieces.append(piece)
            size += len(piece)
            if size >= LIVE_CHARS:
                break
        text = "".join(reversed(pieces))[-LIVE_CHARS:]
        width = max(self.content_size.width, 20)
        rows = [row for line in text.splitlines()[-LIVE_LINES:]
                for row in (textwrap.wrap(line, width) or [""])]
        return "\n".join(rows[-LIVE_LINES:])
