"""Scripted OpenAI-compatible fake HTTP server for client, CLI, UI tests and benchmarks."""

from __future__ import annotations

from .scripts import (
    azure_content_filter_400,
    chat_json,
    chat_stream,
    completion_json,
    completion_stream,
    disconnect_after,
    error_response,
    json_response,
    markdown_reply,
    raw_sse,
    sse_events,
    stall_after,
)
from .server import Close, FakeServer, ReceivedRequest, Repeat, Response, Send, Sleep, Step

__all__ = [
    "Close",
    "FakeServer",
    "ReceivedRequest",
    "Repeat",
    "Response",
    "Send",
    "Sleep",
    "Step",
    "azure_content_filter_400",
    "chat_json",
    "chat_stream",
    "completion_json",
    "completion_stream",
    "disconnect_after",
    "error_response",
    "json_response",
    "markdown_reply",
    "raw_sse",
    "sse_events",
    "stall_after",
]
