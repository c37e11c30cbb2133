"""Serve a fake OpenAI-compatible endpoint for manual runs and benchmarks.

    python -m tests.fakeserver [--port 8088] [--scenario NAME] [--tokens N] [--rate TOKENS_PER_S]

Prints the base URL (``http://127.0.0.1:PORT``) on stdout, then serves until
Ctrl-C or SIGTERM.  Every chat/completion POST is answered with the scenario.
"""

from __future__ import annotations

import argparse
import itertools
import re
import signal
import threading
from collections.abc import Callable
from email.utils import formatdate
from typing import Any

from .scripts import (
    azure_content_filter_400,
    chat_json,
    chat_stream,
    completion_json,
    completion_stream,
    error_response,
    json_response,
    markdown_reply,
    stall_after,
)
from .server import MODELS_BODY, FakeServer, ReceivedRequest, Response

HELLO = "Hello! I'm the llama-tui fake server 🙂. Ask me anything — I'll answer quickly."
FILTERED = "Sure, here is the first part of the story. Then the hero picked up the"
ERROR_500 = {"error": {"message": "The server had an error while processing your request.",
                       "type": "server_error", "param": None, "code": None}}
SCENARIOS = ["hello", "markdown", "slow", "content-filter", "filtered-reply", "error500",
             "stall", "echo"]


def words(text: str) -> list[str]:
    """Cut text into word-like pieces that keep their leading whitespace."""
    return re.findall(r"\s*\S+", text) or [text]


def last_user_text(payload: dict[str, Any], chat: bool) -> str:
    """The last user message (chat) or the prompt (completions), as plain text."""
    if not chat:
        prompt = payload.get("prompt", "")
        return prompt if isinstance(prompt, str) else " ".join(map(str, prompt))
    for message in reversed(payload.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content", "")
            if isinstance(content, list):
                return "".join(p.get("text", "") for p in content if isinstance(p, dict))
            return str(content)
    return ""


def scenario_response(name: str, request: ReceivedRequest, tokens: int, rate: float) -> Response:
    """Build the answer of scenario ``name`` to a chat or completion POST."""
    chat = request.path.endswith("/chat/completions")
    try:
        payload = request.json() if request.body else {}
    except ValueError:
        return error_response(400, {"error": {"message": "request body is not JSON"}})
    model = str(payload.get("model") or "fake-model")
    stream = bool(payload.get("stream", False))
    delay = 1.0 / rate if rate > 0 else 0.0
    finish: str | None = "stop"
    if name == "content-filter":
        return azure_content_filter_400()
    if name == "error500":
        return error_response(500, ERROR_500)
    if name == "stall":
        if not stream:
            return Response(headers={"content-type": "application/json"},
                            head_delay=float("inf"), chunked=False)
        return stall_after(words("Let me think")[:2], float("inf"), model=model)
    if name == "markdown":
        pieces = markdown_reply(tokens)
    elif name == "slow":
        pieces, delay = words(HELLO), 0.2
    elif name == "filtered-reply":
        pieces, finish = words(FILTERED), "content_filter"
    elif name == "echo":
        pieces = words("You said: " + last_user_text(payload, chat))
    else:
        pieces = words(HELLO)
    if not stream:
        build_json = chat_json if chat else completion_json
        return build_json("".join(pieces), finish, model=model)
    build_stream = chat_stream if chat else completion_stream
    return build_stream(pieces, finish_reason=finish, model=model, delay=delay)


def make_handler(name: str, tokens: int, rate: float) -> Callable[[ReceivedRequest], Response]:
    """A request handler stamping ``x-request-id: req-<n>`` and ``date`` on every answer."""
    counter = itertools.count(1)

    def handle(request: ReceivedRequest) -> Response:
        if request.method == "GET" and request.path in ("/v1/models", "/models"):
            response = json_response(MODELS_BODY)
        elif request.method == "POST" and request.path.endswith("/completions"):
            response = scenario_response(name, request, tokens, rate)
        else:
            message = f"fake server: no route for {request.method} {request.path}"
            response = error_response(404, {"error": {"message": message}})
        response.headers.update(
            {"x-request-id": f"req-{next(counter)}", "date": formatdate(usegmt=True)}
        )
        return response

    return handle


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, serve, and stop cleanly on SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m tests.fakeserver", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8088, help="0 picks a free port")
    parser.add_argument("--scenario", choices=SCENARIOS, default="hello")
    parser.add_argument("--tokens", type=int, default=4000, help="pieces for 'markdown'")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="tokens per second for streams (0 = as fast as possible)")
    args = parser.parse_args(argv)

    handler = make_handler(args.scenario, args.tokens, args.rate)
    server = FakeServer(args.host, args.port, default=handler)
    server.route("GET", "/v1/models", handler)
    server.route("GET", "/models", handler)
    try:
        server.start()
    except OSError as exc:
        parser.exit(1, f"fakeserver: cannot listen on {args.host}:{args.port}: {exc}\n")
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    print(server.base_url, flush=True)
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
