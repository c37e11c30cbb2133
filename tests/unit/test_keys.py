"""Key commands run with real processes: off the caller's thread, once, with a timeout that
kills the whole command, stdin closed, and a failure kept until the user retries."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from llama_tui.config import ConfigError
from llama_tui.keys import RESOLVING, KeyPending, KeyResolver, resolve_key
from llama_tui.model import Endpoint


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def endpoint(cmd: str, name: str = "a") -> Endpoint:
    return Endpoint(name, "http://a.example", key_cmd=cmd)


def runs(counter: Path) -> int:
    return len(counter.read_text().splitlines()) if counter.exists() else 0


def test_a_slow_command_never_blocks_the_caller(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    resolver = KeyResolver()
    ep = endpoint(f"while [ ! -e {gate} ]; do sleep 0.02; done; echo sk-slow")
    started = time.monotonic()
    with pytest.raises(KeyPending):
        resolver.get(ep)
    assert time.monotonic() - started < 1.0
    assert resolver.status(ep) == RESOLVING
    gate.touch()
    wait_until(lambda: resolver.status(ep) is None)
    assert resolver.get(ep).api_key == "sk-slow"


def test_a_failing_command_runs_once_until_retried(tmp_path: Path) -> None:
    counter = tmp_path / "runs"
    done = threading.Event()
    resolver = KeyResolver(on_done=lambda name: done.set())
    ep = endpoint(f"echo run >> {counter}; echo hunter2-partial; exit 3")
    with pytest.raises(KeyPending):
        resolver.get(ep)
    assert done.wait(10)
    for _ in range(50):  # the status line asks every half second: nothing runs again
        with pytest.raises(ConfigError) as info:
            resolver.get(ep)
        assert not isinstance(info.value, KeyPending)
    status = resolver.status(ep)
    assert status is not None and status.startswith("key command failed: ")
    assert "exited with 3" in status and "hunter2" not in status + str(info.value)
    assert runs(counter) == 1
    resolver.retry("a")
    done.clear()
    with pytest.raises(KeyPending):
        resolver.get(ep)
    assert done.wait(10)
    assert runs(counter) == 2


def test_a_good_key_is_kept_for_the_session(tmp_path: Path) -> None:
    counter = tmp_path / "runs"
    resolver = KeyResolver()
    ep = endpoint(f"echo run >> {counter}; echo sk-good")
    assert asyncio.run(resolver.wait(ep)).api_key == "sk-good"
    for _ in range(10):
        assert resolver.get(ep).api_key == "sk-good"
    resolver.retry()  # forgets failures only
    assert resolver.get(ep).api_key == "sk-good"
    assert runs(counter) == 1
    resolver.forget()  # settings saved: run again on next use
    assert asyncio.run(resolver.wait(ep)).api_key == "sk-good"
    assert runs(counter) == 2


def test_a_hanging_command_is_killed_with_its_children(tmp_path: Path) -> None:
    pid_file = tmp_path / "child"
    # The shell forks `sleep`, which holds the output pipe: killing only the shell would
    # leave the read waiting for the sleep to end.
    cmd = f"sleep 100 & echo $! > {pid_file}; wait"
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"did not finish in 0\.5 s"):
        resolve_key(endpoint(cmd), timeout=0.5)
    assert time.monotonic() - started < 5
    pid = int(pid_file.read_text())
    wait_until(lambda: not _alive(pid))


def test_close_kills_a_running_command(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    resolver = KeyResolver()
    ep = endpoint(f"echo $$ > {pid_file}; exec sleep 100")
    with pytest.raises(KeyPending):
        resolver.get(ep)
    wait_until(lambda: pid_file.exists() and pid_file.read_text().strip() != "")
    resolver.close()
    wait_until(lambda: resolver.status(ep) != RESOLVING)
    assert "key command failed" in (resolver.status(ep) or "")


def test_stdin_is_not_the_terminal(tmp_path: Path) -> None:
    # A command that reads a passphrase gets end-of-file at once instead of waiting.
    with pytest.raises(ConfigError, match="exited with 1"):
        resolve_key(endpoint("read secret || exit 1; echo $secret"), timeout=5)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_status_of_a_missing_key_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOT_SET_HERE", raising=False)
    ep = Endpoint("a", "http://a.example", key_env="NOT_SET_HERE")
    assert KeyResolver().status(ep) == "key: NOT_SET_HERE is not set"
    monkeypatch.setenv("NOT_SET_HERE", "sk-env")
    assert KeyResolver().status(ep) is None
