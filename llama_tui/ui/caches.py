"""Textual's and Rich's memo caches, kept small in a long session.

Textual and Rich memoize small pure functions with `functools.lru_cache`: region arithmetic,
cell widths, style sums, segment splits, colour blends... about 50 caches of 1,024 to 16,384
entries each (~120,000 entries in all, ~240 bytes each with their keys and values). They fill
with one-off values (a region for every scroll offset and reply height seen, the width of
every line of text drawn) and keep them until full, so left alone they are most of what a
long session's memory grows by (docs/performance.md, "Soak"), while a screen needs a few
thousand.

So the chat empties them once they hold more than `ENTRY_LIMIT` entries, checked when it lets
a conversation's messages go and when a reply has been saved (both moments when the next
frame draws anew anyway). Only bounded caches of `textual` and `rich` modules: an unbounded
one (`maxsize=None`) is bounded by its keys (classes, a data table loaded once).
"""

from __future__ import annotations

import sys
from typing import Any

from llama_tui.ui.textual_compat import is_bounded_lru_cache

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
                    if is_bounded_lru_cache(item):
                        found[id(item)] = item
        _found[:] = found.values()
    return _found


def entries() -> int:
    return sum(cache.cache_info().currsize for cache in lru_caches())


def trim(limit: int | None = None) -> bool:
    """Empty the caches if they hold more than `limit` (`ENTRY_LIMIT`) entries; True if
    they were."""
    if entries() <= (ENTRY_LIMIT if limit is None else limit):
        return False
    for cache in lru_caches():
        cache.cache_clear()
    return True
