"""Full-text search across every saved conversation.

Each file is scanned as raw text first (cheap: no TOML parsing); only files whose text holds
the query are parsed to find the matching messages and cut a snippet. Nothing is cached, so
memory stays flat however large the history is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from llama_tui.storage import codec
from llama_tui.storage.files import read_regular
from llama_tui.storage.store import Summary


@dataclass(frozen=True)
class Hit:
    """One conversation that matches: where it first matches, and how often."""

    conversation_id: str
    title: str
    path: Path
    #: Index of the first matching message (-1: only the title matched).
    message_index: int
    #: The first matching message's text around the match (the title when only it matched).
    snippet: str
    #: Matching messages, plus one when the title matches.
    count: int = 1
    #: What was searched for (to find and mark it again where the hit is opened).
    query: str = ""


def snippet(text: str, start: int, length: int, width: int = 80) -> str:
    """The match with some context on each side, on one line."""
    before = max(0, start - width // 3)
    after = min(len(text), start + length + width)
    cut = text[before:after]
    cut = " ".join(cut.split())
    return ("…" if before else "") + cut + ("…" if after < len(text) else "")


def search(summaries: Iterable[Summary], query: str, limit: int = 200) -> list[Hit]:
    """Conversations (newest first, as given) whose title or messages contain `query`
    (case-insensitive): one hit per conversation, at its first matching message, with the
    number of matches; at most `limit` conversations."""
    needle = query.casefold().strip()
    if not needle:
        return []
    # TOML escapes quotes, backslashes and controls: such a query cannot prefilter raw text.
    prefilter = not any(c in needle for c in '"\\') and needle.isprintable()
    # Files are ruled out on their raw bytes lowered (4-5x faster than decoding and
    # case-folding every file): by the whole query when it is ASCII, else by its longest
    # ASCII run, and then on the decoded, case-folded text.
    runs = [needle] if needle.isascii() else re.findall(r"[ -~]{3,}", needle)
    probe = max(runs, key=len).encode("ascii") if prefilter and runs else None
    hits: list[Hit] = []
    for summary in summaries:
        hit = _search_one(summary, needle, probe, prefilter)
        if hit is not None:
            hits.append(replace(hit, query=query.strip()))
            if len(hits) >= limit:
                break
    return hits


def _search_one(summary: Summary, needle: str, probe: bytes | None,
                prefilter: bool) -> Hit | None:
    in_title = needle in summary.title.casefold()
    title_hit = Hit(summary.id, summary.title, summary.path, -1, summary.title) \
        if in_title else None
    try:  # bounded: a FIFO or /dev/zero planted since the listing must not hang it
        data = read_regular(summary.path)[0]
    except OSError:
        return title_hit
    if probe is not None and probe not in data.lower():
        return title_hit
    raw = data.decode("utf-8", errors="replace")
    if prefilter and not needle.isascii() and needle not in raw.casefold():
        return title_hit
    try:
        conv = codec.loads(raw, fallback_id=summary.id)
    except codec.CodecError:
        return title_hit
    first: tuple[int, str] | None = None
    count = int(in_title)
    for index, message in enumerate(conv.messages):
        at = message.content.casefold().find(needle)
        if at >= 0:
            count += 1
            if first is None:
                first = (index, snippet(message.content, at, len(needle)))
    if first is None:
        return title_hit
    return Hit(summary.id, summary.title, summary.path, first[0], first[1], count)
