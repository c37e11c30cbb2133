"""Hypothesis over the conversation codec: any text in any field makes an exact round trip
through the bytes written to disk, or a `CodecError` that says where; never a crash or a
silent change (issue #7, "Fuzzing and soak").
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llama_tui.model import Conversation, ConversationParams, Message, Role, Stats, Usage
from llama_tui.storage import codec
from llama_tui.storage.codec import CodecError

FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: What has broken TOML writers: quotes, backslashes, CR/LF, NUL, ESC sequences, DEL, C1,
#: line separators, bidi overrides, astral-plane emoji, text that looks like TOML syntax.
_TRICKY = [
    '"', '"""', "'''", "\\", "\\u0041", "\r", "\n", "\r\n", "\x00", "\x1b", "\x1b]52;c;SGk=\x07",
    "\x1b[31m", "\x7f", "\x85", "\x9b", "\u2028", "\u202e", "😀", "[x]", "[[messages]]", "#",
    "=", "\t", " ",
]
#: Lone surrogates: what `surrogateescape` makes of bytes that are not UTF-8.
_SURROGATES = ["\ud800", "\udfff", "\udcff"]


def texts(surrogates: bool) -> st.SearchStrategy[str]:
    tricky = st.sampled_from(_TRICKY + (_SURROGATES if surrogates else []))
    chars = st.text(max_size=8) if surrogates else st.text(
        st.characters(blacklist_categories=["Cs"]), max_size=8)
    return st.lists(st.one_of(chars, tricky), max_size=12).map("".join)


ANY_TEXT = texts(surrogates=True)
CLEAN_TEXT = texts(surrogates=False)
WHEN = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9999, 1, 1),
                    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)),
                                               timezone(timedelta(hours=-8))]))
FLOAT = st.floats(allow_nan=True, allow_infinity=True, width=64)
INT = st.integers(-(2**63), 2**63 - 1)


def _has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_surrogate(v) for v in value)
    return False


@st.composite
def messages(draw: st.DrawFn, text: st.SearchStrategy[str]) -> Message:
    stats = draw(st.none() | st.builds(
        Stats, ttft_ms=st.none() | st.integers(0, 10**9), tokens=st.none() | st.integers(0, 10**9),
        tokens_per_s=st.none() | FLOAT, request_id=st.none() | text,
        duration_ms=st.none() | st.integers(0, 10**12)))
    usage = draw(st.none() | st.builds(Usage, st.none() | st.integers(0, 10**9),
                                       st.none() | st.integers(0, 10**9)))
    return Message(
        role=draw(st.sampled_from(list(Role))),
        content=draw(text),
        created_at=draw(WHEN),
        finish_reason=draw(st.none() | st.sampled_from(["stop", "length", "interrupted"]) | text),
        error=draw(st.none() | text),
        stats=stats,
        usage=usage if usage != Usage() else None,
        extra=draw(st.dictionaries(text.filter(lambda k: k not in codec._MSG_KEYS), text | INT,
                                   max_size=2)),
    )


@st.composite
def conversations(draw: st.DrawFn, text: st.SearchStrategy[str] = ANY_TEXT) -> Conversation:
    return Conversation(
        id=draw(st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=30)),
        title=draw(text),
        created_at=draw(WHEN),
        updated_at=draw(WHEN),
        mode=draw(st.sampled_from(["chat", "completion"])),
        endpoint=draw(st.none() | text),
        system=draw(st.none() | text),
        params=ConversationParams(
            temperature=draw(st.none() | FLOAT), top_p=draw(st.none() | FLOAT),
            max_tokens=draw(st.none() | st.integers(0, 2**31)),
            stop=draw(st.none() | st.lists(text, max_size=3)),
            memory_window=draw(st.none() | st.integers(0, 100))),
        messages=draw(st.lists(messages(text), max_size=4)),
        pinned=draw(st.booleans()),
        extra=draw(st.dictionaries(text.filter(lambda k: k not in codec._CONV_KEYS), text,
                                   max_size=2)),
    )


def _same(a: Any, b: Any) -> bool:
    """Equality where NaN equals NaN (a NaN temperature must come back as NaN)."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b  # TOML keeps 1 and 1.0 apart; params read as floats compare equal
    return type(a) is type(b) and bool(a == b)


@FUZZ
@given(conversations())
def test_round_trip_through_bytes_is_exact_or_a_clear_error(conv: Conversation) -> None:
    before = codec.encode(conv)
    try:
        data = codec.dumps(conv).encode("utf-8")
    except CodecError as exc:
        # The only thing TOML (UTF-8) cannot hold: a lone surrogate. Say so, and where.
        assert _has_surrogate(before), exc
        assert "surrogate" in str(exc)
        return
    assert not _has_surrogate(before)
    back = codec.loads(data.decode("utf-8"))
    assert _same(codec.encode(back), before)


@FUZZ
@given(st.text(max_size=400))
def test_any_text_loads_or_fails_with_a_codec_error(text: str) -> None:
    try:
        codec.loads(text, fallback_id="x")
    except CodecError:
        pass


VALUES = st.recursive(
    st.booleans() | INT | FLOAT | CLEAN_TEXT | WHEN,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(CLEAN_TEXT, inner, max_size=3),
    max_leaves=6,
)
SUB_KEYS = st.sampled_from(["ttft_ms", "tokens", "tokens_per_s", "request_id", "duration_ms",
                            "prompt_tokens", "completion_tokens", "total_tokens", "x"])
ANY_VALUE = VALUES | st.dictionaries(SUB_KEYS, VALUES, max_size=4)


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """A valid document with one to three values swapped for anything at all (often the
    wrong type: a string for a number, a table for a string, an array for a table)."""
    doc = codec.encode(draw(conversations(CLEAN_TEXT)))
    tables = list(doc["messages"])
    for _ in range(draw(st.integers(1, 3))):
        if tables and draw(st.booleans()):
            table = draw(st.sampled_from(tables))
            sub = table.get(name := draw(st.sampled_from(["stats", "usage"])))
            if draw(st.booleans()) and (sub is None or isinstance(sub, dict)):
                table[name] = {**(sub or {}), draw(SUB_KEYS): draw(ANY_VALUE)}
            else:
                table[draw(st.sampled_from(sorted(codec._MSG_KEYS | {"other"})))] = draw(ANY_VALUE)
        else:
            doc[draw(st.sampled_from(sorted(codec._CONV_KEYS | {"other"})))] = draw(ANY_VALUE)
    return doc


def _as_written(value: Any) -> Any:
    """How a value reads back: dates in UTC; an empty table is the same as no table."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return None if value == {} else value


@FUZZ
@given(documents())
def test_wrong_schema_is_a_codec_error_or_read_without_change(doc: dict[str, Any]) -> None:
    """Any document shape is refused with a CodecError, or read so that writing it back gives
    every key it had, unchanged: nothing coerced, nothing dropped."""
    try:
        conv = codec.decode(doc, fallback_id="fallback")
    except CodecError:
        return
    written = codec.encode(conv)
    for key, value in doc.items():
        if key == "messages" or (key == "pinned" and value is False):  # false is the default
            continue
        assert _same(_as_written(written.get(key)), _as_written(value)), (key, value)
    for original, table in zip(doc["messages"], written["messages"], strict=True):
        for key, value in original.items():
            assert _same(_as_written(table.get(key)), _as_written(value)), (key, value)
    # What the UI formats must have the types it formats with.
    for message in conv.messages:
        stats = message.stats or Stats()
        for name in ("ttft_ms", "tokens", "duration_ms"):
            assert getattr(stats, name) is None or type(getattr(stats, name)) is int, name
        assert stats.tokens_per_s is None or type(stats.tokens_per_s) in (int, float)
        assert stats.request_id is None or isinstance(stats.request_id, str)
        for value in vars(message.usage or Usage()).values():
            assert value is None or type(value) is int
