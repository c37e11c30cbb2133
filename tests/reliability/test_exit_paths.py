"""Nothing lost on any way out: the real app and `ask` as processes, a reply stalled mid-way.

The server sends four words and goes quiet (a stalled stream, the case that lost everything
before). Then the process is ended the ways users end it: kill -9, SIGHUP (an SSH link
dropping), SIGTERM, ctrl+q, the terminal closing. Each time the file on disk holds the words,
marked `interrupted`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llama_tui.storage.store import ConversationStore
from tests.fakeserver import FakeServer, chat_stream, stall_after
from tests.reliability.harness import ROOT, PtyApp, child_env, write_config

PIECES = ["Four ", "words ", "then ", "silence"]
WORDS = "".join(PIECES)


def saved_reply() -> tuple[str, str | None]:
    store = ConversationStore()
    summaries, problems = store.scan()
    assert problems == [] and len(summaries) == 1, (summaries, problems)
    reply = store.load(summaries[0].id).messages[-1]
    return reply.content, reply.finish_reason


def wait_until(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def _reply_on_disk() -> bool:
    try:
        return saved_reply()[0] == WORDS
    except (AssertionError, Exception):
        return False


@pytest.mark.parametrize("how", ["kill -9", "SIGHUP", "SIGTERM", "ctrl+q", "terminal closed"])
def test_a_stalled_reply_survives_every_way_out_of_the_app(
    isolated_home: Path, fake_server: FakeServer, how: str,
) -> None:
    fake_server.enqueue(stall_after(PIECES, 60))
    write_config(isolated_home, fake_server, endpoint="read_timeout = 120")
    with PtyApp(isolated_home) as app:
        app.wait_for(b"New conversation")
        app.send(b"Say four words\r")
        app.wait_for(b"silence")  # all four words are on screen; the server is quiet now
        assert app.proc is not None
        if how == "kill -9":
            # Only the checkpoint can save this one: it must come while nothing arrives.
            wait_until(_reply_on_disk, timeout=5)
            app.kill(signal.SIGKILL)
        elif how == "ctrl+q":
            assert app.quit() == 0
        elif how == "terminal closed":
            os.close(app.master)
            app.master = os.open(os.devnull, os.O_RDWR)  # for close()
            app.proc.wait(timeout=10)
        else:
            sig = signal.SIGHUP if how == "SIGHUP" else signal.SIGTERM
            app.proc.send_signal(sig)
            code = app.proc.wait(timeout=10)
            assert code == 128 + sig, app.screen_text()
    assert saved_reply() == (WORDS, "interrupted")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_ask_save_keeps_a_stalled_reply_whatever_signal_ends_it(
    isolated_home: Path, fake_server: FakeServer, sig: int,
) -> None:
    fake_server.enqueue(stall_after(PIECES, 60))
    env = child_env(isolated_home)
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_tui", "ask", "--save", "--timeout", "120",
         "--base-url", f"{fake_server.base_url}/v1", "Say four words"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        printed = b""
        while not printed.endswith(b"silence"):
            chunk = os.read(proc.stdout.fileno(), 100)
            assert chunk, "ask ended before printing the words"
            printed += chunk
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + sig, err
    assert (printed + out).decode() == WORDS + "\n"
    assert b"saved to conversation" in err
    expected = "cancelled" if sig == signal.SIGINT else "interrupted"
    assert saved_reply() == (WORDS, expected)


def test_ask_save_keeps_the_reply_when_its_reader_goes_away(
    isolated_home: Path, fake_server: FakeServer,
) -> None:
    """`ask --save ... | head -c 5`: stdout closes mid-reply; the reply is stopped and kept."""
    pieces = [f"w{i:03d} " for i in range(300)]
    fake_server.enqueue(chat_stream(pieces, delay=0.02))
    command = (f"{sys.executable} -m llama_tui ask --save --timeout 120 "
               f"--base-url {fake_server.base_url}/v1 'Say four words' | head -c 5")
    done = subprocess.run(["sh", "-c", command], capture_output=True, env=child_env(isolated_home),
                          cwd=ROOT, timeout=30)
    assert done.stdout == b"w000 "
    assert b"Traceback" not in done.stderr and b"saved to conversation" in done.stderr
    content, reason = saved_reply()
    assert reason == "interrupted"
    assert "".join(pieces).startswith(content) and len(content) < len("".join(pieces))
