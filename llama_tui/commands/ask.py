"""`llama-tui ask`: one reply, streamed to stdout as it arrives (DESIGN §5)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from dataclasses import replace
from typing import TextIO

from llama_tui import paths
from llama_tui.cli import EXIT_FAILED, EXIT_FILTERED, EXIT_INTERRUPTED, EXIT_OK, UsageError, err
from llama_tui.client import (
    ApiError,
    Client,
    ContentFilterError,
    Finished,
    GenerationRequest,
    ResponseStarted,
    TextDelta,
)
from llama_tui.config import Config, hide_keys_in_logs, insecure_warning, load_config, resolve_key
from llama_tui.model import AUTH_SCHEMES, Conversation, Endpoint, GenerationParams, Mode, Stats, Usage
from llama_tui.prompts import (
    PromptFormatError,
    TemplateError,
    load_templates,
)
from llama_tui.sanitize import sanitize
from llama_tui.session import add_prompt, build_request, finish_reply, start_conversation
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
    printer = _Printer(out, sanitize_output=out.isatty())
    if store is not None:
        _save(store, conversation)
    try:
        code, reply = asyncio.run(_stream(endpoint, request, printer))
    except KeyboardInterrupt:
        printer.end()
        err("interrupted: the partial reply above is incomplete")
        code, reply = EXIT_INTERRUPTED, _Outcome("cancelled", printer.text)
    if store is not None:
        finish_reply(conversation, reply.text, reply.finish_reason, stats=reply.stats,
                     usage=reply.usage, error=reply.error)
        _save(store, conversation)
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
    def __init__(self, out: TextIO, *, sanitize_output: bool) -> None:
        self.out = out
        self.sanitize_output = sanitize_output
        self.parts: list[str] = []
        self.ended = False

    def write(self, text: str) -> None:
        self.parts.append(text)
        self.out.write(sanitize(text) if self.sanitize_output else text)
        self.out.flush()

    def end(self) -> None:
        if not self.ended:
            self.ended = True
            self.out.write("\n")
            self.out.flush()

    @property
    def text(self) -> str:
        return "".join(self.parts)


class _Outcome:
    def __init__(self, finish_reason: str, text: str, *, stats: Stats | None = None,
                 usage: Usage | None = None, error: str | None = None) -> None:
        self.finish_reason, self.text, self.stats = finish_reason, text, stats
        self.usage, self.error = usage, error


async def _stream(
    endpoint: Endpoint, request: GenerationRequest, printer: _Printer
) -> tuple[int, _Outcome]:
    request_id = None
    try:
        async with Client(endpoint) as client:
            async for event in client.stream(request):
                if isinstance(event, TextDelta):
                    printer.write(event.text)
                elif isinstance(event, ResponseStarted):
                    request_id = event.request_id
                elif isinstance(event, Finished):
                    printer.end()
                    return _finished(event, printer)
    except ContentFilterError as exc:
        if printer.parts:
            printer.end()
        _report(exc, "the prompt was blocked by the content filter")
        return EXIT_FILTERED, _Outcome("content_filter", printer.text, error=str(exc))
    except ApiError as exc:
        if printer.parts:
            printer.end()
            _report(exc, "the reply above is incomplete")
        else:
            _report(exc, None)
        stats = Stats(request_id=exc.request_id or request_id)
        return EXIT_FAILED, _Outcome("error", printer.text, stats=stats, error=str(exc))
    raise AssertionError("stream ended without Finished")  # pragma: no cover


def _finished(event: Finished, printer: _Printer) -> tuple[int, _Outcome]:
    outcome = _Outcome(event.finish_reason, printer.text, stats=event.stats, usage=event.usage)
    if event.finish_reason == "content_filter":
        what = event.content_filter.summary() if event.content_filter else "no category given"
        err(f"the reply was stopped by the content filter: {what}")
        if event.stats.request_id:
            err(f"request id: {event.stats.request_id}")
        return EXIT_FILTERED, outcome
    if event.finish_reason == "length":
        err("note: the reply stopped at the max_tokens limit (finish_reason: length); "
            "raise --max-tokens for more")
    return EXIT_OK, outcome


def _report(exc: ApiError, context: str | None) -> None:
    lines = exc.details()
    err(f"error: {lines[0]}")
    for line in lines[1:]:
        print(f"  {line}", file=sys.stderr)
    if context:
        print(f"  ({context})", file=sys.stderr)
    sys.stderr.flush()
