"""`llama-tui ask`: one reply, streamed to stdout as it arrives (docs/design.md §5).

The reply runs in the core's reply engine, as in the app: with `--save` (or `-c`) its text is
checkpointed while it streams and saved, marked, however the process ends: SIGINT (cancelled),
SIGTERM and SIGHUP (interrupted), a closed stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from dataclasses import replace
from typing import TextIO

from llama_tui import paths
from llama_tui.client import ApiError, Client, GenerationRequest
from llama_tui.commands.common import (
    EXIT_FAILED,
    EXIT_FILTERED,
    EXIT_OK,
    UsageError,
    err,
    silence_stdout,
)
from llama_tui.config import Config, hide_keys_in_logs, insecure_warning, load_config
from llama_tui.engine import (
    CANCELLED,
    INTERRUPTED,
    EngineEvent,
    Reply,
    ReplyEngine,
    Saved,
    TextGrew,
)
from llama_tui.keys import resolve_key
from llama_tui.model import AUTH_SCHEMES, Conversation, Endpoint, GenerationParams, Mode
from llama_tui.prompts import (
    PromptFormatError,
    TemplateError,
    load_templates,
)
from llama_tui.session import add_prompt, begin_reply, build_request, start_conversation
from llama_tui.storage.codec import CodecError
from llama_tui.storage.store import ConversationStore, StoreError


def run_ask(args: argparse.Namespace) -> int:
    hide_keys_in_logs()
    config = load_config()
    for warning in config.warnings:
        err(f"warning: {warning}")
    conversation, store = _conversation(args, config)
    continuing = args.continue_id is not None
    endpoint = choose_endpoint(args, config, conversation.endpoint if continuing else None)
    if not continuing:
        conversation.endpoint = endpoint.name
        conversation.mode = _mode(args, endpoint)
    prompt = _prompt_text(args)
    if store is not None:
        add_prompt(conversation, prompt)
    request = request_for(args, config, endpoint, conversation, prompt)
    out = sys.stdout
    if hasattr(out, "reconfigure"):
        out.reconfigure(errors="replace")
    printer = _Printer(out)
    if store is not None:
        _save(store, conversation)
    engine = ReplyEngine(store)
    code = asyncio.run(_stream(engine, endpoint, request, conversation, printer, raw=args.raw))
    if printer.closed:
        silence_stdout()
    if store is not None:
        if engine.unsaved:
            err(f"could not save conversation {conversation.id} (see the log)")
            return code or EXIT_FAILED
        err(f"saved to conversation {conversation.id}")
    return code


def _save(store: ConversationStore, conversation: Conversation) -> None:
    """Save; on a conflict the copy's id and title become the conversation's (later saves of
    this run go to the copy) and stderr says so."""
    result = store.save(conversation)
    if result.renamed_to is not None:
        conversation.id, conversation.title = result.renamed_to
        err(f"conversation {result.conflict_with} was changed by another program; "
            f"this exchange is saved as a copy ({conversation.id})")


# -- building the request -------------------------------------------------------------------

def choose_endpoint(
    args: argparse.Namespace, config: Config, preferred: str | None = None
) -> Endpoint:
    """--base-url, else --endpoint, else the conversation's own endpoint, else the default."""
    if args.base_url:
        auth = os.environ.get("LLAMA_TUI_AUTH") or "bearer"
        if auth not in AUTH_SCHEMES:
            raise UsageError(f"LLAMA_TUI_AUTH: unknown auth scheme {auth!r} "
                             f"(use one of {', '.join(AUTH_SCHEMES)})")
        endpoint = Endpoint(name="cli", url=args.base_url,
                            api_key=os.environ.get("LLAMA_TUI_API_KEY") or None,
                            auth=auth,
                            model=os.environ.get("LLAMA_TUI_MODEL") or None)
    else:
        name = args.endpoint
        if name is None and preferred in config.endpoint_names():
            name = preferred
        chosen = config.choose_endpoint(name)
        if chosen is None:
            raise UsageError(
                "no endpoint: pass --base-url URL, set LLAMA_TUI_BASE_URL, or add one to "
                f"{config.path or paths.config_file()} (see the README)"
            )
        endpoint = chosen
    if args.api_key:
        endpoint = endpoint.with_key(args.api_key)
    if args.auth:
        endpoint = replace(endpoint, auth=args.auth)
    if args.model:
        endpoint = replace(endpoint, model=args.model)
    if args.timeout:
        endpoint = replace(endpoint, read_timeout=args.timeout)
    if warning := insecure_warning(endpoint):
        err(f"warning: {warning}")
    return resolve_key(endpoint)


def _conversation(
    args: argparse.Namespace, config: Config
) -> tuple[Conversation, ConversationStore | None]:
    if args.continue_id is None and not args.save:
        conv = start_conversation(None, config.system_prompt,
                                  memory_window=config.memory_window)
        if args.system is not None:
            conv.system = args.system
        return conv, None
    store = ConversationStore()
    if args.continue_id is None:
        conv = start_conversation(None, config.system_prompt,
                                  memory_window=config.memory_window)
    else:
        conv_id = args.continue_id
        if conv_id:
            summaries, _ = store.scan()
            known = {s.id for s in summaries}
            if conv_id not in known:
                matches = [s for s in known if s.startswith(conv_id.upper())]
                if len(matches) == 1:
                    conv_id = matches[0]
                elif args.prompt is None:
                    # `ask -c "question"`: the value is the prompt, continue the latest.
                    args.prompt, conv_id = conv_id, ""
                else:
                    raise UsageError(f"no conversation with id {args.continue_id!r} "
                                     "(llama-tui list shows them)")
        if not conv_id:
            latest = store.latest()
            if latest is None:
                raise UsageError("no conversation to continue yet (use --save to start one)")
            conv_id = latest.id
        try:
            conv = store.load(conv_id)
        except (CodecError, StoreError) as exc:
            raise UsageError(f"cannot continue: {exc}") from None
    if args.system is not None:
        conv.system = args.system
    if args.memory is not None:
        conv.params.memory_window = args.memory
    return conv, store


def _mode(args: argparse.Namespace, endpoint: Endpoint) -> Mode:
    return "completion" if args.completion else endpoint.kind


def _prompt_text(args: argparse.Namespace) -> str:
    text = args.prompt
    if text is None or text == "-":
        if sys.stdin is None or sys.stdin.isatty():
            if not args.template:
                raise UsageError("no prompt: give one as an argument or on stdin")
            text = ""
        else:
            try:
                text = sys.stdin.read()
            except UnicodeDecodeError:
                raise UsageError("stdin is not UTF-8 text") from None
    if args.template:
        text = _fill_template(args, text)
    if not text.strip():
        raise UsageError("the prompt is empty")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # argv bytes that are not UTF-8 arrive as lone surrogates
        raise UsageError("the prompt is not UTF-8 text") from None
    return str(text)


def _fill_template(args: argparse.Namespace, text: str) -> str:
    try:
        templates = load_templates(paths.templates_file())
    except TemplateError as exc:
        raise UsageError(str(exc)) from None
    template = templates.get(args.template)
    if template is None:
        raise UsageError(f"no template {args.template!r}; known: {', '.join(sorted(templates))}")
    values: dict[str, str] = {}
    for item in args.var:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--var takes KEY=VALUE, got {item!r}")
        values[key.strip()] = value
    missing = [v for v in template.variables if v not in values]
    if len(missing) == 1 and text.strip():
        values[missing[0]] = text.strip("\n")  # the prompt (or stdin) fills the one left over
    try:
        return template.render(values)
    except TemplateError as exc:
        raise UsageError(str(exc)) from None


def request_for(
    args: argparse.Namespace, config: Config, endpoint: Endpoint, conv: Conversation, prompt: str
) -> GenerationRequest:
    cli = GenerationParams(max_tokens=args.max_tokens, temperature=args.temperature,
                           top_p=args.top_p, stop=args.stop, seed=args.seed)
    saved = args.continue_id is not None or args.save
    try:
        return build_request(
            config, conv, endpoint, prompt=None if saved else prompt, overrides=cli,
            mode=_mode(args, endpoint), prompt_format=args.prompt_format,
            stream=not args.no_stream,
        )
    except PromptFormatError as exc:
        raise UsageError(str(exc)) from None


# -- streaming ------------------------------------------------------------------------------

class _Printer:
    """Prints the reply (already sanitised by the engine) as it grows; says how it ended."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.printed = 0
        self.ended = False
        #: stdout went away (`ask ... | head`): the reply is stopped and kept.
        self.closed = False

    def on_event(self, event: EngineEvent) -> None:
        if isinstance(event, TextGrew) and not self.closed:
            parts = event.reply.parts
            text = "".join(parts[self.printed:])
            self.printed = len(parts)
            try:
                self.out.write(text)
                self.out.flush()
            except (BrokenPipeError, OSError):
                self.closed = True
                raise _StdoutClosed from None

    def end(self) -> None:
        if not self.ended and not self.closed:
            self.ended = True
            with contextlib.suppress(OSError):
                self.out.write("\n")
                self.out.flush()


class _StdoutClosed(Exception):
    pass


#: The exit code of a reply stopped by a signal (the shell's 128 + signal number).
_SIGNALS = {signal.SIGINT: CANCELLED, signal.SIGTERM: INTERRUPTED, signal.SIGHUP: INTERRUPTED}


async def _stream(
    engine: ReplyEngine, endpoint: Endpoint, request: GenerationRequest,
    conversation: Conversation, printer: _Printer, *, raw: bool = False,
) -> int:
    loop = asyncio.get_running_loop()
    caught: list[int] = []

    def on_signal(sig: int) -> None:
        caught.append(sig)
        engine.stop_all(_SIGNALS[signal.Signals(sig)])

    for sig in _SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)

    def listen(event: EngineEvent) -> None:
        if isinstance(event, Saved) and event.conflict_with:
            _say(f"conversation {event.conflict_with} was changed by another program; "
                 f"this exchange is saved as a copy ({event.conversation.id})")
        try:
            printer.on_event(event)
        except _StdoutClosed:
            engine.stop_all(INTERRUPTED)

    engine.subscribe(listen)
    try:
        async with Client(endpoint) as client:
            reply = engine.start(conversation, begin_reply(conversation), client, request,
                                 clean=not raw, secrets=endpoint.secrets())
            await engine.wait(reply)
    finally:
        for sig in _SIGNALS:
            loop.remove_signal_handler(sig)
    if printer.closed:
        return EXIT_FAILED
    if printer.printed:
        printer.end()
    if caught:
        _say("interrupted: the partial reply above is incomplete" if reply.parts
             else "interrupted before the reply began")
        return 128 + caught[0]
    return _outcome(reply, printer)


def _outcome(reply: Reply, printer: _Printer) -> int:
    """Report how the reply ended on stderr; the exit code."""
    if reply.error is not None:
        filtered = reply.error.kind == "content_filter"
        context: str | None = "the reply above is incomplete" if reply.parts else None
        if filtered:
            context = "the prompt was blocked by the content filter"
        _report(reply.error, context)
        return EXIT_FILTERED if filtered else EXIT_FAILED
    if reply.crash is not None:
        raise reply.crash
    if not printer.printed:
        printer.end()
    if reply.outcome == "content_filter":
        what = reply.content_filter.summary() if reply.content_filter else "no category given"
        _say(f"the reply was stopped by the content filter: {what}")
        stats = reply.message.stats
        if stats is not None and stats.request_id:
            _say(f"request id: {stats.request_id}")
        return EXIT_FILTERED
    if reply.outcome == "length":
        _say("note: the reply stopped at the max_tokens limit (finish_reason: length); "
             "raise --max-tokens for more")
    return EXIT_OK


def _say(message: str) -> None:
    """stderr, which may be gone (SIGHUP: the terminal closed): never fails."""
    with contextlib.suppress(OSError):
        err(message)


def _report(exc: ApiError, context: str | None) -> None:
    lines = exc.details()
    with contextlib.suppress(OSError):
        err(f"error: {lines[0]}")
        for line in lines[1:]:
            print(f"  {line}", file=sys.stderr)
        if context:
            print(f"  ({context})", file=sys.stderr)
        sys.stderr.flush()
