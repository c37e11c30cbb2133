"""Server-sent events from a byte stream, with a fast path for the usual shape.

Every OpenAI-compatible server sends one `data: {...}` line and a blank line per event, and
usually one event per network chunk. httpx-sse decodes such a stream through three more
async generators per event (bytes to text, text to lines, lines to events) and a decoder
call per line; at thousands of events a second that is a third of what the client costs.
`SSEDecoder.feed` takes whole chunks of bytes instead and returns the events they complete,
taking the shortcut when a chunk is exactly `data: <one line>\\n\\n`.

Decoding follows the WHATWG event-stream rules as httpx-sse does (tests/unit/test_sse_decode.py
checks the two agree on any bytes cut anywhere): lines end in CRLF, LF or CR; a line starting
with ":" is a comment; "field: value" (one optional space after the colon); `data` lines are
joined with "\\n"; an `event` field names the event ("message" when absent); `id` and `retry`
are kept only to decide, as httpx-sse does, whether an empty line dispatches an event. Text is
UTF-8, decoded per line (a line break is never inside a UTF-8 sequence), bad bytes replaced.

A hostile server may send one endless line: the decoder stays linear in the bytes it is fed
(a line longer than a few KiB is kept in pieces, joined once when it ends) and refuses an event
whose data lines and unfinished line pass `MAX_EVENT_BYTES` (`EventTooLarge`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    event: str = "message"
    data: str = ""


#: The largest event a server may send: data lines and the line being read, in bytes.
MAX_EVENT_BYTES = 1 << 20


class EventTooLarge(ValueError):
    """One event (or one line) grew past the decoder's limit; nothing more is decoded."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the server sent an event over {_size(limit)}")
        self.limit = limit


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 and not n % (1 << 20) else f"{n:,} bytes"


class SSEDecoder:
    """Feed it chunks of bytes, get events. Raises `EventTooLarge` once an event passes
    `max_event` bytes."""

    def __init__(self, max_event: int = MAX_EVENT_BYTES) -> None:
        self._pending = b""  # an unfinished line (bytes after the last line break) ...
        self._more: list[bytes] = []  # ... and the chunks since, while the line goes on
        self._more_size = 0
        self._event = ""
        self._data: list[str] = []
        self._size = 0  # bytes of the event's data lines so far
        self._max = max_event
        self._last_id = ""  # kept across events, as the spec says
        self._retry: int | None = None
        self._first = True  # a byte-order mark may start the stream

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """The events that `chunk` completes."""
        if self._first and chunk:
            self._first = False
            if chunk.startswith(b"\xef\xbb\xbf"):
                chunk = chunk[3:]
        pending = self._pending
        if self._more or len(pending) > 4096:
            # Within a long line: only a chunk with a line break (or after a CR) ends it, and
            # the pieces are joined only then, so each byte is searched and copied once.
            if (b"\n" not in chunk and b"\r" not in chunk
                    and not (self._more[-1] if self._more else pending).endswith(b"\r")):
                self._more.append(chunk)
                self._more_size += len(chunk)
                if self._size + len(pending) + self._more_size > self._max:
                    self._fail()
                return []
            buffer = b"".join([pending, *self._more, chunk])
            self._more, self._more_size = [], 0
        elif (not pending and not self._data and not self._event and self._retry is None
                and chunk.startswith(b"data: ") and chunk.endswith(b"\n\n")
                and chunk.count(b"\n") == 2 and b"\r" not in chunk):
            if len(chunk) - 8 > self._max:
                raise EventTooLarge(self._max)
            return [ServerSentEvent("message", chunk[6:-2].decode("utf-8", "replace"))]
        else:
            buffer = pending + chunk
        # A CR at the very end may be the first half of a CRLF: wait for the next byte.
        cut = len(buffer) - 1 if buffer.endswith(b"\r") else len(buffer)
        lines = buffer[:cut].splitlines(keepends=True)
        if lines and not lines[-1].endswith((b"\n", b"\r")):
            self._pending = lines.pop() + buffer[cut:]
        else:
            self._pending = buffer[cut:]
        events = []
        for raw in lines:
            event = self._line(raw.rstrip(b"\r\n").decode("utf-8", "replace"), len(raw))
            if event is not None:
                events.append(event)
        return events

    def close(self) -> list[ServerSentEvent]:
        """The end of the stream: a last line without a line break still counts as a line
        (a lone CR completes a blank one); an event not followed by a blank line is dropped."""
        pending = b"".join([self._pending, *self._more])
        self._pending, self._more, self._more_size = b"", [], 0
        line = pending.rstrip(b"\r").decode("utf-8", "replace")
        event = self._line(line, len(pending)) if pending else None
        return [event] if event is not None else []

    def _fail(self) -> None:
        # Nothing is held after the failure.
        self._pending, self._more, self._more_size, self._data = b"", [], 0, []
        raise EventTooLarge(self._max)

    def _line(self, line: str, size: int) -> ServerSentEvent | None:
        """One line without its line break (`size` bytes with it)."""
        if not line:
            if not (self._event or self._data or self._last_id or self._retry is not None):
                return None
            event = ServerSentEvent(self._event or "message", "\n".join(self._data))
            self._event, self._data, self._retry, self._size = "", [], None, 0
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._size += size
            if self._size > self._max:
                self._fail()
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._last_id = value
        elif name == "retry":
            try:
                self._retry = int(value)
            except ValueError:
                pass
        return None
