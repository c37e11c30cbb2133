"""Which id a conversation file gets: ids read from disk are untrusted.

An id becomes part of messages, notifications and (for new conversations) a file name, and
other programs write these files too. So an id is used only when it is made of the sortable
id alphabet: letters, digits, `-` and `_`, at most 64 characters (llama-tui writes 26-character
ULIDs; tests and other tools write shorter ones). A file whose id is anything else (`../x`,
empty, a newline, an escape) takes its file name's stem when that qualifies, else it is skipped.

Two files may declare the same id (a sync tool's conflict copy `ID.sync-conflict-….toml` keeps
the id inside). They are two conversations: the file named after the id keeps it, the other
takes its stem, or an id derived from its stem when the stem does not qualify. Paths are never
built from an id read from a file; the store keeps the real file name of every id.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable

_SAFE = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,63}")
_UNSAFE_RUN = re.compile(r"[^0-9A-Za-z_-]+")
SUFFIX = ".toml"


def is_safe_id(value: object) -> bool:
    """Whether `value` may be a conversation id (and so the stem of a file name)."""
    return isinstance(value, str) and _SAFE.fullmatch(value) is not None


def stem(name: str) -> str:
    return name[: -len(SUFFIX)] if name.endswith(SUFFIX) else name


def derived_id(name: str) -> str:
    """A stable id for a file whose stem is not one: the stem with every unsafe run turned into
    `-` (`X.sync-conflict-20261201` -> `X-sync-conflict-20261201`), or, when nothing usable
    remains, a hash of the name."""
    base = _UNSAFE_RUN.sub("-", stem(name)).strip("-_")[:64].rstrip("-_")
    return base if is_safe_id(base) else "f" + hashlib.sha256(name.encode("utf-8",
                                                              "surrogatepass")).hexdigest()[:25]


def claim(declared: object, name: str, exists: Callable[[str], bool]) -> str | None:
    """The id the file `name` gets, judging by itself and whether the file named after its
    declared id exists (`exists(file_name)`). None: no usable id (the caller skips the file)."""
    own = stem(name)
    if is_safe_id(declared):
        assert isinstance(declared, str)
        if declared == own or not exists(declared + SUFFIX):
            return declared
        return own if is_safe_id(own) else derived_id(name)  # the named file keeps the id
    return own if is_safe_id(own) else None


def unique(claims: Iterable[tuple[str, str]]) -> dict[str, str]:
    """File name -> id, with no id used twice, from (file name, claimed id) pairs. Of the files
    claiming one id, the one named after it keeps it (else the first by name); each other gets
    its derived id, with a hash of its name added when that is taken too."""
    by_id: dict[str, list[str]] = {}
    for name, conv_id in claims:
        by_id.setdefault(conv_id, []).append(name)
    result: dict[str, str] = {}
    losers: list[str] = []
    for conv_id, names in by_id.items():
        names.sort(key=lambda n: (stem(n) != conv_id, n))
        result[names[0]] = conv_id
        losers += names[1:]
    taken = set(result.values())
    for name in sorted(losers):
        candidate = derived_id(name)
        if candidate in taken:
            digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:10]
            candidate = f"{candidate[:53]}-{digest}"
        taken.add(candidate)
        result[name] = candidate
    return result
