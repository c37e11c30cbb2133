"""What a request looked like on the wire, for the request inspector and "copy as curl".

The key is never part of what this produces: it is replaced by `$LLAMA_TUI_API_KEY`, which is
what the notebook's users export before debugging with curl.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import Any

from llama_tui.client.dialects import auth_headers
from llama_tui.model import SECRET_HIDDEN, Endpoint, is_secret_header

KEY_VARIABLE = "$LLAMA_TUI_API_KEY"


@dataclass(frozen=True)
class RequestRecord:
    """One request as sent (minus the key) and the headers of its response."""

    url: str
    body: dict[str, Any]
    request_headers: dict[str, str]
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)

    @property
    def has_key(self) -> bool:
        """Was a key sent (shown as `KEY_VARIABLE`)?"""
        return any(KEY_VARIABLE in value for value in self.request_headers.values())


def redacted_headers(endpoint: Endpoint) -> dict[str, str]:
    """The request headers with the key replaced by the variable that holds it, and every
    other secret header (`is_secret_header`) hidden."""
    headers = auth_headers(endpoint)
    key = endpoint.api_key
    if key:
        headers = {name: value.replace(key, KEY_VARIABLE) for name, value in headers.items()}
    return {name: SECRET_HIDDEN if is_secret_header(name) and KEY_VARIABLE not in value else value
            for name, value in headers.items()}


def as_curl(record: RequestRecord) -> str:
    """An equivalent curl command. The key stays a shell variable (double quotes), the rest
    is single-quoted so nothing in the body is interpreted by the shell."""
    parts = ["curl", "-N", shlex.quote(record.url), "-H", shlex.quote("Content-Type: application/json")]
    for name, value in record.request_headers.items():
        line = f"{name}: {value}"
        if KEY_VARIABLE in value:
            escaped = line.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`")
            escaped = escaped.replace("$", "\\$").replace("\\" + KEY_VARIABLE, KEY_VARIABLE)
            parts += ["-H", f'"{escaped}"']
        else:
            parts += ["-H", shlex.quote(line)]
    parts += ["-d", shlex.quote(json.dumps(record.body, ensure_ascii=False))]
    return " ".join(parts)


def describe(record: RequestRecord) -> str:
    """Plain text for the inspector: URL, request headers, body, response status and headers."""
    lines = [f"POST {record.url}", ""]
    lines += [f"{k}: {v}" for k, v in record.request_headers.items()]
    lines += ["", json.dumps(record.body, ensure_ascii=False, indent=2), ""]
    if record.status is not None:
        lines.append(f"response: HTTP {record.status}")
        lines += [f"{k}: {v}" for k, v in sorted(record.response_headers.items())]
    else:
        lines.append("response: none received")
    return "\n".join(lines)
