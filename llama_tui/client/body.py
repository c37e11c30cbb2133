"""Response bodies read within bounds: content decoding done here, a byte cap on everything.

httpx inflates a gzip body one network read at a time, and one 64 KiB read of a gzip bomb is
64 MB; its own limit would come after the fact. So the client reads the raw bytes and inflates
them here, `STEP` bytes of output at a time, counting as it goes: a cap is never passed by more
than one step, whatever the compression ratio. gzip and deflate are what the client asks for
(`ACCEPT_ENCODING`); any other encoding a server sends anyway is left to httpx, still counted.

Caps: a JSON reply, an error body or an unexpected page is read up to `MAX_BODY_BYTES` (the
rest is never read: the connection is closed); a whole event stream up to `MAX_STREAM_BYTES`
inflated (each event is capped by the SSE decoder, `sse_decode.MAX_EVENT_BYTES`).
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncGenerator, Iterator

import httpx

MAX_BODY_BYTES = 1 << 20
#: A long reasoning reply is some tens of MB of events (a few hundred bytes a token).
MAX_STREAM_BYTES = 128 << 20
#: The most one inflate call may produce.
STEP = 1 << 16
ACCEPT_ENCODING = "gzip, deflate"


class BodyError(Exception):
    """A body that cannot be read: too large, or not in the encoding it claims."""


class BodyTooLarge(BodyError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"over {size_text(limit)}")
        self.limit = limit


class BadEncoding(BodyError):
    pass


def size_text(n: int) -> str:
    """`1 MiB`, `128 MiB`, or bytes when not a whole number of MiB."""
    return f"{n >> 20} MiB" if n >= 1 << 20 and not n % (1 << 20) else f"{n:,} bytes"


class _Inflater:
    """gzip or deflate, `STEP` bytes of output per call at most. Like httpx, "deflate" may be
    zlib-wrapped or raw, and data after the end of the compressed stream is ignored."""

    def __init__(self, encoding: str) -> None:
        self._raw_allowed = encoding == "deflate"
        self._obj = zlib.decompressobj(zlib.MAX_WBITS | (0 if self._raw_allowed else 16))

    def feed(self, data: bytes) -> Iterator[bytes]:
        while True:
            try:
                out = self._obj.decompress(data, STEP)
            except zlib.error as exc:
                if self._raw_allowed:  # only on the first call: raw deflate, no zlib header
                    self._raw_allowed = False
                    self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise BadEncoding(str(exc)) from None
            self._raw_allowed = False
            if out:
                yield out
            data = self._obj.unconsumed_tail
            if not data and len(out) < STEP:  # all input taken, no output held back
                return


async def decoded(response: httpx.Response) -> AsyncGenerator[bytes, None]:
    """The body's bytes, content-decoded, in pieces of at most `STEP` when inflated here."""
    codings = [c.strip().lower() for c in response.headers.get("content-encoding", "").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if response.is_stream_consumed:  # read (and decoded) by httpx already: a test's response
        if response.content:
            yield response.content
    elif not codings:
        async for chunk in response.aiter_raw():
            yield chunk
    elif len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"):
        inflater = _Inflater("deflate" if codings[0] == "deflate" else "gzip")
        async for chunk in response.aiter_raw():
            for piece in inflater.feed(chunk):
                yield piece
    else:  # not asked for; httpx decodes what it knows (a br library installed, say)
        try:
            async for chunk in response.aiter_bytes():
                yield chunk
        except httpx.DecodingError as exc:
            raise BadEncoding(str(exc)) from None


async def counted(response: httpx.Response, limit: int) -> AsyncGenerator[bytes, None]:
    """`decoded(response)`, raising `BodyTooLarge` before the total passes `limit`."""
    total = 0
    async for chunk in decoded(response):
        total += len(chunk)
        if total > limit:
            raise BodyTooLarge(limit)
        yield chunk


async def read_capped(response: httpx.Response, limit: int = MAX_BODY_BYTES) -> tuple[bytes, bool]:
    """The first `limit` bytes of the decoded body, and whether there was more (not read)."""
    parts: list[bytes] = []
    size = 0
    chunks = decoded(response)
    try:
        async for chunk in chunks:
            parts.append(chunk)
            size += len(chunk)
            if size > limit:
                return b"".join(parts)[:limit], True
    finally:
        await chunks.aclose()
    return b"".join(parts), False
