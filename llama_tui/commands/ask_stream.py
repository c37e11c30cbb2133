"""`ask`'s reply as it streams: the answer to stdout, everything else to stderr (docs/design.md §5).

The reply runs in the core's reply engine, as in the app. A reasoning model's thinking goes to
stderr as it arrives (dim on a terminal) unless `--no-reasoning`; stdout carries the answer
only. A server that needs a `model` when none was given: with one model listed it is used,
with several `ask` exits 2 naming them. Signals end the reply, kept and marked: SIGINT
(cancelled, 130), SIGTERM (143) and SIGHUP (129) (interrupted); so does a closed stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from dataclasses import replace
from typing import TextIO

from llama_tui.client import ApiError, Client, GenerationRequest
from llama_tui.client.events import ModelRequired
from llama_tui.commands.common import (
    EXIT_FAILED,
    EXIT_FILTERED,
    EXIT_OK,
    EXIT_USAGE,
    err,
)
from llama_tui.engine import ReplyEngine
from llama_tui.model import Conversation, Endpoint
from llama_tui.reply import CANCELLED, INTERRUPTED, EngineEvent, ReasoningGrew, Reply, Saved, TextGrew
from llama_tui.sanitize import SafeStream, sanitize
from llama_tui.session import begin_reply

#: How a reply stopped by each signal is marked; the exit code is 128 + the signal's number.
SIGNALS = {signal.SIGINT: CANCELLED, signal.SIGTERM: INTERRUPTED, signal.SIGHUP: INTERRUPTED}
DIM, PLAIN = "\x1b[2m", "\x1b[0m"


class Printer:
    """Prints the answer to `out` and the thinking to `reasoning` (None: not at all), each as
    it grows (the engine has sanitised both)."""

    def __init__(self, out: TextIO, *, reasoning: TextIO | None) -> None:
        self.out = out
        self.reasoning = reasoning
        self.printed = 0
        self.thought = 0
        self._thinking = False  # the last thing written to stderr was thinking
        self.ended = False
        #: stdout went away (`ask ... | head`): the reply is stopped and kept.
        self.closed = False

    def on_event(self, event: EngineEvent) -> None:
        if isinstance(event, ReasoningGrew) and self.reasoning is not None:
            parts = event.reply.reasoning_parts
            self._think("".join(parts[self.thought:]))
            self.thought = len(parts)
        elif isinstance(event, TextGrew) and not self.closed:
            self.end_thinking()
            parts = event.reply.parts
            text = "".join(parts[self.printed:])
            self.printed = len(parts)
            try:
                self.out.write(text)
                self.out.flush()
            except (BrokenPipeError, OSError):
                self.closed = True
                raise StdoutClosed from None

    def _think(self, text: str) -> None:
        """Thinking on stderr: dim on a terminal (the style is ours; the text is sanitised)."""
        assert self.reasoning is not None
        raw = self.reasoning._stream if isinstance(self.reasoning, SafeStream) else self.reasoning
        with contextlib.suppress(OSError, ValueError):
            styled = raw.isatty()
            if not self._thinking:
                raw.write((DIM if styled else "") + "thinking: ")
            raw.write(sanitize(text))
            raw.flush()
            self._thinking = True

    def end_thinking(self) -> None:
        if self._thinking and self.reasoning is not None:
            self._thinking = False
            raw = self.reasoning._stream if isinstance(self.reasoning, SafeStream) \
                else self.reasoning
            with contextlib.suppress(OSError, ValueError):
                raw.write((PLAIN if raw.isatty() else "") + "\n")
                raw.flush()

    def end(self) -> None:
        self.end_thinking()
        if not self.ended and not self.closed:
            self.ended = True
            with contextlib.suppress(OSError):
                self.out.write("\n")
                self.out.flush()


class StdoutClosed(Exception):
    pass


async def stream_reply(
    engine: ReplyEngine, endpoint: Endpoint, request: GenerationRequest,
    conversation: Conversation, printer: Printer, *, raw: bool = False,
) -> int:
    """Stream one reply into `conversation`; report how it ended; the exit code."""
    loop = asyncio.get_running_loop()
    caught: list[int] = []

    def on_signal(sig: int) -> None:
        caught.append(sig)
        engine.stop_all(SIGNALS[signal.Signals(sig)])

    for sig in SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)

    def listen(event: EngineEvent) -> None:
        if isinstance(event, Saved) and event.conflict_with:
            say(f"conversation {event.conflict_with} was changed by another program; "
                f"this exchange is saved as a copy ({event.conversation.id})")
        try:
            printer.on_event(event)
        except StdoutClosed:
            engine.stop_all(INTERRUPTED)

    engine.subscribe(listen)
    try:
        reply, code = await _with_a_model(engine, endpoint, request, conversation, raw)
    finally:
        for sig in SIGNALS:
            loop.remove_signal_handler(sig)
    if code is not None:
        return code
    if printer.closed:
        return EXIT_FAILED
    if printer.printed or printer.thought:
        printer.end()
    if caught:
        say("interrupted: the partial reply above is incomplete" if reply.parts
            else "interrupted before the reply began")
        return 128 + caught[0]
    return _outcome(reply, printer)


async def _with_a_model(
    engine: ReplyEngine, endpoint: Endpoint, request: GenerationRequest,
    conversation: Conversation, raw: bool,
) -> tuple[Reply, int | None]:
    """Run the reply; when the server wants a model and none was given, ask it which it has:
    one is used (the reply starts again), several end `ask` with exit 2 naming them."""
    async with Client(endpoint) as client:
        reply = engine.start(conversation, begin_reply(conversation), client, request,
                             clean=not raw, secrets=endpoint.secrets())
        await engine.wait(reply)
        if not isinstance(reply.error, ModelRequired) or endpoint.model or reply.answered:
            return reply, None
        try:
            models = [m.id for m in await client.models()]
        except ApiError:
            models = []
    if len(models) != 1:
        listed = ", ".join(sanitize(m) for m in models[:20]) or "none listed"
        if len(models) > 20:
            listed += f" and {len(models) - 20} more"
        say(f"the server needs a model: pass --model NAME (it lists: {listed})")
        return reply, EXIT_USAGE
    say(f"using the server's only model, {sanitize(models[0])}")
    conversation.messages.remove(reply.message)  # the refused attempt is not the reply
    endpoint = replace(endpoint, model=models[0])
    conversation.model = models[0]  # `--continue` asks for it again
    async with Client(endpoint) as client:
        reply = engine.start(conversation, begin_reply(conversation), client, request,
                             clean=not raw, secrets=endpoint.secrets())
        await engine.wait(reply)
    return reply, None


def _outcome(reply: Reply, printer: Printer) -> int:
    """Report how the reply ended on stderr; the exit code."""
    if reply.error is not None:
        filtered = reply.error.kind == "content_filter"
        context: str | None = "the reply above is incomplete" if reply.parts else None
        if filtered:
            context = "the prompt was blocked by the content filter"
        report(reply.error, context)
        return EXIT_FILTERED if filtered else EXIT_FAILED
    if reply.crash is not None:
        raise reply.crash
    if not printer.printed:
        printer.end()
    if reply.tool_calls:
        say(f"the model asked to call {', '.join(reply.tool_calls)}; llama-tui does not run "
            "tools")
        return EXIT_FAILED
    if reply.outcome == "content_filter":
        what = reply.content_filter.summary() if reply.content_filter else "no category given"
        say(f"the reply was stopped by the content filter: {what}")
        stats = reply.message.stats
        if stats is not None and stats.request_id:
            say(f"request id: {stats.request_id}")
        return EXIT_FILTERED
    if reply.reasoning_only:
        say("note: the model used the whole reply thinking and gave no answer; raise "
            "--max-tokens or lower --reasoning-effort")
    elif reply.outcome == "length":
        say("note: the reply stopped at the max_tokens limit (finish_reason: length); "
            "raise --max-tokens for more")
    return EXIT_OK


def say(message: str) -> None:
    """stderr, which may be gone (SIGHUP: the terminal closed): never fails."""
    with contextlib.suppress(OSError):
        err(message)


def report(exc: ApiError, context: str | None) -> None:
    lines = exc.details()
    with contextlib.suppress(OSError):
        err(f"error: {lines[0]}")
        for line in lines[1:]:
            print(f"  {line}", file=sys.stderr)
        if context:
            print(f"  ({context})", file=sys.stderr)
        sys.stderr.flush()
