"""The memo caches of Textual and Rich that the app empties in a long session (ui.caches)."""

from __future__ import annotations

from rich.cells import cached_cell_len
from rich.segment import Segment
from textual._styles_cache import StylesCache
from textual.geometry import Region

from llama_tui.ui import caches


def test_finds_the_bounded_caches_of_textual_and_rich_only():
    found = caches.lru_caches()
    for cache in (cached_cell_len, Segment._split_cells, Region.intersection,
                  StylesCache.get_inner_outer):
        cache = getattr(cache, "__func__", cache)  # a classmethod's
        assert any(f is cache for f in found), cache
    assert all(f.cache_parameters()["maxsize"] is not None for f in found)
    assert all(f.__module__.partition(".")[0] in ("textual", "rich") for f in found)


def test_trim_empties_them_only_above_the_limit():
    caches.trim(limit=0)
    for i in range(300):
        cached_cell_len(f"width {i} 🙂")
        Region(0, i, 10, 10).intersection(Region(0, 0, 5, 5))
    held = caches.entries()
    assert held >= 600
    assert not caches.trim(limit=held)
    assert caches.entries() == held
    assert caches.trim(limit=held - 1)
    assert caches.entries() == 0
    assert cached_cell_len("width 1 🙂") == 10  # still the same function, computing again
