"""What the client yields and raises: typed, so no caller ever parses JSON.

A stream yields `ResponseStarted` once (status and headers, for the request inspector), then
`ReasoningDelta`s and `TextDelta`s in the order the reply produced them, then exactly one
`Finished`. Every failure is an `ApiError` subclass carrying whatever the server said (status,
message, request id, date, content-filter results); `ApiError.kind` names the failure.

Consuming a stream:

    async for event in client.stream(request):
        match event:
            case ReasoningDelta(text):   # the model thinking: show apart, save as
                ...                      # Message.reasoning, never send back
            case TextDelta(text):        # the answer
                ...
            case Finished():             # finish_reason, usage (reasoning_tokens), stats,
                ...                      # tool_calls, reasoning_only

Reasoning comes from `delta.reasoning_content` (llama.cpp, DeepSeek), `delta.reasoning` (vLLM,
Ollama, OpenRouter) or a `<think>...</think>` block at the very start of the content (a server
without a reasoning parser); the client splits them, so no `TextDelta` ever holds reasoning.
Text in these events is raw server text: sanitise it at the display boundary (docs/design.md §7).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from llama_tui.model import Stats, Usage
from llama_tui.sanitize import sanitize

#: What a key is replaced with when a server (or a library) repeats it in an error message.
KEY_HIDDEN = "[key hidden]"

#: Response headers that identify a request, most specific first (the notebook prints them).
REQUEST_ID_HEADERS = (
    "x-request-id",
    "apim-request-id",
    "x-ms-request-id",
    "x-ms-client-request-id",
    "azureml-model-session",
    "request-id",
    "cf-ray",
)


@dataclass(frozen=True)
class ResponseStarted:
    status: int
    headers: dict[str, str]
    request_id: str | None
    url: str
    #: The JSON body that was sent (with no key in it), for the request inspector.
    body: dict[str, Any]


@dataclass(frozen=True)
class TextDelta:
    """A piece of the answer."""

    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    """A piece of a reasoning model's thinking: never part of the answer, never resent."""

    text: str


#: A tool call's arguments are shown (and noted on the message) up to this many characters.
RENDER_LIMIT = 2000


@dataclass(frozen=True)
class ToolCall:
    """One function call the model asked for, its fragments joined. `arguments` is the JSON
    text as the server sent it (possibly not valid JSON when the reply was cut). Both are
    untrusted server text: sanitise before display. The client never runs a call."""

    name: str
    arguments: str
    id: str | None = None

    def render(self, limit: int = RENDER_LIMIT) -> str:
        """`get_weather({"city": "Paris"})`: one line, arguments re-encoded when they parse,
        cut at `limit` characters (a server may send megabytes, or nesting no parser takes)."""
        args = self.arguments[:limit + 1]
        if len(self.arguments) <= limit:
            try:
                args = json.dumps(json.loads(self.arguments), ensure_ascii=False)
            except (ValueError, RecursionError):
                args = self.arguments
        name = self.name[:200] or "(unnamed)"
        if len(args) > limit:
            args = f"{args[:limit]}… ({len(self.arguments):,} characters)"
        return f"{name}({args})"


@dataclass(frozen=True)
class Finished:
    """The end of a complete reply (a stream that breaks raises an `ApiError` instead)."""

    finish_reason: str
    usage: Usage | None
    stats: Stats
    #: Set when finish_reason is "content_filter" and the server said which categories.
    content_filter: ContentFilterResult | None = None
    #: The calls the model asked for, in order (finish_reason is then usually "tool_calls").
    tool_calls: tuple[ToolCall, ...] = ()
    #: The model reasoned but gave no answer text: typically max_tokens was spent thinking
    #: (finish_reason "length"), or the stream ended inside `<think>`.
    reasoning_only: bool = False


StreamEvent = ResponseStarted | ReasoningDelta | TextDelta | Finished


@dataclass(frozen=True)
class ModelInfo:
    """One model an endpoint lists; `context_length` in tokens when the server says it
    (`context_length`, vLLM's `max_model_len`, llama.cpp's `meta.n_ctx_train`)."""

    id: str
    context_length: int | None = None


@dataclass(frozen=True)
class CategoryResult:
    category: str
    filtered: bool
    severity: str | None = None
    detected: bool | None = None

    def describe(self) -> str:
        name = self.category.replace("_", " ").replace("-", " ")
        if self.detected is not None and self.severity is None:
            state = "detected" if self.detected else "not detected"
        else:
            state = f"severity {self.severity or 'unknown'}"
        return f"{name}: {state}{', filtered' if self.filtered else ''}"


@dataclass(frozen=True)
class ContentFilterResult:
    categories: tuple[CategoryResult, ...] = ()

    @property
    def tripped(self) -> tuple[CategoryResult, ...]:
        return tuple(c for c in self.categories if c.filtered)

    def lines(self) -> list[str]:
        """One line per category: name, severity (or detected), filtered yes/no."""
        width = max((len(c.category) for c in self.categories), default=0)
        out = []
        for c in sorted(self.categories, key=lambda c: not c.filtered):
            name = c.category.replace("_", " ").replace("-", " ").ljust(width)
            if c.severity is None and c.detected is not None:
                level = "detected" if c.detected else "not detected"
            else:
                level = f"severity {c.severity or 'unknown'}"
            out.append(f"  {name}  {level:<16}  filtered: {'yes' if c.filtered else 'no'}")
        return out

    def summary(self) -> str:
        """Plain words: the categories that tripped (or all of them when none says so)."""
        shown = self.tripped or self.categories
        if not shown:
            return "no category given"
        return "; ".join(c.describe() for c in shown)


def _forms(secret: str) -> set[str]:
    """A secret as is, stripped, or as Python would quote it."""
    return {form for form in (secret, secret.strip(), repr(secret)[1:-1]) if len(form) >= 4}


def hide_secrets(text: str, secrets: Iterable[str]) -> str:
    """`text` with each secret (as is, stripped, or as Python would quote it) replaced."""
    for secret in secrets:
        for form in _forms(secret):
            text = text.replace(form, KEY_HIDDEN)
    return text


#: The shortest beginning of a secret hidden at the end of a cut text: shorter ones are too
#: likely to be ordinary words, longer ones narrow a guess too much.
SECRET_PREFIX = 8


def hide_secret_at_end(text: str, secrets: Iterable[str]) -> str:
    """`text` with a secret's beginning (`SECRET_PREFIX` characters or more) at its very end
    replaced: what is left of a key when the text was cut in the middle of it."""
    for secret in secrets:
        for form in _forms(secret):
            for n in range(min(len(form) - 1, len(text)), SECRET_PREFIX - 1, -1):
                if text.endswith(form[:n]):
                    return text[:-n] + KEY_HIDDEN
    return text


def excerpt(text: str, limit: int, secrets: Iterable[str] = ()) -> str:
    """At most about `limit` characters of `text` ("..." marks a cut): the secrets are hidden
    before cutting, and a secret's beginning left at the cut is hidden after."""
    secrets = list(secrets)
    text = hide_secrets(text, secrets)
    if len(text) <= limit:
        return text
    return hide_secret_at_end(text[: max(limit - 3, 0)], secrets) + "..."


def _clean(value: str | None) -> str | None:
    return sanitize(value) if value else value


class ApiError(Exception):
    """A request that did not end in a complete reply. `str()` is one plain-words line.

    Everything in it may come from the server, so its words are sanitised (they go to the
    terminal, the notification, the saved conversation) and the client hides the key in them.
    """

    kind = "error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        type: str | None = None,
        param: str | None = None,
        request_id: str | None = None,
        date: str | None = None,
        headers: dict[str, str] | None = None,
        body: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        message = sanitize(message)
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = _clean(code)
        self.type = _clean(type)
        self.param = _clean(param)
        self.request_id = _clean(request_id)
        self.date = _clean(date)
        self.headers = headers or {}
        self.body = body
        self.retry_after = retry_after

    def hide(self, secrets: Iterable[str]) -> ApiError:
        """Replace every secret in the message and the body (a server may echo the key back:
        "Incorrect API key provided: sk-..."). Returns self, for `raise exc.hide(...)`."""
        self.message = hide_secrets(self.message, secrets)
        self.body = hide_secrets(self.body, secrets) if self.body else self.body
        self.headers = {k: hide_secrets(v, secrets) for k, v in self.headers.items()}
        self.args = (self.message,)
        return self

    def details(self) -> list[str]:
        """Lines for an error view or stderr: status, message, ids. Never a key."""
        head = f"HTTP {self.status}: " if self.status else ""
        code = f" ({self.code})" if self.code and self.code not in self.message else ""
        lines = [f"{head}{self.message}{code}"]
        if self.request_id:
            lines.append(f"request id: {self.request_id}")
        if self.date:
            lines.append(f"date: {self.date}")
        if self.retry_after is not None:
            lines.append(f"server asks to retry after {self.retry_after:g} s")
        return lines

    def __str__(self) -> str:
        return " · ".join(self.details())


class ContentFilterError(ApiError):
    """The prompt (HTTP 400) was blocked by a content-safety filter."""

    kind = "content_filter"

    def __init__(self, message: str, *, result: ContentFilterResult, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.result = result

    def details(self) -> list[str]:
        lines = super().details()
        lines[1:1] = [f"content filter: {self.result.summary()}", *self.result.lines()]
        return lines


class ModelRequired(ApiError):
    """The server needs a `model` in the request (OpenAI, Ollama, vLLM, Azure v1 when none was
    configured): list the models (`Client.models()`) and pick one."""

    kind = "model_required"


class StreamError(ApiError):
    """The server reported an error inside a 200 event stream."""

    kind = "stream_error"


class TruncatedStream(ApiError):
    """The stream ended without [DONE] and without a finish_reason: the reply is incomplete."""

    kind = "truncated"


class EmptyStream(ApiError):
    """A 200 event stream with no event at all (llama.cpp does this for an oversized prompt)."""

    kind = "empty"


class StreamTimeout(ApiError):
    kind = "timeout"


class ConnectionFailed(ApiError):
    kind = "connection"


class TooLarge(ApiError):
    """The server sent more than the client reads: an event, a body or a reply over its cap."""

    kind = "too_large"


class EndpointError(ApiError):
    """The endpoint cannot be used as configured: its URL, the proxy settings in the
    environment, its CA bundle. Nothing was sent."""

    kind = "endpoint"


class ProtocolError(ApiError):
    """The server answered with something that is not an OpenAI-compatible response."""

    kind = "protocol"
