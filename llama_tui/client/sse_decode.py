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
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    event: str = "message"
    data: str = ""


class SSEDecoder:
    def __init__(self) -> None:
        self._pending = b""  # an unfinished line (bytes after the last line break)
        self._event = ""
        self._data: list[str] = []
        self._last_id = ""  # kept across events, as the spec says
        self._retry: int | None = None
        self._first = True  # a byte-order mark may start the stream

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """The events that `chunk` completes."""
        if self._first and chunk:
            self._first = False
            if chunk.startswith(b"\xef\xbb\xbf"):
                chunk = chunk[3:]
        if (not self._pending and not self._data and not self._event and self._retry is None
                and chunk.startswith(b"data: ") and chunk.endswith(b"\n\n")
                and chunk.count(b"\n") == 2 and b"\r" not in chunk):
            return [ServerSentEvent("message", chunk[6:-2].decode("utf-8", "replace"))]
        buffer = self._pending + chunk
        # A CR at the very end may be the first half of a CRLF: wait for the next byte.
        cut = len(buffer) - 1 if buffer.endswith(b"\r") else len(buffer)
        lines = buffer[:cut].splitlines(keepends=True)
        if lines and not lines[-1].endswith((b"\n", b"\r")):
            self._pending = lines.pop() + buffer[cut:]
        else:
            self._pending = buffer[cut:]
        events = []
        for raw in lines:
            event = self._line(raw.rstrip(b"\r\n").decode("utf-8", "replace"))
            if event is not None:
                events.append(event)
        return events

    def close(self) -> list[ServerSentEvent]:
        """The end of the stream: a last line without a line break still counts as a line
        (a lone CR completes a blank one); an event not followed by a blank line is dropped."""
        pending, self._pending = self._pending, b""
        event = self._line(pending.rstrip(b"\r").decode("utf-8", "replace")) if pending else None
        return [event] if event is not None else []

    def _line(self, line: str) -> ServerSentEvent | None:
        if not line:
            if not (self._event or self._data or self._last_id or self._retry is not None):
                return None
            event = ServerSentEvent(self._event or "message", "\n".join(self._data))
            self._event, self._data, self._retry = "", [], None
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
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
