"""Textual's and Rich's memo caches, kept small in a long session.

Textual and Rich memoize small pure functions with `functools.lru_cache`: region arithmetic,
cell widths, style sums, segment splits, colour blends... about 50 caches of 1,024 to 16,384
entries each (~120,000 entries in all, ~240 bytes each with their keys and values). They fill
with one-off values (a region for every scroll offset and reply height seen, the width of
every line of text drawn) and keep them until full: in the soak test that was most of the
memory the app gained over its first hundreds of replies (+2.9 MB of Python objects in 70
replies, all of it freed by emptying these caches), while a screen needs a few thousand.

So the chat empties them once they hold more than `ENTRY_LIMIT` entries, checked when it lets
a conversation's messages go and when a reply has been saved (both moments when the next
frame draws anew anyway). Only bounded caches of `textual` and `rich` modules: an unbounded
one (`maxsize=None`) is bounded by its keys (classes, a data table loaded once).
"""

from __future__ import annotations

import functools
import sys
from typing import Any

#: Emptied above this many entries in all (~2.4 MB); one screen refills ~3,000-5,000.
ENTRY_LIMIT = 10_000

_found: list[Any] = []
_modules_seen = 0


def lru_caches() -> list[Any]:
    """The bounded lru caches of Textual and Rich (found again when modules were imported)."""
    global _modules_seen
    names = [name for name in list(sys.modules) if name.partition(".")[0] in ("textual", "rich")]
    if len(names) != _modules_seen:
        _modules_seen = len(names)
        found: dict[int, Any] = {}
        for name in names:
            module = sys.modules.get(name)
            if module is None:
                continue
            for value in list(vars(module).values()):
                members = list(vars(value).values()) if isinstance(value, type) else []
                for item in (value, *members):
                    item = getattr(item, "__func__", item)  # classmethod, staticmethod
                    if (isinstance(item, functools._lru_cache_wrapper)
                            and item.cache_parameters()["maxsize"] is not None):
                        found[id(item)] = item
        _found[:] = found.values()
    return _found


def entries() -> int:
    return sum(cache.cache_info().currsize for cache in lru_caches())


def forget_removed_widgets() -> None:
    """Empty `StylesCache.get_inner_outer`, an lru_cache on a method of each widget's styles
    cache: it keeps up to 1,024 removed widgets' caches alive, with their rendered lines
    (Textualize/textual#6665). Unlike the rest, emptied whenever widgets go, whatever its
    size: the soak measured ~1.6 MB by reply 200, ~8 MB per 50 replies before the chat
    emptied the removed widgets' own caches."""
    from textual._styles_cache import StylesCache

    clear = getattr(StylesCache.get_inner_outer, "cache_clear", None)
    if clear is not None:  # Textual 8.2; a later one may have fixed the cache
        clear()


def trim(limit: int | None = None) -> bool:
    """Empty the caches if they hold more than `limit` (`ENTRY_LIMIT`) entries; True if
    they were."""
    if entries() <= (ENTRY_LIMIT if limit is None else limit):
        return False
    for cache in lru_caches():
        cache.cache_clear()
    return True
