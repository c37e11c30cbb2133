"""What every command shares: exit codes (docs/design.md §5), the usage error, stderr lines.

Its own module so that the commands and `cli` (which dispatches to them) do not import each
other.
"""

from __future__ import annotations

import os
import sys

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_FILTERED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class UsageError(Exception):
    """A mistake in how the command was called or configured (exit 2)."""


def err(message: str) -> None:
    print(f"llama-tui: {message}", file=sys.stderr, flush=True)


def silence_stdout() -> None:
    """Point stdout at /dev/null (its reader went away) so the interpreter's last flush does
    not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
