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


#: Replies of this session whose request the inspector (F5) can still show.
INSPECTOR_KEEP = 200


class RequestLog:
    """The requests of this session's latest replies, for the inspector: the last one per
    conversation and the one behind each reply. Bounded (`INSPECTOR_KEEP`): each record holds
    a request body, the history sent, and a long session must not grow without end."""

    def __init__(self, keep: int = INSPECTOR_KEEP) -> None:
        self.keep = keep
        self._by_conversation: dict[str, RequestRecord] = {}
        #: Keyed by the message's id(); the message is held too, so the id is not reused.
        self._by_message: dict[int, tuple[object, RequestRecord]] = {}

    def remember(self, conversation_id: str, message: object, record: RequestRecord) -> None:
        self._by_conversation.pop(conversation_id, None)  # newest last: oldest dropped first
        self._by_conversation[conversation_id] = record
        self._by_message[id(message)] = (message, record)
        while len(self._by_conversation) > self.keep:
            del self._by_conversation[next(iter(self._by_conversation))]
        while len(self._by_message) > self.keep:
            del self._by_message[next(iter(self._by_message))]

    def last(self, conversation_id: str) -> RequestRecord | None:
        """The latest request sent from a conversation."""
        return self._by_conversation.get(conversation_id)

    def behind(self, message: object) -> RequestRecord | None:
        """The request that produced `message` (a reply made in this session)."""
        held = self._by_message.get(id(message))
        return held[1] if held and held[0] is message else None

    def __len__(self) -> int:
        return len(self._by_message)
