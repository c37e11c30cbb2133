"""One layout per size change, not two.

When a layout pass gives a widget a new size, Textual stores its new virtual size through a
reactive declared with `layout=True`, which asks for a second layout pass of the whole screen
(and a full repaint) on the next frame, though nothing moves again. While a reply grows, that
doubled every scroll of the chat: twice the CPU and twice the bytes sent to the terminal.
Nothing watches `virtual_size` (Textual 8.2), and scrollbars are updated by the first pass,
so the widgets of the chat store it without asking for another pass.
"""

from __future__ import annotations

from textual.geometry import Size


class LayoutOnce:
    """Mixin for widgets (listed before the Textual class: a plain mixin, so that Textual's
    CSS inheritance, which follows the first widget base, still sees the Textual class)."""

    def _size_updated(self, size: Size, virtual_size: Size, container_size: Size,
                      layout: bool = True) -> bool:
        return super()._size_updated(  # type: ignore[misc, no-any-return]
            size, virtual_size, container_size, layout=False)
