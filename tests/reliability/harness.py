"""Helpers for the reliability tests: the real app in a real pty, a fake server that records
when it sent each byte, and config files.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path
from typing import Any

from tests.fakeserver import FakeServer

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-reliability-7f3a9c1e5b"


def child_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLAMA_TUI_", "TEXTUAL"))}
    env.update(LLAMA_TUI_HOME=str(home), TERM="xterm-256color", COLORTERM="truecolor",
               LANG="C.UTF-8", LC_ALL="C.UTF-8", **extra)
    return env


def write_config(home: Path, server: FakeServer | None, extra: str = "", mode: int = 0o600,
                 endpoint: str = "") -> Path:
    """config.toml with one endpoint `fake` (key KEY) at `server`, plus `extra` top-level
    lines and `endpoint` lines inside the endpoint table."""
    path = home / "config" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = extra + "\n"
    if server is not None:
        timeout = "" if "read_timeout" in endpoint else "read_timeout = 5\n"
        text = (f'default_endpoint = "fake"\n{extra}\n[endpoints.fake]\n'
                f'url = "{server.base_url}/v1"\nkey = "{KEY}"\n{timeout}{endpoint}\n')
    path.write_text(text, "utf-8")
    path.chmod(mode)
    return path


class RecordingServer(FakeServer):
    """The fake server, noting when each write went out (for "how far behind" measurements)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.writes: list[tuple[float, bytes]] = []

    async def _write(self, reader: Any, writer: Any, data: bytes) -> None:
        await super()._write(reader, writer, data)
        self.writes.append((time.monotonic(), data))

    def contents_sent(self) -> list[tuple[float, str]]:
        """(when, text) of every `delta.content` written so far, in order."""
        found = []
        for when, data in list(self.writes):
            for match in re.finditer(rb'"content":"((?:[^"\\]|\\.)*)"', data):
                found.append((when, match.group(1).decode()))
        return found


class PtyApp:
    """`python -m llama_tui ARGS` on a real pseudo-terminal. A thread drains the terminal the
    whole time (as a terminal emulator would), so the app never blocks writing to it."""

    def __init__(self, home: Path, *args: str, size: tuple[int, int] = (120, 36),
                 env: dict[str, str] | None = None) -> None:
        self.home, self.args, self.size = home, args, size
        self.env = env or child_env(home)
        self._chunks: list[bytes] = []
        self._lock = threading.Lock()
        self.proc: subprocess.Popen[bytes] | None = None
        #: What runs on the pty (the CLI, unless a test sets another command).
        self.command = [sys.executable, "-m", "llama_tui", *args]

    def start(self) -> PtyApp:
        master, slave = pty.openpty()
        cols, rows = self.size
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

        def controlling_terminal() -> None:
            # A session of its own with the pty as its terminal, as a shell in a terminal
            # emulator has: closing the terminal then sends SIGHUP, as it does for real.
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(
            self.command, stdin=slave, stdout=slave,
            stderr=slave, env=self.env, cwd=ROOT, preexec_fn=controlling_terminal,
        )
        os.close(slave)
        self.master = master
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        return self

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: every process holding the terminal is gone
                return
            if not data:
                return
            with self._lock:
                self._chunks.append(data)

    @property
    def output(self) -> bytes:
        with self._lock:
            return b"".join(self._chunks)

    def wait_for(self, needle: bytes, timeout: float = 15.0, start: int = 0) -> int:
        """Wait until `needle` is in the output (after byte `start`); returns its position."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            at = self.output.find(needle, start)
            if at >= 0:
                return at
            assert self.proc is not None
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(f"{needle!r} not shown; screen so far:\n{self.screen_text()}")

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        self.proc.wait(timeout=10)

    def quit(self, timeout: float = 10.0) -> int:
        """ctrl+q, then wait; a stuck app is killed (and the test says so)."""
        assert self.proc is not None
        self.send(b"\x11")
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("the app did not quit on ctrl+q") from None

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()
        self._reader.join(2)
        os.close(self.master)

    def screen_text(self) -> str:
        """What a VT100 emulator shows after all the output (pyte), for messages."""
        import pyte

        screen = pyte.Screen(*self.size)
        pyte.ByteStream(screen).feed(self.output)
        return "\n".join(line.rstrip() for line in screen.display)

    def __enter__(self) -> PtyApp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
