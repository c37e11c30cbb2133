"""The command line (docs/design.md §5): `llama-tui` opens the app; `ask`, `list`, `export`, `locate`.

`ask` writes only the reply text to stdout; every other word goes to stderr, and every failure
exits non-zero: 1 the request failed, 2 usage or configuration, 3 blocked by a content filter,
130 interrupted. No traceback ever reaches the user: unexpected errors are logged to the log
file and summarised in one line.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Sequence

from llama_tui import __version__, paths
from llama_tui.commands.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    UsageError,
    err,
    silence_stdout,
)
from llama_tui.sanitize import SafeFormatter, SafeStream

log = logging.getLogger(__name__)

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llama-tui",
        description="Terminal chat client for Llama 2 and OpenAI-compatible endpoints. "
        "Without a command, opens the full-screen app.",
    )
    parser.add_argument("--version", action="version", version=f"llama-tui {__version__}")
    parser.add_argument("--endpoint", metavar="NAME", help="endpoint to start the app with")
    parser.add_argument("--serve", action="store_true",
                        help="serve the app in a browser on localhost (needs llama-tui[serve])")
    parser.add_argument("--port", type=int, default=8000, help="port for --serve (8000)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    ask = sub.add_parser("ask", help="stream one reply to stdout",
                         description="Stream one reply to stdout. Errors go to stderr.")
    ask.add_argument("prompt", nargs="?", metavar="PROMPT",
                     help="the prompt; read from stdin when absent or '-'")
    where = ask.add_argument_group("endpoint")
    where.add_argument("--endpoint", metavar="NAME", help="an endpoint from config.toml")
    where.add_argument("--base-url", metavar="URL", help="an ad-hoc endpoint URL (any form)")
    where.add_argument("--api-key", metavar="KEY", help="API key (default: $LLAMA_TUI_API_KEY)")
    where.add_argument("--auth", choices=["bearer", "raw", "api-key"],
                       help="how the key is sent (default bearer)")
    where.add_argument("--model", help="the model to ask for (none: the one the server lists; "
                       "with several, ask says which)")
    where.add_argument("--timeout", type=_positive_float, metavar="SECONDS",
                       help="read timeout between chunks")
    what = ask.add_argument_group("request")
    what.add_argument("--completion", action="store_true",
                      help="text completion (/v1/completions) with a plain prompt")
    what.add_argument("--prompt-format", choices=["llama2"],
                      help="with --completion: render the chat as a Llama 2 [INST] prompt")
    what.add_argument("--system", metavar="TEXT", help="system prompt")
    what.add_argument("--max-tokens", type=_positive_int, metavar="N")
    what.add_argument("--temperature", type=_finite_float, metavar="T")
    what.add_argument("--top-p", type=_finite_float, metavar="P")
    what.add_argument("--stop", action="append", metavar="S", help="stop sequence (repeatable)")
    what.add_argument("--seed", type=int, metavar="N")
    what.add_argument("--no-stream", action="store_true", help="ask for one complete response")
    what.add_argument("--no-reasoning", action="store_true",
                      help="do not print a reasoning model's thinking (to stderr) as it comes")
    what.add_argument("--reasoning-effort", choices=["off", "low", "medium", "high"],
                      help="how hard a reasoning model thinks (default: the server's)")
    what.add_argument("--raw", action="store_true",
                      help="print the reply's bytes as the server sent them (by default escape "
                      "sequences and control characters are made harmless, in a pipe too)")
    what.add_argument("--template", metavar="NAME", help="fill a prompt template")
    what.add_argument("--var", action="append", default=[], metavar="KEY=VALUE",
                      help="a template variable (repeatable)")
    conv = ask.add_argument_group("conversation")
    conv.add_argument("--save", action="store_true", help="store the exchange as a conversation")
    conv.add_argument("-c", "--continue", dest="continue_id", nargs="?", const="", metavar="ID",
                      help="continue a conversation (the latest when no ID) and save to it")
    conv.add_argument("--memory", type=_non_negative_int, metavar="K",
                      help="send the last K exchanges (0 = only the new message)")

    sub.add_parser("list", help="one line per conversation: id, updated, title")
    export = sub.add_parser("export", help="print a conversation")
    export.add_argument("id", metavar="ID")
    export.add_argument("--format", choices=["md", "json"], default="md")
    sub.add_parser("locate", help="print the config, data and log paths")
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError("must be a finite number")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def setup_logging() -> None:
    """Log to a file under the state dir; never to the terminal. Failing to do so is not fatal."""
    try:
        log_path = paths.log_file()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_path, encoding="utf-8")
    except OSError:
        return
    handler.setFormatter(SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("llama_tui")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    root.propagate = False


def guard_output(args: argparse.Namespace) -> None:
    """Everything the CLI prints passes `sanitize` (docs/design.md §7), but the reply of `ask --raw`."""
    if not isinstance(sys.stderr, SafeStream) and sys.stderr is not None:
        sys.stderr = SafeStream(sys.stderr)
    raw = args.command == "ask" and getattr(args, "raw", False)
    if not raw and args.command is not None and not isinstance(sys.stdout, SafeStream) \
            and sys.stdout is not None:
        sys.stdout = SafeStream(sys.stdout)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    guard_output(args)
    try:
        if args.command == "ask":
            from llama_tui.commands.ask import run_ask

            return run_ask(args)
        if args.command in ("list", "export", "locate"):
            from llama_tui.commands import history

            return int(getattr(history, f"run_{args.command}")(args))
        from llama_tui.commands.tui import run_tui

        return run_tui(args)
    except UsageError as exc:
        err(str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`llama-tui ask ... | head`): not an internal error. Point stdout
        # at /dev/null so the interpreter's final flush does not complain about it again.
        silence_stdout()
        return EXIT_FAILED
    except Exception as exc:
        from llama_tui.config import ConfigError

        if isinstance(exc, ConfigError):
            err(str(exc))
            return EXIT_USAGE
        log.exception("unexpected error")
        err(f"internal error: {type(exc).__name__}: {exc} (details in {paths.log_file()})")
        return EXIT_FAILED
