"""Builders of scripted ``Response`` objects: OpenAI SSE streams, JSON bodies, errors.

Everything here is deterministic (fixed ids, ``created`` timestamps and seeds)
so that tests and benchmarks see byte-identical bodies on every run.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from .markdown import markdown_reply
from .server import Close, Response, Send, Sleep, Step

CREATED = 1_700_000_000
SSE_TYPE = "text/event-stream; charset=utf-8"
JSON_TYPE = "application/json"


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _steps(events: list[bytes], delay: float, split_bytes: int | None) -> list[Step]:
    """One Send per event (Sleep ``delay`` between), or the joined body cut every N bytes."""
    if split_bytes is not None:
        if split_bytes < 1:
            raise ValueError("split_bytes must be >= 1")
        body = b"".join(events)
        events = [body[i : i + split_bytes] for i in range(0, len(body), split_bytes)]
    steps: list[Step] = []
    for i, data in enumerate(events):
        if delay and i:
            steps.append(Sleep(delay))
        steps.append(Send(data))
    return steps


def _sse_response(
    payloads: list[str],
    *,
    done: bool,
    crlf: bool,
    no_space: bool,
    comments: bool,
    delay: float,
    split_bytes: int | None,
    headers: dict[str, str] | None,
) -> Response:
    nl = "\r\n" if crlf else "\n"
    prefix = "data:" if no_space else "data: "
    lines = [*payloads, "[DONE]"] if done else payloads
    events = [
        ((": ping" + nl) if comments else "") + prefix + line + nl + nl for line in lines
    ]
    body = [event.encode() for event in events]
    return Response(
        headers={"content-type": SSE_TYPE, **(headers or {})},
        steps=_steps(body, delay, split_bytes),
    )


def _stream_chunks(
    choices: list[dict[str, Any]],
    last_choice: dict[str, Any] | None,
    finish_reason: str | None,
    finish_on_last_content: bool,
    usage: dict[str, Any] | None,
    usage_chunk: bool,
    usage_choices: Any = (),
) -> list[dict[str, Any]]:
    """Shared tail logic: where finish_reason and usage go (``choices`` lack the envelope)."""
    chunks: list[dict[str, Any]] = [{"choices": [c]} for c in choices]
    final: dict[str, Any] | None = None
    if finish_reason is not None:
        if finish_on_last_content and choices:
            final = chunks[-1]
        else:
            final = {"choices": [last_choice]}
            chunks.append(final)
        final["choices"][0]["finish_reason"] = finish_reason
    if usage is not None:
        if usage_chunk or final is None:
            chunks.append({"choices": list(usage_choices) if usage_choices is not None
                           else None, "usage": usage})
        else:
            final["usage"] = usage
    return chunks


def chat_stream(
    pieces: list[str],
    *,
    finish_reason: str | None = "stop",
    usage: dict[str, Any] | None = None,
    usage_chunk: bool = False,
    model: str = "fake-model",
    role_chunk: bool = True,
    role_every_delta: bool = False,
    finish_on_last_content: bool = False,
    done: bool = True,
    crlf: bool = False,
    no_space: bool = False,
    comments: bool = False,
    delay: float = 0.0,
    headers: dict[str, str] | None = None,
    split_bytes: int | None = None,
    id: str = "chatcmpl-fake",
    before: list[dict[str, Any]] | None = None,
    usage_choices: Any = (),
) -> Response:
    """An OpenAI ``/chat/completions`` SSE stream, one ``delta.content`` chunk per piece.

    Without a finish chunk (``finish_reason=None``) a given ``usage`` goes out as a
    separate ``"choices": []`` chunk, as with ``usage_chunk=True`` (``usage_choices=None``:
    ``"choices": null``, as some vLLM versions send). ``before``: deltas (reasoning, tool-call
    fragments) sent after the role chunk and before the content pieces.
    """
    deltas: list[dict[str, Any]] = []
    if role_chunk:
        deltas.append({"role": "assistant"})
    role = {"role": "assistant"} if role_every_delta else {}
    deltas += [{**role, **d} for d in before or []]
    deltas += [{**role, "content": piece} for piece in pieces]
    choices = [{"index": 0, "delta": d, "finish_reason": None} for d in deltas]
    last = {"index": 0, "delta": {}, "finish_reason": None}
    chunks = _stream_chunks(
        choices, last, finish_reason, finish_on_last_content and bool(pieces), usage, usage_chunk,
        usage_choices,
    )
    envelope = {"id": id, "object": "chat.completion.chunk", "created": CREATED, "model": model}
    payloads = [_dumps({**envelope, **chunk}) for chunk in chunks]
    return _sse_response(
        payloads, done=done, crlf=crlf, no_space=no_space, comments=comments,
        delay=delay, split_bytes=split_bytes, headers=headers,
    )


def completion_stream(
    pieces: list[str],
    *,
    finish_reason: str | None = "stop",
    usage: dict[str, Any] | None = None,
    usage_chunk: bool = False,
    model: str = "fake-model",
    finish_on_last_content: bool = False,
    done: bool = True,
    crlf: bool = False,
    no_space: bool = False,
    comments: bool = False,
    delay: float = 0.0,
    headers: dict[str, str] | None = None,
    split_bytes: int | None = None,
    id: str = "cmpl-fake",
) -> Response:
    """A legacy ``/completions`` SSE stream (``object: text_completion``, ``choices[].text``)."""
    choices = [
        {"index": 0, "text": p, "logprobs": None, "finish_reason": None} for p in pieces
    ]
    last = {"index": 0, "text": "", "logprobs": None, "finish_reason": None}
    chunks = _stream_chunks(choices, last, finish_reason, finish_on_last_content, usage, usage_chunk)
    envelope = {"id": id, "object": "text_completion", "created": CREATED, "model": model}
    payloads = [_dumps({**envelope, **chunk}) for chunk in chunks]
    return _sse_response(
        payloads, done=done, crlf=crlf, no_space=no_space, comments=comments,
        delay=delay, split_bytes=split_bytes, headers=headers,
    )


def sse_events(
    events: list[str],
    *,
    delay: float = 0.0,
    split_bytes: int | None = None,
    headers: dict[str, str] | None = None,
    crlf: bool = False,
) -> Response:
    """Raw SSE: each string verbatim (``\\n`` → ``\\r\\n`` when crlf) plus a blank line."""
    nl = "\r\n" if crlf else "\n"
    body = [(e.replace("\n", nl) + nl + nl).encode() for e in events]
    return Response(
        headers={"content-type": SSE_TYPE, **(headers or {})},
        steps=_steps(body, delay, split_bytes),
    )


def raw_sse(
    body: bytes, chunk_sizes: list[int] | None = None, headers: dict[str, str] | None = None
) -> Response:
    """Exact bytes with exact Send boundaries; ``chunk_sizes`` cycle over the body."""
    if not chunk_sizes:
        parts = [body]
    else:
        if min(chunk_sizes) < 1:
            raise ValueError("chunk sizes must be >= 1")
        parts, pos, i = [], 0, 0
        while pos < len(body):
            size = chunk_sizes[i % len(chunk_sizes)]
            parts.append(body[pos : pos + size])
            pos, i = pos + size, i + 1
    return Response(
        headers={"content-type": SSE_TYPE, **(headers or {})},
        steps=[Send(p) for p in parts],
    )


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A ``Content-Length`` JSON response."""
    data = json.dumps(obj, ensure_ascii=False).encode()
    return Response(
        status, {"content-type": JSON_TYPE, **(headers or {})}, [Send(data)], chunked=False
    )


def chat_json(
    text: str,
    finish_reason: str | None = "stop",
    usage: dict[str, Any] | None = None,
    *,
    model: str = "fake-model",
    headers: dict[str, str] | None = None,
) -> Response:
    """A non-streamed ``chat.completion`` (no ``usage`` key unless given)."""
    obj: dict[str, Any] = {
        "id": "chatcmpl-fake", "object": "chat.completion", "created": CREATED, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": finish_reason}],
    }
    if usage is not None:
        obj["usage"] = usage
    return json_response(obj, headers=headers)


def completion_json(
    text: str,
    finish_reason: str | None = "stop",
    usage: dict[str, Any] | None = None,
    *,
    model: str = "fake-model",
    headers: dict[str, str] | None = None,
) -> Response:
    """A non-streamed ``text_completion`` (no ``usage`` key unless given)."""
    obj: dict[str, Any] = {
        "id": "cmpl-fake", "object": "text_completion", "created": CREATED, "model": model,
        "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}],
    }
    if usage is not None:
        obj["usage"] = usage
    return json_response(obj, headers=headers)


def error_response(
    status: int,
    body: str | dict[str, Any],
    *,
    content_type: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """An error: a dict becomes JSON, a str is sent as-is (text/html unless told)."""
    if isinstance(body, dict):
        data, ctype = json.dumps(body).encode(), content_type or JSON_TYPE
    else:
        data, ctype = body.encode(), content_type or "text/html; charset=utf-8"
    return Response(status, {"content-type": ctype, **(headers or {})}, [Send(data)], chunked=False)


def azure_content_filter_400() -> Response:
    """Azure OpenAI's 400 when the *prompt* trips the content filter."""
    safe = {"filtered": False, "severity": "safe"}
    error = {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's "
        "content management policy. Please modify your prompt and retry. To learn more "
        "about our content filtering policies please read our documentation: "
        "https://go.microsoft.com/fwlink/?linkid=2198766",
        "type": None,
        "param": "prompt",
        "code": "content_filter",
        "status": 400,
        "innererror": {
            "code": "ResponsibleAIPolicyViolation",
            "content_filter_result": {
                "hate": dict(safe), "self_harm": dict(safe), "sexual": dict(safe),
                "violence": {"filtered": True, "severity": "medium"},
            },
        },
    }
    headers = {
        "x-request-id": "3f2a9c1e-7b4d-4e8a-9f10-5c6d7e8f9a0b",
        "apim-request-id": "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e",
        "date": "Tue, 14 Nov 2023 22:13:20 GMT",
    }
    return error_response(400, {"error": error}, headers=headers)


# -- the 2026 wire: reasoning, tool calls, usage, models, refusals --------------------------

#: How each server shape sends one piece of reasoning in a streamed delta.
REASONING_SHAPES: dict[str, Any] = {
    # llama.cpp (--reasoning-format deepseek) and DeepSeek: content null meanwhile
    "reasoning_content": lambda r: {"reasoning_content": r, "content": None},
    # vLLM 0.11+ (reasoning_content dropped), None fields left out
    "reasoning": lambda r: {"reasoning": r},
    # Ollama: chunks of their own with an empty content
    "ollama": lambda r: {"role": "assistant", "content": "", "reasoning": r},
    # OpenRouter: every field in every delta, nulls included
    "openrouter": lambda r: {"role": "assistant", "content": "", "reasoning": r,
                             "reasoning_details": [{"type": "reasoning.text", "text": r}]},
}


def reasoning_stream(
    reasoning: list[str], pieces: list[str], *, shape: str = "reasoning_content",
    **stream_options: Any,
) -> Response:
    """A reasoning model's stream: reasoning pieces in the server's ``shape``
    (``REASONING_SHAPES``), then the answer pieces as content."""
    before = [REASONING_SHAPES[shape](r) for r in reasoning]
    return chat_stream(pieces, before=before, **stream_options)


def think_stream(
    reasoning: str, answer: str, *, cut: int | list[int] = 3, lead: str = "",
    after: str = "\n\n", close: bool = True, **stream_options: Any,
) -> Response:
    """A server without a reasoning parser: ``<think>reasoning</think>answer`` inline in the
    content, cut every ``cut`` characters (or at the given offsets), so that the tags are
    split across chunks. ``close=False``: the stream ends inside the block."""
    text = f"{lead}<think>{reasoning}" + (f"</think>{after}{answer}" if close else "")
    if isinstance(cut, int):
        marks = list(range(cut, len(text), cut))
    else:
        marks = sorted(m for m in cut if 0 < m < len(text))
    bounds = [0, *marks, len(text)]
    pieces = [text[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    return chat_stream(pieces, **stream_options)


def tool_call_deltas(
    calls: list[tuple[str, str]], *, cut: int = 5, index_base: int = 0, omit_index: bool = False,
    ids: bool = True,
) -> list[dict[str, Any]]:
    """``delta.tool_calls`` fragments for ``(name, arguments)`` calls, one call after the other:
    the first fragment with id, type and name, then the arguments ``cut`` characters at a time.
    ``index_base=1``: indexes start at 1; ``omit_index``: no index at all."""
    deltas: list[dict[str, Any]] = []
    for n, (name, arguments) in enumerate(calls):
        where = {} if omit_index else {"index": index_base + n}
        head = {**where, "type": "function", "function": {"name": name, "arguments": ""}}
        if ids:
            head["id"] = f"call_{n}"
        deltas.append({"content": None, "tool_calls": [head]})
        for i in range(0, len(arguments), cut):
            part = {**where, "function": {"arguments": arguments[i : i + cut]}}
            deltas.append({"tool_calls": [part]})
    return deltas


def tool_call_stream(calls: list[tuple[str, str]], **options: Any) -> Response:
    """A chat stream asking for tool calls (``tool_call_deltas`` options), ending
    ``finish_reason: "tool_calls"``."""
    fragment_options = {k: options.pop(k) for k in ("cut", "index_base", "omit_index", "ids")
                        if k in options}
    options.setdefault("finish_reason", "tool_calls")
    return chat_stream([], before=tool_call_deltas(calls, **fragment_options), **options)


def models_list(*models: dict[str, Any]) -> Response:
    """``GET /v1/models`` listing these entries (``{"id": ...}`` plus whatever the server adds:
    llama.cpp's ``meta.n_ctx_train``, vLLM's ``max_model_len``, OpenRouter's ``context_length``)."""
    return json_response({"object": "list",
                          "data": [{"object": "model", "owned_by": "fake", **m} for m in models]})


def unsupported_max_tokens_400() -> Response:
    """OpenAI's answer to ``max_tokens`` for a reasoning model."""
    return error_response(400, {"error": {
        "message": "Unsupported parameter: 'max_tokens' is not supported with this model. "
                   "Use 'max_completion_tokens' instead.",
        "type": "invalid_request_error", "param": "max_tokens", "code": "unsupported_parameter"}})


#: Refusals of ``stream_options`` by server shape.
STREAM_OPTIONS_REFUSALS: dict[str, dict[str, Any]] = {
    # Azure OpenAI with an older api-version
    "azure": {"error": {"code": None, "param": None, "type": "invalid_request_error",
                        "message": "Unrecognized request argument supplied: stream_options"}},
    # a pydantic server that forbids extra fields
    "pydantic": {"object": "error", "type": "BadRequestError", "code": 400, "param": None,
                 "message": "[{'type': 'extra_forbidden', 'loc': ('body', 'stream_options'), "
                            "'msg': 'Extra inputs are not permitted'}]"},
    "openai": {"error": {"message": "stream_options is not supported for this model",
                         "type": "invalid_request_error", "param": "stream_options",
                         "code": None}},
}


def stream_options_400(shape: str = "azure") -> Response:
    return error_response(400, STREAM_OPTIONS_REFUSALS[shape])


#: "A model is required" by server shape (a request sent without ``model``).
MODEL_REQUIRED: dict[str, dict[str, Any]] = {
    "openai": {"error": {"message": "you must provide a model parameter",
                         "type": "invalid_request_error", "param": None, "code": None}},
    "ollama": {"error": "model is required"},
    "vllm": {"object": "error", "type": "BadRequestError", "param": None, "code": 400,
             "message": "[{'type': 'missing', 'loc': ('body', 'model'), 'msg': 'Field required',"
                        " 'input': {'messages': []}}]"},
    "fastapi": {"detail": [{"type": "missing", "loc": ["body", "model"],
                            "msg": "Field required", "input": None}]},
    "azure": {"error": {"code": "missing_required_parameter", "param": "model",
                        "type": "invalid_request_error",
                        "message": "Missing required parameter: 'model'."}},
}


def model_required_400(shape: str = "openai") -> Response:
    return error_response(400, MODEL_REQUIRED[shape])


def stall_after(pieces: list[str], stall_seconds: float, **stream_options: Any) -> Response:
    """A chat stream that sends ``pieces``, goes silent for ``stall_seconds``, then aborts."""
    response = chat_stream(pieces, finish_reason=None, done=False, **stream_options)
    response.steps += [Sleep(stall_seconds), Close()]
    return response


def disconnect_after(pieces: list[str], **stream_options: Any) -> Response:
    """A chat stream that sends ``pieces`` then drops the connection (no terminator)."""
    response = chat_stream(pieces, finish_reason=None, done=False, **stream_options)
    response.steps.append(Close())
    return response

__all__ = [
    "MODEL_REQUIRED",
    "REASONING_SHAPES",
    "STREAM_OPTIONS_REFUSALS",
    "azure_content_filter_400",
    "chat_json",
    "chat_stream",
    "completion_json",
    "completion_stream",
    "disconnect_after",
    "error_response",
    "json_response",
    "markdown_reply",
    "model_required_400",
    "models_list",
    "raw_sse",
    "reasoning_stream",
    "sse_events",
    "stall_after",
    "stream_options_400",
    "think_stream",
    "tool_call_deltas",
    "tool_call_stream",
    "unsupported_max_tokens_400",
]
