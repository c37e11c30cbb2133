"""`llama-tui list`, `export` and `locate`: the saved history from the command line."""

from __future__ import annotations

import argparse
import sys

from llama_tui import paths
from llama_tui.commands.common import EXIT_FAILED, EXIT_OK, UsageError, err
from llama_tui.sanitize import sanitize


def run_list(args: argparse.Namespace) -> int:
    """One line per conversation on stdout, one `skipped` line per unreadable file on stderr.
    Every field passes `sanitize` (file names, ids and titles are whatever is on disk, and a
    pipe often ends in a terminal too); whitespace runs in titles become one space so each
    conversation stays one tab-separated line."""
    from llama_tui.storage.store import ConversationStore

    summaries, problems = ConversationStore().scan()
    lines = [f"{_field(s.id)}\t{s.updated_at:%Y-%m-%d %H:%M}\t{_field(s.title)}"
             for s in summaries]
    sys.stdout.write("\n".join(lines) + ("\n" if lines else ""))
    sys.stdout.flush()
    for problem in problems:
        err(f"skipped {_field(str(problem))}")
    return EXIT_OK


def _field(text: str) -> str:
    return sanitize(" ".join(text.split()))


def run_export(args: argparse.Namespace) -> int:
    from llama_tui.storage.codec import CodecError
    from llama_tui.storage.store import ConversationStore, StoreError

    store = ConversationStore()
    summaries, _ = store.scan()
    matches = [s.id for s in summaries if s.id == args.id] or \
        [s.id for s in summaries if s.id.upper().startswith(args.id.upper())]
    if len(matches) != 1:
        shown = sanitize(repr(args.id))
        raise UsageError(f"no conversation with id {shown}" if not matches
                         else f"{shown} matches {len(matches)} conversations; give more of it")
    try:
        conv = store.load(matches[0])
    except (CodecError, StoreError) as exc:
        err(sanitize(str(exc)))
        return EXIT_FAILED
    from llama_tui.export import to_json, to_markdown

    text = to_json(conv) if args.format == "json" else to_markdown(conv)
    sys.stdout.write(sanitize(text) if sys.stdout.isatty() else text)
    return EXIT_OK


def run_locate(args: argparse.Namespace) -> int:
    rows = [
        ("config", paths.config_file()),
        ("templates", paths.templates_file()),
        ("themes", paths.themes_dir()),
        ("conversations", paths.conversations_dir()),
        ("trash", paths.trash_dir()),
        ("log", paths.log_file()),
    ]
    for name, path in rows:
        print(f"{name + ':':15}{path}")
    return EXIT_OK
