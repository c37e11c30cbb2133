"""A conversation's list entry (`Summary`) read from the header of its file, fast.

Most headers fit in the first 2 KiB and have the plain shape llama-tui writes; those are read
without a TOML parser. Files are read through `files.open_regular`: regular files only, bounded.
"""

from __future__ import annotations

import codecs
import json
import re
import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from llama_tui.model import Conversation
from llama_tui.storage import codec, ids
from llama_tui.storage.files import MAX_CONVERSATION_BYTES, open_regular, read_regular

#: An empty file is no conversation, even though it is valid (empty) TOML.
EMPTY = "the file is empty (a write that never finished, or another program's file)"
_HEADER_BYTES = 16384
_FIRST_BYTES = 2048


@dataclass(frozen=True)
class Summary:
    """What the conversation list needs, without the messages."""

    id: str
    title: str
    created_at: datetime
    updated_at: datetime
    path: Path
    mode: str = "chat"
    pinned: bool = False


def read_summary(path: Path) -> Summary:
    """A summary from the file's header only; falls back to a full parse when needed.

    Most headers fit in the first 2 KiB: read that, and take the fast path (no TOML parser,
    no Conversation) when the header has the plain shape llama-tui writes.
    """
    with open_regular(path, MAX_CONVERSATION_BYTES) as handle:
        head = handle.read(_FIRST_BYTES)
        if len(head) == _FIRST_BYTES and b"\n[" not in head:
            head += handle.read(_HEADER_BYTES - _FIRST_BYTES)
        whole = len(head) < _HEADER_BYTES and b"\n[" not in head and handle.read(1) == b""
    if whole and not head.strip():
        raise codec.CodecError(EMPTY)
    cut_bytes = head.find(b"\n[")
    if cut_bytes >= 0:
        try:
            quick = _quick_summary(fast_header(head[:cut_bytes].decode("utf-8")), path)
        except UnicodeDecodeError:
            quick = None
        if quick is not None:
            return quick
    # Strict, so a non-UTF-8 file is reported rather than listed with bytes dropped from its
    # title; incremental, so a character cut at the end of the head is not an error.
    text = codecs.getincrementaldecoder("utf-8")().decode(head, final=whole)
    cut = text.find("\n[")
    data: dict[str, Any] | None = None
    if cut >= 0:
        # Top-level keys must precede every table, so the prefix holds all of them. A cut
        # inside a multi-line string leaves it unterminated: a parse error, then full parse.
        try:
            data = tomllib.loads(text[:cut])
        except tomllib.TOMLDecodeError:
            data = None
    if data is None or ("id" not in data and "title" not in data):
        full = head if whole else read_regular(path)[0]
        data = parse_toml(full.decode("utf-8"))
    conv = decode({k: v for k, v in data.items() if k not in ("messages", "params")}, path)
    return summarize(conv, path)


def parse_toml(text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise codec.CodecError(f"not valid TOML: {exc}") from None


def decode(data: dict[str, Any], path: Path) -> Conversation:
    """`codec.decode`, where an id that is empty or not a string counts as absent: the file's
    stem stands in, and the caller judges whichever id results (see `ids`)."""
    if "id" in data and not (isinstance(data["id"], str) and data["id"]):
        data = {k: v for k, v in data.items() if k != "id"}
    return codec.decode(data, fallback_id=ids.stem(path.name))


def _quick_summary(data: dict[str, Any] | None, path: Path) -> Summary | None:
    """A summary straight from a plain header, or None when anything is unusual (then the
    caller's full decode gives the precise error or the right defaults)."""
    if data is None:
        return None
    conv_id, title = data.get("id"), data.get("title", "")
    created, updated = data.get("created_at"), data.get("updated_at", data.get("created_at"))
    version, mode, pinned = data.get("schema_version", 1), data.get("mode", "chat"), \
        data.get("pinned", False)
    if not (isinstance(conv_id, str) and conv_id and isinstance(title, str)
            and isinstance(created, datetime) and isinstance(updated, datetime)
            and created.tzinfo and updated.tzinfo
            and type(version) is int and version <= codec.SCHEMA_VERSION
            and mode in ("chat", "completion") and isinstance(pinned, bool)):
        return None
    return Summary(conv_id, title or "Untitled", created, updated, path, mode, pinned)


def summary_to_json(s: Summary) -> dict[str, Any]:
    return {"id": s.id, "title": s.title, "mode": s.mode, "pinned": s.pinned,
            "created_at": s.created_at.isoformat(), "updated_at": s.updated_at.isoformat()}


_LINE = re.compile(r"([A-Za-z0-9_-]+) = (.*)")
_DATETIME = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")
_INT = re.compile(r"[+-]?\d+")


def fast_header(text: str) -> dict[str, Any] | None:
    """Read `key = value` lines of the simple shapes tomli_w writes (basic strings, integers,
    booleans, date-times) without a TOML parser; None for anything else (the caller then
    parses with tomllib). Listing 10,000 cold files is dominated by this, hence the shortcut."""
    data: dict[str, Any] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.fullmatch(line)
        if match is None:
            return None
        key, value = match.groups()
        if key in data:
            return None
        if value.startswith('"') and not value.startswith('"""'):
            if "\\U" in value or not value.endswith('"') or len(value) < 2:
                return None
            try:
                parsed = json.loads(value)
            except ValueError:
                return None
            if not isinstance(parsed, str):
                return None
            data[key] = parsed
        elif value in ("true", "false"):
            data[key] = value == "true"
        elif _INT.fullmatch(value):
            data[key] = int(value)
        elif _DATETIME.fullmatch(value):
            try:
                data[key] = datetime.fromisoformat(value)
            except ValueError:
                return None
        else:
            return None
    return data


def sort_summaries(summaries: list[Summary]) -> list[Summary]:
    """Pinned first, then the most recently updated first."""
    summaries.sort(key=lambda s: s.updated_at, reverse=True)
    summaries.sort(key=lambda s: not s.pinned)
    return summaries


def summarize(conv: Conversation, path: Path) -> Summary:
    return Summary(conv.id, conv.title or "Untitled", conv.created_at, conv.updated_at, path,
                   conv.mode, conv.pinned)


def cached_summary(cached: Any, key: list[int], folder: Path, name: str) -> Summary | None:
    if not isinstance(cached, list) or len(cached) != 3 or cached[:2] != key:
        return None
    try:
        return _summary_from_json(cached[2], folder / name)
    except (KeyError, TypeError, ValueError):
        return None


def _summary_from_json(data: dict[str, Any], path: Path) -> Summary:
    return Summary(
        id=data["id"], title=data["title"], mode=data.get("mode", "chat"),
        created_at=datetime.fromisoformat(data["created_at"]),
        updated_at=datetime.fromisoformat(data["updated_at"]),
        pinned=bool(data.get("pinned")), path=path,
    )
