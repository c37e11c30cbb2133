"""Every way outside text reaches the screen, walked with hostile text; raw pty bytes checked.

Paths other than the reply itself: a file name in the "Skipped" notice, a stored title in the
list and the rename dialog, stored messages in the copy-code picker and edit & resend, the
error body and response headers in the notification and the request inspector (F5), model ids
in the first-run dialog. Each screen is reached by keys, as a user would, and each step waits
for its own marker to be drawn. What must hold: nothing but Textual's own sequences acts
(`assert_terminal_safe`), whichever widget drew the text (`ui.terminal_guard`).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from tests.fakeserver import FakeServer, error_response
from tests.fakeserver.scripts import Response, Send
from tests.reliability.harness import PtyApp, child_env, write_config
from tests.reliability.test_injection_pty import assert_terminal_safe

OSC = "\x1b]0;PWNED\x07\x1b]52;c;Q0xJUEJPQVJECg==\x07\x1b[2J\u202e\x9b31m"

REPLY = f"REPLY-MARK\n\n```\nCODE-ONE {OSC}\n```\n\n```\nCODE-TWO\n```"
SEEDED = f'''schema_version = 1
id = "01SEEDEDSEEDEDSEEDEDSEEDED"
title = {json.dumps("TITLE-MARK " + OSC)}
created_at = 2024-01-01T00:00:00Z
updated_at = 2024-01-01T00:00:00Z

[[messages]]
role = "user"
content = {json.dumps("USER-MARK " + OSC)}

[[messages]]
role = "assistant"
content = {json.dumps(REPLY)}
finish_reason = "stop"
'''


def shows(app: PtyApp, text: str, present: bool = True, timeout: float = 10.0) -> None:
    """Wait until the screen (as a terminal emulator shows it) has `text`, or no longer has it."""
    deadline = time.monotonic() + timeout
    while (text in app.screen_text()) != present:
        assert time.monotonic() < deadline, f"{text!r} present={not present}:\n{app.screen_text()}"
        time.sleep(0.05)


def keys(app: PtyApp, data: bytes, then: str | None = None) -> None:
    """Type `data`, wait for `then` on screen (when given) and for the app to settle."""
    app.send(data)
    if then is not None:
        shows(app, then)
    quiet(app)


def close(app: PtyApp, dialog: str) -> None:
    """Escape, then wait until `dialog` is no longer on screen and the app has settled (focus
    goes back to where it was a moment after the dialog is gone: keys typed in that moment
    land where focus was; a laggy-link issue of its own, not this test's)."""
    app.send(b"\x1b")
    shows(app, dialog, present=False)
    quiet(app)


def quiet(app: PtyApp, for_s: float = 0.3, timeout: float = 10.0) -> None:
    """Until the app has written nothing for `for_s` seconds."""
    deadline = time.monotonic() + timeout
    size, since = len(app.output), time.monotonic()
    while time.monotonic() - since < for_s:
        assert time.monotonic() < deadline, "the app kept drawing"
        time.sleep(0.02)
        if len(app.output) != size:
            size, since = len(app.output), time.monotonic()


def test_stored_text_file_names_errors_and_headers_cannot_drive_the_terminal(
    isolated_home: Path, fake_server: FakeServer,
) -> None:
    folder = isolated_home / "data" / "conversations"
    folder.mkdir(parents=True)
    (folder / "01SEEDEDSEEDEDSEEDEDSEEDED.toml").write_text(SEEDED, "utf-8")
    (folder / f"FILE-MARK {OSC}.toml").write_text("not = [valid", "utf-8")
    fake_server.enqueue(error_response(
        500, {"error": {"message": "BODY-MARK " + OSC}},
        headers={"x-request-id": "HDR-MARK \x1b]0;PWNED\x07", "x-evil": "EVIL-MARK \x1b[2J"}))
    write_config(isolated_home, fake_server, endpoint="max_retries = 0")
    with PtyApp(isolated_home, size=(140, 44)) as app:
        shows(app, "FILE-MARK")  # the "Skipped" notice names the file
        shows(app, "TITLE-MARK")  # the list shows the stored title
        keys(app, b"hello\r", "BODY-MARK")  # the error, in the reply and a notification
        keys(app, b"\x1b[15~", "HDR-MARK")  # F5: the inspector, headers and body
        close(app, "Request inspector")
        keys(app, b"\x0c")  # ctrl+l, down to the rows, down to the stored one, Enter
        keys(app, b"\x1b[B")
        keys(app, b"\x1b[B")
        keys(app, b"\r", "REPLY-MARK")
        keys(app, b"\x1b[1;5A", "Regenerate")  # ctrl+up: the last message has focus
        keys(app, b"y", "Which code block?")  # the copy-code picker
        shows(app, "CODE-ONE")
        close(app, "Which code block?")
        keys(app, b"k", "e Edit")  # up to the user message
        keys(app, b"e", "Edit and resend (in a fork")  # shows the stored text
        shows(app, "USER-MARK")
        close(app, "Edit and resend (in a fork")
        keys(app, b"\x0c")  # back to the rows
        keys(app, b"\x1b[B")
        keys(app, b"r", "Rename conversation")
        assert app.quit() == 0
        text = assert_terminal_safe(app.output)
    assert "PWNED" in text  # shown (as harmless text), not obeyed


LAUNCH = """
import sys
from llama_tui.ui.app import make_app
sys.exit(make_app(probe_servers=(("llama.cpp", sys.argv[1]),)).run() or 0)
"""


def test_model_ids_in_the_first_run_dialog_cannot_drive_the_terminal(
    isolated_home: Path, fake_server: FakeServer,
) -> None:
    """Any local user can listen on :8080 and answer the first run's probe."""
    body = {"object": "list", "data": [{"id": "MODEL-MARK " + OSC, "object": "model"}]}
    fake_server.route("GET", "/v1/models",
                      Response(200, {"content-type": "application/json"},
                               [Send(json.dumps(body).encode())], chunked=False))
    launcher = isolated_home / "launch.py"
    isolated_home.mkdir(parents=True, exist_ok=True)
    launcher.write_text(LAUNCH, "utf-8")
    app = PtyApp(isolated_home, size=(120, 36), env=child_env(isolated_home))
    app.command = [sys.executable, str(launcher), f"{fake_server.base_url}/v1"]
    with app:
        shows(app, "MODEL-MARK")
        assert app.quit() == 0
        assert_terminal_safe(app.output)
