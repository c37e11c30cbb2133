"""Each reach inside Textual is fenced: on this Textual it is in place; when Textual renames
what it touches, the fence turns it off and the app loses speed or memory, never runs into an
exception. These tests play the "renamed" case with stand-ins."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from llama_tui.ui import textual_compat as compat


def test_on_this_textual_every_fence_is_in_place() -> None:
    from textual._styles_cache import StylesCache
    from textual.widget import Widget

    assert compat.LAYOUT_ONCE  # else: two layout passes per growth step (slower)
    assert hasattr(StylesCache.get_inner_outer, "cache_clear")  # textual#6665 still open
    assert compat.anchor_released(Widget()) is False


def test_layout_once_without_the_private_method_changes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Textual whose `_size_updated` has no `layout` parameter: the mixin defines nothing,
    so the widget lays out twice (as plain Textual does)."""
    from textual.widget import Widget

    def renamed(self: Any, size: Any, virtual_size: Any, container_size: Any) -> bool:
        return True

    monkeypatch.setattr(Widget, "_size_updated", renamed)
    assert compat._size_updated_takes_layout() is False
    monkeypatch.delattr(Widget, "_size_updated")
    assert compat._size_updated_takes_layout() is False


def test_memory_fences_do_nothing_when_what_they_empty_is_gone() -> None:
    compat.forget_styles_cache(object())  # no `_styles_cache`: nothing to empty

    class Renamed:
        _styles_cache = "not a cache"

    compat.forget_styles_cache(Renamed())
    assert compat.anchor_released(object()) is None  # unknown: every block measured at once


def test_bounded_lru_caches_are_told_apart_and_a_missing_type_finds_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    @functools.lru_cache(maxsize=8)
    def bounded(x: int) -> int:
        return x

    @functools.cache
    def unbounded(x: int) -> int:
        return x

    assert compat.is_bounded_lru_cache(bounded)
    assert not compat.is_bounded_lru_cache(unbounded)
    assert not compat.is_bounded_lru_cache(len)
    monkeypatch.delattr(functools, "_lru_cache_wrapper")
    assert not compat.is_bounded_lru_cache(bounded)  # memo caches never emptied: more memory


def test_forget_removed_widgets_survives_a_textual_without_the_cache(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from textual._styles_cache import StylesCache

    compat.forget_removed_widgets()  # this Textual: emptied
    monkeypatch.delattr(StylesCache, "get_inner_outer")
    compat.forget_removed_widgets()  # a fixed Textual: nothing to do


def test_write_sequence_without_a_driver_says_so() -> None:
    """Headless, or a Textual without `_driver`: False, and the caller rings the bell."""

    class NoDriver:
        is_headless = False

    assert compat.write_sequence(NoDriver(), "\x1b]9;x\x07") is False
