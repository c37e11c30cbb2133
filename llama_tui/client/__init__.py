"""Async streaming client for Llama 2 and OpenAI-compatible endpoints (no UI, no files).

    from llama_tui.client import Client, GenerationRequest, TextDelta
    from llama_tui.model import Endpoint

    async with Client(Endpoint("azure", url, api_key=key)) as client:
        request = GenerationRequest(messages=[{"role": "user", "content": "Hi"}])
        async for event in client.stream(request):
            if isinstance(event, TextDelta):
                print(event.text, end="", flush=True)

Reasoning arrives as `ReasoningDelta`s, never inside a `TextDelta` (see events.py).
"""

from llama_tui.client.dialects import GenerationRequest, resolve_url
from llama_tui.client.events import (
    ApiError,
    CategoryResult,
    ConnectionFailed,
    ContentFilterError,
    ContentFilterResult,
    EmptyStream,
    EndpointError,
    Finished,
    ModelInfo,
    ModelRequired,
    ProtocolError,
    ReasoningDelta,
    ResponseStarted,
    StreamError,
    StreamEvent,
    StreamTimeout,
    TextDelta,
    TooLarge,
    ToolCall,
    TruncatedStream,
)
from llama_tui.client.http import Client, Reply

__all__ = [
    "ApiError",
    "CategoryResult",
    "Client",
    "ConnectionFailed",
    "ContentFilterError",
    "ContentFilterResult",
    "EmptyStream",
    "EndpointError",
    "Finished",
    "GenerationRequest",
    "ModelInfo",
    "ModelRequired",
    "ProtocolError",
    "ReasoningDelta",
    "Reply",
    "ResponseStarted",
    "StreamError",
    "StreamEvent",
    "StreamTimeout",
    "TextDelta",
    "TooLarge",
    "ToolCall",
    "TruncatedStream",
    "resolve_url",
]
