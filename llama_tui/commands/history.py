"""`llama-tui list`, `export` and `locate`: the saved history from the command line."""

from __future__ import annotations

import argparse
import sys

from llama_tui import paths
from llama_tui.cli import EXIT_FAILED, EXIT_OK, UsageError, err
from llama_tui.sanitize import sanitize


def run_list(args: argparse.Namespace) -> int:
    from llama_tui.storage.store import ConversationStore

    summaries, problems = ConversationStore().scan()
    out = sys.stdout
    safe = out.isatty()
    lines = []
    for s in summaries:
        title = " ".join(s.title.split())
        lines.append(f"{s.id}\t{s.updated_at:%Y-%m-%d %H:%M}\t{sanitize(title) if safe else title}")
    out.write("\n".join(lines) + ("\n" if lines else ""))
    out.flush()
    for problem in problems:
        err(f"skipped {problem}")
    return EXIT_OK


def run_export(args: argparse.Namespace) -> int:
    from llama_tui.storage.codec import CodecError
    from llama_tui.storage.store import ConversationStore, StoreError

    store = ConversationStore()
    summaries, _ = store.scan()
    matches = [s.id for s in summaries if s.id == args.id] or \
        [s.id for s in summaries if s.id.startswith(args.id.upper())]
    if len(matches) != 1:
        raise UsageError(f"no conversation with id {args.id!r}" if not matches
                         else f"{args.id!r} matches {len(matches)} conversations; give more of it")
    try:
        conv = store.load(matches[0])
    except (CodecError, StoreError) as exc:
        err(str(exc))
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
