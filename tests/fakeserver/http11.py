"""Hand-written HTTP/1.1 wire format for the fake server: request parsing, response heads.

Kept separate from the connection logic so that the exact bytes put on the
wire are easy to audit.
"""

from __future__ import annotations

import asyncio
from email.utils import formatdate
from http import HTTPStatus

BLANK = (b"\r\n", b"\n", b"")
BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


async def read_request(
    reader: asyncio.StreamReader,
) -> tuple[str, str, dict[str, str], bytes] | None:
    """Read one request: (method, target, lower-cased headers, body); ``None`` on clean EOF.

    Accepts ``Content-Length`` and ``Transfer-Encoding: chunked`` bodies; raises
    ``ValueError`` on malformed input.
    """
    line = await reader.readline()
    while line in (b"\r\n", b"\n"):  # tolerate stray blank lines between requests
        line = await reader.readline()
    if not line:
        return None
    method, target, _version = line.decode("latin-1").split()
    headers: dict[str, str] = {}
    while (raw := await reader.readline()) not in BLANK:
        name, _, value = raw.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parts = []
        while size := int((await reader.readline()).split(b";")[0].strip(), 16):
            parts.append(await reader.readexactly(size))
            await reader.readline()
        while (await reader.readline()) not in BLANK:  # trailers
            pass
        body = b"".join(parts)
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return method.upper(), target, headers, body


def response_head(
    status: int,
    reason: str | None,
    custom: dict[str, str],
    *,
    content_length: int | None,
    keep_alive: bool,
) -> bytes:
    """Status line and headers; ``custom`` headers override the computed ones.

    ``content_length=None`` means ``Transfer-Encoding: chunked``.
    """
    if reason is None:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
    headers = {"date": formatdate(usegmt=True)}
    if content_length is None:
        headers["transfer-encoding"] = "chunked"
    else:
        headers["content-length"] = str(content_length)
    headers["connection"] = "keep-alive" if keep_alive else "close"
    spelled = {name.lower(): name for name in custom}
    headers.update({name.lower(): value for name, value in custom.items()})
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{spelled.get(name, name)}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def chunk(data: bytes) -> bytes:
    """One HTTP/1.1 chunk carrying ``data`` (must not be empty)."""
    return b"%x\r\n%s\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"
