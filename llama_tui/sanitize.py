"""Make untrusted model text safe to put on a terminal (docs/design.md §7).

Model output is attacker-controlled text. Before it reaches a widget or a terminal:
- ESC and the other C0 controls (except newline and tab) become visible Control Pictures
  (U+2400 block), so an escape sequence shows as `␛]52;c;…` instead of acting;
- carriage returns are dropped (a lone CR could overwrite a line);
- C1 controls (U+0080-U+009F, which some terminals treat as CSI/OSC introducers) and
  bidirectional overrides/isolates (Trojan Source) are dropped;
- lone surrogates (possible from JSON `\\ud800` escapes) become U+FFFD so text always encodes.

It is stateless per character, so it is safe on any split of a stream.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any, TextIO

_BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c"
_TABLE: dict[int, str | None] = {c: chr(0x2400 + c) for c in range(0x20) if c not in (9, 10)}
_TABLE[0x0D] = None
_TABLE[0x7F] = "\u2421"
_TABLE.update({c: None for c in range(0x80, 0xA0)})
_TABLE.update({ord(c): None for c in _BIDI})
_NEEDS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f" + _BIDI + "\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def sanitize(text: str) -> str:
    """Return `text` with everything that could drive a terminal neutralised."""
    if not _NEEDS.search(text):
        return text  # the common case costs one regex scan
    return _SURROGATE.sub("\ufffd", text.translate(_TABLE))


class SafeStream:
    """A text stream whose every write is sanitised: what the CLI prints to a terminal or a
    pipe (stderr always, stdout unless `ask --raw`), so no message built from outside text
    (an error body, a file name, a title) can carry an escape sequence to the user's terminal."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(sanitize(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class SafeFormatter(logging.Formatter):
    """Log lines with outside text in them (errors, file names) are sanitised too: the log is
    read with `cat` and `tail -f` on a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        return sanitize(super().format(record))
