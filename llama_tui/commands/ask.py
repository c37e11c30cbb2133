"""`llama-tui ask`: one reply, streamed to stdout as it arrives (docs/design.md §5).

The reply runs in the core's reply engine, as in the app: with `--save` (or `-c`) its text is
checkpointed while it streams and saved, marked, however the process ends: SIGINT (cancelled),
SIGTERM and SIGHUP (interrupted), a closed stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from dataclasses import replace

from llama_tui import paths
from llama_tui.client import GenerationRequest
from llama_tui.commands.ask_stream import Printer, stream_reply
from llama_tui.commands.common import (
    EXIT_FAILED,
    UsageError,
    err,
    silence_stdout,
)
from llama_tui.config import Config, hide_keys_in_logs, insecure_warning, load_config
from llama_tui.engine import ReplyEngine
from llama_tui.keys import resolve_key
from llama_tui.model import AUTH_SCHEMES, Conversation, Endpoint, GenerationParams, Mode
from llama_tui.prompts import (
    PromptFormatError,
    TemplateError,
    load_templates,
)
from llama_tui.session import add_prompt, build_request, start_conversation
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
    if args.model:
        conversation.model = args.model  # remembered, as a model chosen in the app is
    elif conversation.model and conversation.endpoint == endpoint.name:
        endpoint = replace(endpoint, model=conversation.model)
    prompt = _prompt_text(args)
    if store is not None:
        add_prompt(conversation, prompt)
    request = request_for(args, config, endpoint, conversation, prompt)
    out = sys.stdout
    if hasattr(out, "reconfigure"):
        out.reconfigure(errors="replace")
    printer = Printer(out, reasoning=None if args.no_reasoning else sys.stderr)
    if store is not None:
        _save(store, conversation)
    engine = ReplyEngine(store)
    code = asyncio.run(stream_reply(engine, endpoint, request, conversation, printer,
                                    raw=args.raw))
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
            stream=not args.no_stream, reasoning_effort=args.reasoning_effort,
        )
    except PromptFormatError as exc:
        raise UsageError(str(exc)) from None
