"""Full-text search across every saved conversation.

Each file is scanned as raw text first (cheap: no TOML parsing); only files whose text holds
the query are parsed to find the matching messages and cut a snippet. Nothing is cached, so
memory stays flat however large the history is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from llama_tui.storage import codec
from llama_tui.storage.files import read_regular
from llama_tui.storage.store import Summary


@dataclass(frozen=True)
class Hit:
    conversation_id: str
    title: str
    path: Path
    #: Index of the matching message (-1: the title matched).
    message_index: int
    snippet: str


def snippet(text: str, start: int, length: int, width: int = 80) -> str:
    """The match with some context on each side, on one line."""
    before = max(0, start - width // 3)
    after = min(len(text), start + length + width)
    cut = text[before:after]
    cut = " ".join(cut.split())
    return ("…" if before else "") + cut + ("…" if after < len(text) else "")


def search(summaries: Iterable[Summary], query: str, limit: int = 200) -> list[Hit]:
    """Conversations (newest first, as given) whose title or messages contain `query`
    (case-insensitive); one hit per matching message, at most `limit`."""
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
        if needle in summary.title.casefold():
            hits.append(Hit(summary.id, summary.title, summary.path, -1, summary.title))
        try:  # bounded: a FIFO or /dev/zero planted since the listing must not hang it
            data = read_regular(summary.path)[0]
        except OSError:
            continue
        if probe is not None and probe not in data.lower():
            continue
        raw = data.decode("utf-8", errors="replace")
        if prefilter and not needle.isascii() and needle not in raw.casefold():
            continue
        try:
            conv = codec.loads(raw, fallback_id=summary.id)
        except codec.CodecError:
            continue
        for index, message in enumerate(conv.messages):
            folded = message.content.casefold()
            at = folded.find(needle)
            if at >= 0:
                hits.append(Hit(summary.id, summary.title, summary.path, index,
                                snippet(message.content, at, len(needle))))
                if len(hits) >= limit:
                    return hits
    return hits
