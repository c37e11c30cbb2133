"""The OpenAI-compatible dialects on the wire: URLs, payloads, chunks and error bodies.

Pure functions over dicts and strings (no I/O), so every quirk of docs/design.md §3 is unit-testable:
Azure MaaS and Azure OpenAI, OpenAI, vLLM, llama.cpp, Ollama and TGI all pass through here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from llama_tui.client.events import (
    REQUEST_ID_HEADERS,
    ApiError,
    CategoryResult,
    ContentFilterError,
    ContentFilterResult,
    ModelRequired,
    StreamError,
    excerpt,
    hide_secrets,
)
from llama_tui.client.negotiate import model_required
from llama_tui.model import DEFAULT_MAX_TOKENS, Endpoint, GenerationParams, Mode, Usage
from llama_tui.sanitize import sanitize

_CHAT = "/chat/completions"
#: The longest error message kept from a body (a server may send a megabyte of it).
MAX_MESSAGE = 2000
_COMPLETION = "/completions"


def resolve_url(url: str, mode: Mode) -> str:
    """The request URL for `mode` from a URL as users paste it (docs/design.md §3).

    A full route is used as is (its last part switched to the other mode when needed); a base
    ending in `/v1` gets the route appended; any other origin or prefix gets `/v1/<route>`.
    The query string (Azure's `?api-version=`) is kept.
    """
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/")
    route = _CHAT if mode == "chat" else _COMPLETION
    if path.endswith(_CHAT):
        path = path[: -len(_CHAT)] + route
    elif path.endswith(_COMPLETION):
        path = path[: -len(_COMPLETION)] + route
    elif path.endswith("/v1"):
        path += route
    else:
        path += "/v1" + route
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def models_url(url: str) -> str:
    """The `/models` listing next to the endpoint's routes (used by "test connection")."""
    chat = resolve_url(url, "chat")
    parts = urlsplit(chat)
    return urlunsplit((parts.scheme, parts.netloc, parts.path[: -len(_CHAT)] + "/models", parts.query, ""))


def auth_headers(endpoint: Endpoint) -> dict[str, str]:
    """Extra headers plus the key in the endpoint's scheme (bearer, raw or api-key)."""
    headers = dict(endpoint.headers)
    key = endpoint.api_key
    if key:
        if endpoint.auth == "api-key":
            headers["api-key"] = key
        elif endpoint.auth == "raw":
            headers["Authorization"] = key
        else:
            headers["Authorization"] = f"Bearer {key}"
    return headers


@dataclass
class GenerationRequest:
    """One request: chat messages or a completion prompt, with its parameters."""

    mode: Mode = "chat"
    messages: list[dict[str, str]] = field(default_factory=list)
    prompt: str = ""
    params: GenerationParams = field(default_factory=GenerationParams)
    stream: bool = True
    #: "off", "low", "medium" or "high" (another value is sent as is); None sends nothing.
    reasoning_effort: str | None = None


def build_payload(
    endpoint: Endpoint, request: GenerationRequest, learned: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The JSON body. `stream` is a JSON boolean and the reply cap is always present.

    `learned` is what a `Client` found out about the server (`Client.learned`): the cap's
    field name (`max_tokens_field`) and whether `stream_options` is refused.
    """
    learned = learned or {}
    body: dict[str, Any] = {}
    if endpoint.model:
        body["model"] = endpoint.model
    if request.mode == "chat":
        body["messages"] = request.messages
    else:
        body["prompt"] = request.prompt
    params = request.params.as_dict()
    cap = params.pop("max_tokens", DEFAULT_MAX_TOKENS)
    if not params.get("stop"):
        params.pop("stop", None)
    params[learned.get("max_tokens_field") or endpoint.max_tokens_field or "max_tokens"] = cap
    body.update(params)
    effort = request.reasoning_effort
    if effort is not None:
        if endpoint.reasoning_control == "chat_template_kwargs":
            body["chat_template_kwargs"] = {"enable_thinking": effort != "off"}
        else:
            body["reasoning_effort"] = "none" if effort == "off" else effort
    body["stream"] = bool(request.stream)
    if request.stream and request.mode == "chat" and learned.get("stream_options", True):
        body["stream_options"] = {"include_usage": True}
    return body


@dataclass
class ChunkInfo:
    """What one parsed chunk (or one complete response) contributes."""

    text: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    content_filter: ContentFilterResult | None = None
    #: Reasoning from `reasoning_content` / `reasoning` (not inline `<think>`: the stream
    #: reader splits that off the text, since it spans chunks).
    reasoning: str = ""
    #: The raw `tool_calls` fragments of the chunk (see `reply_parts.ToolCallAssembler`).
    tool_calls: list[Any] = field(default_factory=list)


def parse_chunk(data: Any) -> ChunkInfo:
    """Read one streamed chunk or a whole non-streamed response, tolerating every dialect.

    Handles `choices: []` or `null` (usage chunks, Azure prompt annotations), choices without
    `delta`, `content: null`, `role` in every delta, completion-style `text`, whole `message`s,
    TGI's empty-string finish_reason (read as "not finished yet"), reasoning fields and
    tool-call fragments.
    """
    info = ChunkInfo()
    if not isinstance(data, dict):
        return info
    info.usage = Usage.from_json(data.get("usage"))
    choices = data.get("choices")
    if not isinstance(choices, list):
        return info
    for choice in choices:
        if not isinstance(choice, dict) or choice.get("index", 0) not in (0, None):
            continue
        for holder in (choice.get("delta"), choice.get("message")):
            if isinstance(holder, dict):
                _read_holder(holder, info)
        if isinstance(choice.get("text"), str):
            info.text += choice["text"]
        reason = choice.get("finish_reason")
        if isinstance(reason, str) and reason:
            info.finish_reason = reason
        results = choice.get("content_filter_results") or choice.get("content_filter_result")
        if info.finish_reason == "content_filter":
            info.content_filter = parse_filter_results(results) or ContentFilterResult()
    return info


def _read_holder(holder: dict[str, Any], info: ChunkInfo) -> None:
    """A `delta` or `message`: its content, reasoning and tool calls."""
    if isinstance(holder.get("content"), str):
        info.text += holder["content"]
    # A server may send both spellings of the same text: one of them is kept.
    reasoning = holder.get("reasoning_content")
    if not isinstance(reasoning, str) or not reasoning:
        reasoning = holder.get("reasoning")
    if isinstance(reasoning, str):
        info.reasoning += reasoning
    calls = holder.get("tool_calls")
    if isinstance(calls, list):
        info.tool_calls += calls


def plain_delta(data: Any) -> str | None:
    """The text of the usual streamed chunk, read quickly: one choice (index 0) whose `delta`
    has string `content` and no reasoning or tool calls, no finish reason, no usage. None for
    any other shape (then `parse_chunk` reads it). For such a chunk, `parse_chunk(data).text`
    is the same text and it reports nothing else (tests/unit/test_dialects.py checks this on
    generated chunks)."""
    if type(data) is not dict or data.get("usage") is not None:
        return None
    choices = data.get("choices")
    if type(choices) is not list or len(choices) != 1:
        return None
    choice = choices[0]
    if (type(choice) is not dict or choice.get("finish_reason") is not None
            or choice.get("index", 0) not in (0, None) or "message" in choice or "text" in choice):
        return None
    delta = choice.get("delta")
    if type(delta) is not dict:
        return None
    # `{"content": ...}` alone is the common case; other keys are looked at only when present.
    if len(delta) > 1 and (delta.get("reasoning_content") is not None
                           or delta.get("reasoning") is not None or delta.get("tool_calls")):
        return None
    content = delta.get("content")
    return content if type(content) is str else None


def parse_filter_results(results: Any) -> ContentFilterResult | None:
    """Azure's per-category results (`{"violence": {"filtered": true, "severity": "medium"}}`)."""
    if not isinstance(results, dict):
        return None
    categories = []
    for name, value in results.items():
        if not isinstance(value, dict) or "filtered" not in value:
            continue
        severity = value.get("severity")
        detected = value.get("detected")
        categories.append(
            CategoryResult(
                category=sanitize(str(name)),
                filtered=bool(value.get("filtered")),
                severity=sanitize(str(severity)) if severity is not None else None,
                detected=bool(detected) if detected is not None else None,
            )
        )
    return ContentFilterResult(tuple(categories)) if categories else None


def request_id_of(headers: dict[str, str]) -> str | None:
    for name in REQUEST_ID_HEADERS:
        if headers.get(name):
            return headers[name]
    for name, value in headers.items():
        if name.startswith("x-ms-") and "request" in name and value:
            return value
    return None


def parse_retry_after(headers: dict[str, str]) -> float | None:
    """Seconds to wait from `retry-after-ms` or `retry-after` (seconds; HTTP dates ignored)."""
    for name, scale in (("retry-after-ms", 0.001), ("x-ms-retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value:
            try:
                seconds = float(value) * scale
            except ValueError:
                continue
            if seconds >= 0:
                return seconds
    return None


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else json.dumps(value)


def error_from_body(
    status: int | None, body: str, headers: dict[str, str], *, in_stream: bool = False,
    secrets: Sequence[str] = (),
) -> ApiError:
    """An `ApiError` from any error body shape: OpenAI's `{"error": {...}}`, `{"error": "..."}`,
    a flat `{"status", "code", "message"}`, Azure's content filter, or non-JSON (a gateway page).

    `secrets` (the key, secret header values) are hidden before any text is cut, so a key
    echoed by the server never survives as a prefix at the cut.
    """
    body = hide_secrets(body, secrets)
    common: dict[str, Any] = {
        "status": status,
        "request_id": request_id_of(headers),
        "date": headers.get("date"),
        "headers": headers,
        "body": excerpt(body, 4000, secrets),
        "retry_after": parse_retry_after(headers),
    }
    plain = StreamError if in_stream else ApiError
    try:
        data = json.loads(body) if body.strip() else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return plain(_plain_body(status, body, secrets), **common)
    err = data.get("error", data)
    inner: Any = {}
    message: str | None
    if isinstance(err, str):
        message, code, etype, param = err, data.get("code"), data.get("type"), None
        err = data
    elif isinstance(err, dict):
        message = _text(err.get("message")) or _text(err.get("detail")) or _text(data.get("message"))
        code, etype, param = err.get("code"), err.get("type"), err.get("param")
        inner = err.get("innererror") or err.get("inner_error") or {}
    else:
        return plain(_plain_body(status, body, secrets), **common)
    common.update(code=_text(code), type=_text(etype), param=_text(param))
    message = excerpt(message, MAX_MESSAGE, secrets) if message else _plain_body(status, body, secrets)
    if common["code"] == "content_filter" or (isinstance(inner, dict) and _has_filter(inner)):
        results = None
        if isinstance(inner, dict):
            results = parse_filter_results(
                inner.get("content_filter_result") or inner.get("content_filter_results")
            )
        return ContentFilterError(message, result=results or ContentFilterResult(), **common)
    if not in_stream and model_required(message, common["param"], common["code"]):
        return ModelRequired(message, **common)
    return plain(message, **common)


def _has_filter(inner: dict[str, Any]) -> bool:
    return bool(inner.get("content_filter_result") or inner.get("content_filter_results"))


def _plain_body(status: int | None, body: str, secrets: Sequence[str]) -> str:
    """A one-line excerpt of a non-JSON body (an HTML page from a gateway, say)."""
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S | re.I)
    title = re.search(r"<title[^>]*>(.*?)</title>", text, flags=re.S | re.I)
    text = title.group(1) if title else re.sub(r"<[^>]+>", " ", text)
    text = " ".join(text.split())
    if not text:
        return f"the server answered {status} with an empty body" if status else "empty response"
    return excerpt(text, 300, secrets)
