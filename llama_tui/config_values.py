"""Checks on single config values, with no knowledge of the config's shape: a URL, a number
typed by the user, the line of a key in the file's text."""

from __future__ import annotations

import ipaddress
import math
import re
from typing import Any
from urllib.parse import urlsplit

_HOST_CHARS = re.compile(r"^[\w.~%-]+$")


def url_problem(url: str) -> str | None:
    """What is wrong with an endpoint URL (None: nothing): it must be http(s) with a host that
    parses, so that a typo is reported at load time rather than by the first request."""
    try:
        parts = urlsplit(url.strip())
        host, _port = parts.hostname, parts.port
    except ValueError as exc:
        return f"not a URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return "must start with http:// or https://"
    if not host:
        return "has no host name"
    if ":" in host:
        try:
            ipaddress.IPv6Address(host.split("%")[0])
        except ValueError:
            return f"{host!r} is not an IPv6 address"
    elif not _HOST_CHARS.match(host):
        return f"{host!r} is not a host name"
    return None


def finite_number(text: str, kind: type, name: str) -> Any:
    """A number typed by the user (a form field, the command line): ValueError in words when
    it is not one, or not finite (`nan`, `inf` would reach the server as invalid JSON)."""
    try:
        value = kind(text.strip())
    except ValueError:
        raise ValueError(f"{name}: {text.strip()!r} is not a number") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name}: {text.strip()!r} is not a usable number")
    return value


def locate_key(text: str, key: str | None) -> int | None:
    """The line of `key` (dotted, as `ConfigError.key` says it) in a config file's text: the
    line that sets it, else the header of its table, else the nearest enclosing one."""
    if not key:
        return None
    wanted = key.split(".")
    best: tuple[int, int] | None = None  # (matched parts, line)
    table: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        header = re.match(r"^\[\[?\s*([^\]]+?)\s*\]\]?", stripped)
        assigned = re.match(r"^([^=#\[]+?)\s*=", stripped)
        if header:
            table = _dotted(header.group(1))
            full = table
        elif assigned:
            full = table + _dotted(assigned.group(1))
        else:
            continue
        if full == wanted[:len(full)] and (best is None or len(full) > best[0]):
            best = (len(full), number)
    return best[1] if best else None


def _dotted(name: str) -> list[str]:
    return [part.strip().strip("\"'") for part in name.split(".")]
