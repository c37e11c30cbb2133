"""Nothing injected: model (and server) text cannot drive the terminal. The real app and the
real `ask` run on a pty; the test reads the raw bytes they wrote to it.

Textual itself writes CSI sequences and OSC 22 (pointer shape) and nothing else; so every ESC
in the output must start one of those, and the CSI payloads of the attack must not appear raw.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llama_tui.sanitize import sanitize
from tests.fakeserver import FakeServer, chat_stream, error_response, sse_events
from tests.reliability.harness import ROOT, PtyApp, child_env, write_config

#: Each attack carries a marker, so its raw form and its visible form can both be looked for.
ATTACK = [
    "Intro \x1b]52;c;Q0xJUEJPQVJECg==\x07 ",           # OSC 52: write the clipboard
    "\x1b]0;TITLE-ZERO\x07 \x1b]2;TITLE-TWO\x1b\\ ",    # OSC 0 / OSC 2: window title
    "\x1b]8;;http://evil.example/\x07HYPER\x1b]8;;\x07 ",  # OSC 8: a hidden hyperlink
    "\x1b[2J\x1b[31mCSI-RED\x1b[0m ",                    # CSI: clear screen, colours
    "\x9b31mC1-CSI \x9d0;C1-OSC\x9c ",                   # C1 CSI / OSC introducers
    "\x1bP+q544e\x1b\\ \x1b_APC\x1b\\ \x1bc ",           # DCS, APC, RIS (full reset)
    "\u202eDESREVER\u202c \u2066ISOLATE\u2069 ",          # bidi override and isolate
    "[bold red]MARKUP[/] ",                              # Rich markup: must show literally
    "\x07\x08\x0b\x0c\x7f END-OF-REPLY",
]
#: Raw forms that must never reach the terminal.
RAW = ["\x1b]52;", "\x1b]0;", "\x1b]2;", "\x1b]8;", "\x1b[2J", "\x1b[31mCSI-RED",
       "\x1bP", "\x1b_", "\x1bc", "\u202e", "\u202c", "\u2066", "\u2069"]
_ESCAPES = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\]22;|)")


def assert_terminal_safe(output: bytes) -> str:
    """The output as text, after checking that nothing in it but Textual's own sequences acts."""
    text = output.decode("utf-8")  # strict: a stray byte could be an 8-bit C1 control
    for match in _ESCAPES.finditer(text):
        assert match.group(1), f"unexpected escape: {text[match.start():match.start() + 20]!r}"
    for raw in RAW:
        assert raw not in text, f"{raw!r} reached the terminal"
    c1 = [hex(ord(c)) for c in text if 0x80 <= ord(c) <= 0x9F]
    assert not c1, f"C1 control characters reached the terminal: {c1}"
    return text


@pytest.fixture
def server() -> FakeServer:
    with FakeServer() as server:
        yield server


def test_reply_and_error_text_cannot_drive_the_terminal(isolated_home: Path,
                                                         server: FakeServer) -> None:
    server.enqueue(chat_stream(ATTACK, delay=0.01))
    message = "Denied \x1b]52;c;Q0xJUEJPQVJECg==\x07 \x1b]0;TITLE-ZERO\x07 ERR-MARK \u202eX"
    server.enqueue(error_response(500, {"error": {"message": message, "code": "\x1b[2J"}},
                                  headers={"x-request-id": "req-\x1b]0;TITLE-ZERO\x07"}))
    write_config(isolated_home, server, endpoint="max_retries = 0")
    with PtyApp(isolated_home, size=(140, 44)) as app:
        app.wait_for(b"New conversation")
        app.send(b"Hello\r")
        app.wait_for(b"tokens", start=app.wait_for(b"END-OF-REPLY"))  # the stats: finished
        app.send(b"again\r")
        app.wait_for(b"ERR-MARK")
        app.quit()
        text = assert_terminal_safe(app.output)
        screen = app.screen_text()
    assert "␛]52;c;Q0xJUEJPQVJE" in text  # shown, not acted on
    assert "CSI-RED" in text and "TITLE-ZERO" in text and "DESREVER" in text
    assert "[bold red]MARKUP[/]" in screen  # markup shown literally
    assert "ERR-MARK" in screen


def test_ask_on_a_terminal_cannot_be_driven_by_the_reply_or_the_error(
    isolated_home: Path, server: FakeServer
) -> None:
    """`ask` with stdout and stderr both on a terminal: the reply, then an error event in the
    stream (its message goes to stderr) are both made harmless."""
    import json

    chunks = [json.dumps({"choices": [{"index": 0, "delta": {"content": piece}}]})
              for piece in ATTACK]
    error = {"error": {"message": "boom \x1b]52;c;Q0xJUEJPQVJECg==\x07 \x1b]0;TITLE-ZERO\x07"}}
    server.enqueue(sse_events([f"data: {c}" for c in chunks] + [f"data: {json.dumps(error)}"]))
    with PtyApp(isolated_home, "ask", "--base-url", server.base_url + "/v1", "Hi",
                env=child_env(isolated_home)) as app:
        assert app.proc is not None
        code = app.proc.wait(timeout=30)
        app._reader.join(5)
        text = assert_terminal_safe(app.output)
    assert code == 1
    assert "\x1b" not in text  # ask writes no escape sequence of its own
    assert "END-OF-REPLY" in text and "boom ␛]52;c;" in text


@pytest.mark.parametrize("raw", [False, True])
def test_ask_into_a_pipe_is_clean_unless_raw_is_asked_for(isolated_home: Path,
                                                          server: FakeServer, raw: bool) -> None:
    """Not a terminal, but `ask | tee` or `| cat` hands the bytes to the next terminal: clean
    by default; `--raw` gives scripts the model's bytes as they are."""
    server.enqueue(chat_stream(ATTACK))
    done = subprocess.run([sys.executable, "-m", "llama_tui", "ask", "--base-url",
                           server.base_url + "/v1", *(["--raw"] if raw else []), "Hi"],
                          capture_output=True, cwd=ROOT, env=child_env(isolated_home), timeout=30)
    assert done.returncode == 0
    expected = "".join(ATTACK) if raw else sanitize("".join(ATTACK))
    assert done.stdout.decode("utf-8") == expected + "\n"


SEEDED = '''schema_version = 1
id = "01SEEDEDSEEDEDSEEDEDSEEDED"
title = "Imported \\u001b]0;TITLE-ZERO\\u0007 \\u001b]52;c;Q0xJUEJPQVJECg==\\u0007"
created_at = 2024-01-01T00:00:00Z
updated_at = 2024-01-01T00:00:00Z
system = "Sys \\u001b]52;c;Q0xJUEJPQVJECg==\\u0007"

[[messages]]
role = "user"
content = "USER-MARK \\u001b]52;c;Q0xJUEJPQVJECg==\\u0007 \\u001b[2J \\u202eX"

[[messages]]
role = "assistant"
content = "ASSISTANT-MARK \\u001b]0;TITLE-ZERO\\u0007 \\u009b31m"
finish_reason = "error"
error = "ERROR-MARK \\u001b]52;c;Q0xJUEJPQVJECg==\\u0007"
'''


def test_a_conversation_file_from_elsewhere_cannot_drive_the_terminal(
    isolated_home: Path, server: FakeServer
) -> None:
    """An imported or hand-written file is untrusted too: its text is shown, never obeyed."""
    folder = isolated_home / "data" / "conversations"
    folder.mkdir(parents=True)
    (folder / "01SEEDEDSEEDEDSEEDEDSEEDED.toml").write_text(SEEDED, "utf-8")
    write_config(isolated_home, server)
    with PtyApp(isolated_home, size=(140, 44)) as app:
        app.wait_for(b"New conversation")
        for key in (b"\x0c", b"\x1b[B", b"\r"):  # ctrl+l (the list), down, enter
            app.send(key)
            time.sleep(0.4)
        app.wait_for(b"ERROR-MARK", timeout=8)
        app.quit()
        assert_terminal_safe(app.output)
