"""Writing a prompt in the user's editor ($VISUAL, $EDITOR, else vi), as `git commit` does.

The text goes to a private temporary file, the editor runs on it in the foreground (the
caller hands it the terminal first), and what was saved comes back. No Textual here: the UI
suspends itself around `edit_text`.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path


class EditorError(Exception):
    """The editor could not be started or exited with an error (the text is unchanged)."""


def editor_command(environ: dict[str, str] | None = None) -> list[str]:
    """The editor to run, split like a shell would ("code --wait" is two words)."""
    env = os.environ if environ is None else environ
    for name in ("VISUAL", "EDITOR"):
        value = env.get(name, "").strip()
        if value:
            try:
                words = shlex.split(value)
            except ValueError as exc:
                raise EditorError(f"${name} cannot be read as a command: {exc}") from None
            if words:
                return words
    return ["vi"]


def edit_text(text: str) -> str:
    """Run the editor on `text` and return what it saved, without the one newline editors
    add at the end. Blocks until the editor exits; raises `EditorError` if it fails."""
    command = editor_command()
    # mkstemp: 0600, in the temp folder; a .md name so editors pick a sensible mode.
    fd, name = tempfile.mkstemp(prefix="llama-tui-prompt-", suffix=".md")
    path = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        try:
            done = subprocess.run([*command, str(path)], check=False)
        except OSError as exc:
            raise EditorError(f"cannot run {command[0]!r}: {exc.strerror or exc}") from None
        if done.returncode != 0:
            raise EditorError(f"{command[0]} exited with status {done.returncode}; "
                              "the prompt is unchanged")
        edited = path.read_text(encoding="utf-8", errors="replace")
    finally:
        path.unlink(missing_ok=True)
    return edited.removesuffix("\n")
