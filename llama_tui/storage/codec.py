"""Conversation <-> TOML (docs/design.md §4). This file format is a contract: other tools write it too.

TOML has no null, so None is omitted. Keys this version does not know are kept (in `extra`) and
written back, so a round trip through llama-tui never drops another tool's data.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import fields
from datetime import UTC, date, datetime, time
from typing import Any

import tomli_w

from llama_tui.model import (
    MODES,
    Conversation,
    ConversationParams,
    Message,
    Role,
    Stats,
    Usage,
    utcnow,
)

SCHEMA_VERSION = 1

_CONV_KEYS = {"schema_version", "id", "title", "created_at", "updated_at", "mode", "endpoint",
              "model", "system", "params", "messages", "pinned"}
_MSG_KEYS = {"role", "content", "created_at", "finish_reason", "error", "reasoning", "usage",
             "stats"}
_PARAM_KEYS = {f.name for f in fields(ConversationParams)}
#: The types of the known keys of `[messages.stats]` and `[messages.usage]`: a file with a
#: string where a number belongs is refused here rather than crashing the view that formats it.
_SUB_TYPES: dict[str, dict[str, type | tuple[type, ...]]] = {
    "stats": {"ttft_ms": int, "tokens": int, "tokens_per_s": (int, float), "request_id": str,
              "duration_ms": int},
    "usage": {"prompt_tokens": int, "completion_tokens": int, "total_tokens": int,
              "reasoning_tokens": int},
}


class CodecError(ValueError):
    """A file that is not a conversation this version can read; says which key and why."""


class FutureSchemaError(CodecError):
    """Written by a newer llama-tui: left alone rather than misread."""


def _as_datetime(value: Any, key: str) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date) and not isinstance(value, time):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise CodecError(f"{key}: not a date-time: {value!r}") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise CodecError(f"{key}: expected a date-time, got {type(value).__name__}")


def _expect(value: Any, types: type | tuple[type, ...], key: str) -> Any:
    if not isinstance(value, types) or (isinstance(value, bool) and types in (int, (int, float))):
        names = " or ".join(_TYPE_WORDS.get(t, t.__name__)
                            for t in (types if isinstance(types, tuple) else (types,)))
        raise CodecError(f"{key}: expected {names}, got {_TYPE_WORDS.get(type(value), type(value).__name__)}")
    return value


_TYPE_WORDS: dict[type, str] = {dict: "a table", list: "an array", str: "a string",
                                int: "an integer", float: "a number", bool: "true or false"}


def _unusable(key: str, value: Any) -> bool:
    """A number no server accepts (nan, inf): kept in the file, never used or sent."""
    return key in _FLOAT_PARAMS and isinstance(value, float) \
        and not math.isfinite(value)


_INT_PARAMS = ("max_tokens", "seed", "memory_window")
_TEXT_PARAMS = ("reasoning_effort",)
_FLOAT_PARAMS = ("temperature", "top_p", "presence_penalty", "frequency_penalty")


def _decode_params(table: Any) -> ConversationParams:
    table = _expect(table, dict, "params")
    known = {k: v for k, v in table.items() if k in _PARAM_KEYS and not _unusable(k, v)}
    for key, value in known.items():
        if key == "stop":
            if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
                raise CodecError("params.stop: expected a list of strings")
        elif key in _INT_PARAMS:
            _expect(value, int, f"params.{key}")
        elif key in _TEXT_PARAMS:
            _expect(value, str, f"params.{key}")
        else:
            _expect(value, (int, float), f"params.{key}")
            known[key] = float(value)
    return ConversationParams(**known)


def _unknown_params(table: Any) -> dict[str, dict[str, Any]]:
    """Keys this version does not know, and values it will not use (kept for the round trip)."""
    unknown = {k: v for k, v in table.items() if k not in _PARAM_KEYS or _unusable(k, v)} \
        if isinstance(table, dict) else {}
    return {"params": unknown} if unknown else {}


def _decode_message(index: int, table: Any, fallback_time: datetime) -> Message:
    where = f"messages[{index}]"
    table = _expect(table, dict, where)
    try:
        role = Role(table.get("role"))
    except ValueError:
        raise CodecError(f"{where}.role: expected system, user or assistant, "
                         f"got {table.get('role')!r}") from None
    content = _expect(table.get("content", ""), str, f"{where}.content")
    message = Message(
        role=role,
        content=content,
        created_at=_as_datetime(table["created_at"], f"{where}.created_at")
        if "created_at" in table else fallback_time,
        finish_reason=_expect(table["finish_reason"], str, f"{where}.finish_reason")
        if "finish_reason" in table else None,
        error=_expect(table["error"], str, f"{where}.error") if "error" in table else None,
        reasoning=_expect(table["reasoning"], str, f"{where}.reasoning")
        if "reasoning" in table else None,
        extra={k: v for k, v in table.items() if k not in _MSG_KEYS},
    )
    for name, kind in (("usage", Usage), ("stats", Stats)):
        if name not in table:
            continue
        sub = _expect(table[name], dict, f"{where}.{name}")
        types = _SUB_TYPES[name]
        for key in types.keys() & sub.keys():
            _expect(sub[key], types[key], f"{where}.{name}.{key}")
        setattr(message, name, kind(**{k: v for k, v in sub.items() if k in types}))
        if unknown := {k: v for k, v in sub.items() if k not in types}:
            message.extra_tables[name] = unknown
    return message


def decode(data: dict[str, Any], *, fallback_id: str | None = None) -> Conversation:
    """A `Conversation` from a parsed TOML document. Raises `CodecError`."""
    version = data.get("schema_version", SCHEMA_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CodecError(f"schema_version: expected an integer from 1, got {version!r}")
    if version > SCHEMA_VERSION:
        raise FutureSchemaError(
            f"schema_version {version} is newer than this llama-tui understands "
            f"({SCHEMA_VERSION}); upgrade llama-tui to open it"
        )
    conv_id = data.get("id", fallback_id)
    if not isinstance(conv_id, str) or not conv_id:
        raise CodecError("id: missing")
    created = _as_datetime(data["created_at"], "created_at") if "created_at" in data else utcnow()
    mode = data.get("mode", "chat")
    if mode not in MODES:
        raise CodecError(f"mode: expected chat or completion, got {mode!r}")
    messages_raw = _expect(data.get("messages", []), list, "messages")
    conv = Conversation(
        id=conv_id,
        title=_expect(data.get("title", ""), str, "title"),
        created_at=created,
        updated_at=_as_datetime(data["updated_at"], "updated_at")
        if "updated_at" in data else created,
        mode=mode,
        endpoint=_expect(data["endpoint"], str, "endpoint") if "endpoint" in data else None,
        model=data["model"] if isinstance(data.get("model"), str) and data["model"] else None,
        system=_expect(data["system"], str, "system") if "system" in data else None,
        params=_decode_params(data.get("params", {})),
        extra_tables=_unknown_params(data.get("params", {})),
        messages=[_decode_message(i, m, created) for i, m in enumerate(messages_raw)],
        pinned=_expect(data.get("pinned", False), bool, "pinned"),
        extra={k: v for k, v in data.items() if k not in _CONV_KEYS},
    )
    if "model" in data and conv.model is None:  # another tool's idea of `model`: kept as is
        conv.extra["model"] = data["model"]
    return conv


def loads(text: str, *, fallback_id: str | None = None) -> Conversation:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CodecError(f"not valid TOML: {exc}") from None
    return decode(data, fallback_id=fallback_id)


def _drop_none(table: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in table.items() if v is not None}


def encode(conv: Conversation) -> dict[str, Any]:
    """The TOML document for `conv`, keys in the order of docs/design.md §4."""
    data: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "id": conv.id,
        "title": conv.title,
        "created_at": conv.created_at,
        "updated_at": conv.updated_at,
        "mode": conv.mode,
        "endpoint": conv.endpoint,
        "model": conv.model,
        "system": conv.system,
        "pinned": True if conv.pinned else None,
    }
    data = _drop_none(data)
    data.update({k: v for k, v in conv.extra.items() if k not in data})
    params = _drop_none({f.name: getattr(conv.params, f.name) for f in fields(conv.params)})
    params.update({k: v for k, v in conv.extra_tables.get("params", {}).items() if k not in params})
    if params:
        data["params"] = params
    data["messages"] = [_encode_message(m) for m in conv.messages]
    return data


def _encode_message(message: Message) -> dict[str, Any]:
    table = _drop_none({
        "role": message.role.value,
        "content": message.content,
        "created_at": message.created_at,
        "finish_reason": message.finish_reason,
        "error": message.error,
        "reasoning": message.reasoning,
    })
    table.update({k: v for k, v in message.extra.items() if k not in table})
    for name in ("usage", "stats"):
        value = getattr(message, name)
        sub = {**(_drop_none(vars(value)) if value else {}), **message.extra_tables.get(name, {})}
        if sub:
            table[name] = sub
    return table


def _has_cr(value: Any) -> bool:
    if isinstance(value, str):
        return "\r" in value
    if isinstance(value, dict):
        return any(_has_cr(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_cr(v) for v in value)
    return False


def _surrogate_at(value: Any, where: str) -> str | None:
    """Where a lone surrogate hides in `value` (a key path), if anywhere."""
    if isinstance(value, str):
        hit = next((c for c in value if 0xD800 <= ord(c) <= 0xDFFF), None)
        return f"{where} (U+{ord(hit):04X})" if hit else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _surrogate_at(key, f"{where}.<key>") or _surrogate_at(item, f"{where}.{key}")
            if found:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            if found := _surrogate_at(item, f"{where}[{i}]"):
                return found
    return None


def dumps(conv: Conversation) -> str:
    """The file's text. Raises `CodecError` for what TOML cannot hold: a lone surrogate (say,
    from bytes decoded with `surrogateescape`) is not Unicode text, and replacing it silently
    would change the conversation."""
    try:
        data = encode(conv)
        # tomli_w turns "\r\n" into "\n" inside multi-line strings: escape every newline
        # instead when some text holds a carriage return, so content stays byte-exact.
        text = tomli_w.dumps(data, multiline_strings=not _has_cr(data))
        text.encode("utf-8")
    except UnicodeEncodeError:
        where = (_surrogate_at(data, "conversation") or "some text").removeprefix("conversation.")
        raise CodecError(f"cannot write conversation {conv.id}: {where} holds a lone "
                         "surrogate, which is not text a file can store") from None
    except (TypeError, ValueError) as exc:
        raise CodecError(f"cannot write conversation {conv.id}: {exc}") from None
    return text
