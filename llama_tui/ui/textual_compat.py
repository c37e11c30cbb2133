"""Every place llama-tui reaches inside Textual (or CPython), fenced in one module.

Each one works around something only Textual can fix (docs/textual-upstream.md) or buys speed
or memory that docs/performance.md measures. Each is guarded: when a Textual release renames or
removes what it touches, the guard turns it off, the app loses that speed or memory, and it
never crashes. `tests/unit/test_textual_compat.py` says, for each, what happens then.

- `LayoutOnce`: one layout pass per size change instead of two (Widget._size_updated).
- `forget_styles_cache`, `forget_removed_widgets`: memory held by removed widgets
  (Widget._styles_cache, StylesCache.get_inner_outer; textual#6665).
- `is_bounded_lru_cache`: finds Textual's and Rich's memo caches (functools._lru_cache_wrapper).
- `anchor_released`: whether the user scrolled away from an anchored pane (no public API).
- `prune_closed_watchers`: data-bound children removed by a recompose stay alive in their
  parent's watcher list until the bound reactive changes (the Footer's keys: textual report 4).
- `write_sequence`: an escape sequence of our own (the "reply finished" notification) through
  the driver, as `App.bell` does (there is no public API for it).
"""

from __future__ import annotations

import functools
import inspect
import logging
from typing import TYPE_CHECKING, Any

from textual.widgets import Footer

if TYPE_CHECKING:
    from textual.geometry import Size

log = logging.getLogger(__name__)


def _size_updated_takes_layout() -> bool:
    try:
        from textual.widget import Widget

        return "layout" in inspect.signature(Widget._size_updated).parameters
    except (ImportError, AttributeError, TypeError, ValueError):
        return False


#: Whether Textual's `_size_updated(size, virtual_size, container_size, layout=...)` is there.
LAYOUT_ONCE = _size_updated_takes_layout()


class LayoutOnce:
    """Mixin (listed before the Textual class: CSS inheritance follows the first widget base):
    a new size is stored without asking for a second layout pass of the whole screen.

    When a layout pass gives a widget a new size, Textual stores its virtual size through a
    reactive declared with `layout=True`, which asks for another layout and a full repaint on
    the next frame though nothing moves again: while a reply grows, that doubles every scroll
    of the chat (twice the CPU, twice the bytes to the terminal). Nothing watches
    `virtual_size` in Textual 8.2 and the first pass updates the scrollbars. Without the
    private method (`LAYOUT_ONCE` False) this does nothing: two passes again."""

    if LAYOUT_ONCE:
        def _size_updated(self, size: Size, virtual_size: Size, container_size: Size,
                          layout: bool = True) -> bool:
            return super()._size_updated(  # type: ignore[misc, no-any-return]
                size, virtual_size, container_size, layout=False)


def forget_styles_cache(widget: Any) -> None:
    """Empty a widget's rendered-lines cache before it is removed (Textual keeps the caches of
    recently removed widgets alive: textual#6665). Without it: more memory, nothing else."""
    cache = getattr(widget, "_styles_cache", None)
    clear = getattr(cache, "clear", None)
    if callable(clear):
        clear()


def forget_removed_widgets() -> None:
    """Empty `StylesCache.get_inner_outer`, an lru_cache on a method of each widget's styles
    cache that keeps up to 1,024 removed widgets alive with their rendered lines
    (textual#6665). Without it: more memory, nothing else."""
    try:
        from textual._styles_cache import StylesCache
    except ImportError:
        return
    clear = getattr(getattr(StylesCache, "get_inner_outer", None), "cache_clear", None)
    if callable(clear):
        clear()


def is_bounded_lru_cache(item: Any) -> bool:
    """Whether `item` is a `functools.lru_cache` with a size limit (CPython's private type;
    without it nothing is found and the memo caches are never emptied: more memory)."""
    wrapper = getattr(functools, "_lru_cache_wrapper", None)
    if wrapper is None or not isinstance(item, wrapper):
        return False
    try:
        return item.cache_parameters()["maxsize"] is not None
    except (AttributeError, KeyError, TypeError):
        return False


def anchor_released(widget: Any) -> bool | None:
    """Whether the user scrolled an anchored pane away from its end (Textual 8.2 keeps it in
    `_anchor_released`; there is no public API). None when unknown: callers then measure
    every block at once (slower, never wrong)."""
    value = getattr(widget, "_anchor_released", None)
    return value if isinstance(value, bool) else None


def prune_closed_watchers(node: Any) -> int:
    """Drop the watchers of `node`'s reactives whose watching widget was removed; returns how
    many. Textual prunes them only when the watched value changes: `Footer` recomposes its
    keys whenever the bindings change (a reply starts or ends, focus moves) and each key is
    data-bound to `Footer.compact`, which never changes, so every removed key stays alive and
    memory grows with every reply (docs/textual-upstream.md §4). Without the attribute:
    nothing pruned, more memory."""
    watchers = getattr(node, "__watchers", None)
    if not isinstance(watchers, dict):
        return 0
    dropped = 0
    for entries in list(watchers.values()):
        if not isinstance(entries, list):
            continue
        kept = [entry for entry in entries if not _closed(entry)]
        dropped += len(entries) - len(kept)
        entries[:] = kept
    return dropped


def _closed(entry: Any) -> bool:
    reactable = entry[0] if isinstance(entry, tuple) and entry else None
    return bool(getattr(reactable, "_closing", False) or getattr(reactable, "_closed", False))


class LeanFooter(Footer):
    """Textual's footer, letting go of the keys each recompose removes (`prune_closed_watchers`)."""

    async def recompose(self) -> None:
        await super().recompose()
        prune_closed_watchers(self)


def write_sequence(app: Any, sequence: str) -> bool:
    """Write an escape sequence of our own to the terminal, between frames (Textual's public
    API has only the bell, `App.bell`, which writes through `_driver` the same way). False
    when there is no terminal (headless) or Textual has no driver there: the caller rings
    the bell instead."""
    driver = getattr(app, "_driver", None)
    if getattr(app, "is_headless", True) or driver is None or not hasattr(driver, "write"):
        return False
    driver.write(sequence)
    return True
