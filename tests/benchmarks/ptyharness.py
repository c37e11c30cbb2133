"""Run a program in a pseudo-terminal and watch it the way a user would.

The child gets a pty of a fixed size (120x36, TERM=xterm-256color, truecolor). A reader
thread drains the pty at once and stamps every read with `time.monotonic()`, so a slow
emulator never throttles the child. The main thread feeds the bytes, in order, to a `pyte`
screen and, after each read, checks the registered `Watch`es: the first time a watch's text
is on screen, it records the stamp of the read that put it there. A sampler thread reads the
child's CPU time (/proc/<pid>/stat utime+stime) and RSS (/proc/<pid>/status) every 10 ms.
The reader needs the GIL after each read while the main thread feeds pyte (milliseconds per
frame), so `start()` lowers this process's thread switch interval to 0.2 ms: with Python's
default 5 ms the reader drained a 13 KB frame in 4 KB pieces ~5 ms apart, the child's write
blocked meanwhile, and ~10 ms of the harness's own lag was counted against every target.

"Text on screen" is matched on letters and digits only (all else removed, lines of the chosen
columns joined), so wrapping, borders and Markdown styling (`**bold**` shown bold) do not
matter; a watch is a long enough run of the reply's last words to be unique.
"""

from __future__ import annotations

import bisect
import fcntl
import os
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pyte

COLS, ROWS = 120, 36
SWITCH_INTERVAL = 0.0002  # s: see the module docstring
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def squash(text: str) -> str:
    """Letters and digits only, lower-cased: the form every watch is matched in."""
    return "".join(c for c in text.lower() if c.isalnum())


@dataclass
class Watch:
    """Text to wait for, in a column range of the screen."""

    name: str
    text: str
    columns: tuple[int, int] = (0, COLS)
    seen_at: float | None = None

    def __post_init__(self) -> None:
        self.squashed = squash(self.text)
        if not self.squashed:
            raise ValueError(f"watch {self.name!r} has no letters or digits")


@dataclass
class Sample:
    at: float
    cpu: float  # seconds of CPU (user + system) since the child started
    rss_kb: int


@dataclass
class PtyRun:
    """One child in a pty. Use `start()`, `wait_for(...)`, `type(...)`, then `stop()`."""

    argv: list[str]
    env: dict[str, str]
    cwd: str | None = None
    cols: int = COLS
    rows: int = ROWS
    reads: list[tuple[float, int]] = field(default_factory=list)  # (stamp, cumulative bytes)
    samples: list[Sample] = field(default_factory=list)
    watches: list[Watch] = field(default_factory=list)
    spawned_at: float = 0.0

    def start(self) -> PtyRun:
        sys.setswitchinterval(SWITCH_INTERVAL)
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", self.rows, self.cols, 0, 0))
        env = {**self.env, "TERM": "xterm-256color", "COLORTERM": "truecolor",
               "LANG": self.env.get("LANG", "C.UTF-8"), "COLUMNS": str(self.cols),
               "LINES": str(self.rows)}

        def controlling_tty() -> None:  # runs in the child, before exec
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.spawned_at = time.monotonic()
        self.proc = subprocess.Popen(self.argv, stdin=slave, stdout=slave, stderr=slave,
                                     env=env, cwd=self.cwd, close_fds=True,
                                     preexec_fn=controlling_tty)
        os.close(slave)
        self.master = master
        self.screen = pyte.Screen(self.cols, self.rows)
        self.screen.write_process_input = self._answer  # type: ignore[method-assign]
        self.stream = pyte.ByteStream(self.screen)
        self._chunks: list[tuple[float, bytes]] = []
        self._fed = 0
        self._total = 0
        self._cond = threading.Condition()
        self._done = threading.Event()
        self._cells: list[list[str]] = [[" "] * self.cols for _ in range(self.rows)]
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._sample, daemon=True).start()
        return self

    # -- threads ----------------------------------------------------------------------------

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 1 << 16)
            except OSError:
                data = b""
            now = time.monotonic()
            with self._cond:
                if data:
                    self._total += len(data)
                    self.reads.append((now, self._total))
                    self._chunks.append((now, data))
                else:
                    self._done.set()
                self._cond.notify_all()
            if not data:
                return

    def _sample(self) -> None:
        pid = self.proc.pid
        while not self._done.is_set():
            sample = read_proc(pid)
            if sample is None:
                return
            self.samples.append(sample)
            time.sleep(0.01)

    def _answer(self, data: str) -> None:
        """Reply to terminal queries pyte understands (device attributes, cursor position)."""
        try:
            os.write(self.master, data.encode())
        except OSError:
            pass

    # -- screen -----------------------------------------------------------------------------

    def pump(self, timeout: float) -> bool:
        """Feed pending bytes to the screen and check watches; False once the child is gone."""
        with self._cond:
            if self._fed >= len(self._chunks) and not self._done.is_set():
                self._cond.wait(timeout)
            pending = self._chunks[self._fed :]
            self._fed = len(self._chunks)
            done = self._done.is_set()
        for stamp, data in pending:
            self.stream.feed(data)
            self._check(stamp)
        return not (done and self._fed >= len(self._chunks))

    def _check(self, stamp: float) -> None:
        open_watches = [w for w in self.watches if w.seen_at is None]
        if not open_watches:
            self.screen.dirty.clear()
            return
        buffer = self.screen.buffer
        for y in self.screen.dirty:
            if 0 <= y < self.rows:
                line = buffer[y]
                self._cells[y] = [line[x].data for x in range(self.cols)]
        self.screen.dirty.clear()
        for watch in open_watches:
            x0, x1 = watch.columns
            text = squash("".join("".join(cells[x0:x1]) for cells in self._cells))
            if watch.squashed in text:
                watch.seen_at = stamp

    def watch(self, name: str, text: str, columns: tuple[int, int] = (0, COLS)) -> Watch:
        w = Watch(name, text, columns)
        self.watches.append(w)
        return w

    def wait_for(self, *watches: Watch, timeout: float) -> bool:
        """Pump until all `watches` were seen; False on timeout or when the child ended."""
        deadline = time.monotonic() + timeout
        while any(w.seen_at is None for w in watches):
            left = deadline - time.monotonic()
            if left <= 0 or not self.pump(min(left, 0.05)):
                return all(w.seen_at is not None for w in watches)
        return True

    def settle(self, quiet: float, limit: float) -> float:
        """Pump until no output for `quiet` seconds (at most `limit`); the last output stamp."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            self.pump(0.02)
            last = self.reads[-1][0] if self.reads else self.spawned_at
            if time.monotonic() - last >= quiet:
                break
        return self.reads[-1][0] if self.reads else self.spawned_at

    def text(self) -> str:
        return "\n".join(self.screen.display)

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    # -- measures ---------------------------------------------------------------------------

    def bytes_between(self, start: float, end: float) -> int:
        """Bytes the child wrote to the terminal between two stamps."""
        stamps = [r[0] for r in self.reads]
        i = bisect.bisect_left(stamps, start)
        j = bisect.bisect_right(stamps, end)
        before = self.reads[i - 1][1] if i > 0 else 0
        upto = self.reads[j - 1][1] if j > 0 else 0
        return max(0, upto - before)

    def cpu_at(self, at: float) -> float:
        """The child's CPU seconds at time `at` (linear between 10 ms samples)."""
        return _interpolate(self.samples, at, lambda s: s.cpu)

    def rss_at(self, at: float) -> int:
        return int(_interpolate(self.samples, at, lambda s: s.rss_kb))

    def peak_rss_kb(self) -> int:
        return max((s.rss_kb for s in self.samples), default=0)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=10)
        self._done.wait(2)
        try:
            os.close(self.master)
        except OSError:
            pass


def _interpolate(samples: list[Sample], at: float, value: Callable[[Sample], float]) -> float:
    if not samples:
        return 0.0
    stamps = [s.at for s in samples]
    i = bisect.bisect_left(stamps, at)
    if i <= 0:
        return value(samples[0])
    if i >= len(samples):
        return value(samples[-1])
    a, b = samples[i - 1], samples[i]
    f = (at - a.at) / (b.at - a.at) if b.at > a.at else 0.0
    return value(a) + f * (value(b) - value(a))


def read_proc(pid: int) -> Sample | None:
    """CPU seconds and RSS of `pid` now, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        with open(f"/proc/{pid}/statm", "rb") as f:
            statm = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(b")") + 2 :].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
    rss_kb = int(statm.split()[1]) * PAGE_KB
    return Sample(time.monotonic(), cpu, rss_kb)
