"""Endpoint keys: from the config (`key`), a variable (`key_env`) or a command (`key_cmd`).

A key command (`pass show …`, `op read …`) may prompt, hang or fail, so the TUI never runs one
on its own thread: `KeyResolver` runs each once per session in a thread, with a timeout, stdin
closed and in a session of its own (no terminal to prompt on; the whole process group is
killed on timeout). Its result, a key or a failure, is kept until the user retries (a settings
save, Test connection), so a failing command is never re-run by a timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable
from concurrent.futures import Future

from llama_tui.config import ConfigError
from llama_tui.model import Endpoint
from llama_tui.redact import remember_secrets

#: How long a key command may run before it is killed (a passphrase prompt nobody answers).
KEY_CMD_TIMEOUT = 30.0
RESOLVING = "key: resolving…"


class KeyPending(ConfigError):
    """The endpoint's key command is still running."""


def run_key_cmd(command: str, timeout: float = KEY_CMD_TIMEOUT,
                started: Callable[[subprocess.Popen[str]], None] | None = None) -> str:
    """Run a key command and return what it printed (stripped). Its output is never logged or
    shown, only its exit status. Raises `ValueError` in words."""
    try:
        process = subprocess.Popen(command, shell=True, text=True, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
    except OSError as exc:
        raise ValueError(f"could not run the key command: {exc.strerror}") from None
    if started:
        started(process)
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(process)
        process.communicate()
        raise ValueError(f"the key command did not finish in {timeout:g} s and was stopped") from None
    key = out.strip()
    if process.returncode != 0 or not key:
        # Never echo the command's output: it may be (part of) a secret.
        raise ValueError(f"the key command exited with {process.returncode} and printed no key")
    return key


def kill_group(process: subprocess.Popen[str]) -> None:
    """Kill the command and everything it started (a shell's children hold the pipe open)."""
    with contextlib.suppress(OSError):
        os.killpg(process.pid, signal.SIGKILL)


def resolve_key(endpoint: Endpoint, timeout: float = KEY_CMD_TIMEOUT,
                started: Callable[[subprocess.Popen[str]], None] | None = None) -> Endpoint:
    """The endpoint with its key filled in from `key_env` or `key_cmd` when not literal.
    Blocks while a key command runs: the TUI goes through `KeyResolver` instead."""
    if endpoint.api_key or not (endpoint.key_env or endpoint.key_cmd):
        return remember_secrets(endpoint)
    if endpoint.key_env:
        key = os.environ.get(endpoint.key_env)
        if not key or not key.strip():
            raise ConfigError(None, f"endpoints.{endpoint.name}.key_env",
                              f"the variable {endpoint.key_env} is not set")
        return remember_secrets(endpoint.with_key(key.strip()))  # a newline: an illegal header
    assert endpoint.key_cmd
    try:
        key = run_key_cmd(endpoint.key_cmd, timeout, started)
    except ValueError as exc:
        raise ConfigError(None, f"endpoints.{endpoint.name}.key_cmd", str(exc)) from None
    return remember_secrets(endpoint.with_key(key))


_Ident = tuple[str, str, str]
#: A finished resolution: the endpoint with its key, or the failure in words.
_Outcome = tuple[Endpoint | None, str]


class KeyResolver:
    """Resolves keys off the caller's thread, once per session per endpoint.

    `get` never blocks: it returns the endpoint with its key, or raises `KeyPending` (the
    command runs, started now if it was not) or `ConfigError` (it failed; kept until `retry`).
    `on_done(name)` is called from the worker thread when a command finishes.
    """

    def __init__(self, on_done: Callable[[str], None] | None = None,
                 timeout: float = KEY_CMD_TIMEOUT) -> None:
        self.on_done = on_done
        self.timeout = timeout
        self._lock = threading.Lock()
        self._jobs: dict[_Ident, Future[_Outcome]] = {}
        self._running: set[subprocess.Popen[str]] = set()

    @staticmethod
    def _ident(endpoint: Endpoint) -> _Ident:
        return (endpoint.name, endpoint.url, endpoint.key_cmd or "")

    @staticmethod
    def _needs_command(endpoint: Endpoint) -> bool:
        return bool(endpoint.key_cmd and not endpoint.api_key and not endpoint.key_env)

    def get(self, endpoint: Endpoint) -> Endpoint:
        if not self._needs_command(endpoint):
            return resolve_key(endpoint)  # literal or a variable: nothing runs
        job = self._start(endpoint)
        if not job.done():
            raise KeyPending(None, f"endpoints.{endpoint.name}.key_cmd",
                             "the key command is still running", "try again in a moment")
        resolved, problem = job.result()
        if resolved is None:
            # A fresh error each time: re-raising one object would grow its traceback.
            raise ConfigError(None, f"endpoints.{endpoint.name}.key_cmd", problem,
                              "fix it in settings (F2); Save or Test connection runs it again")
        return resolved

    def status(self, endpoint: Endpoint) -> str | None:
        """For the status line, without running anything: resolving, failed, or None."""
        if not self._needs_command(endpoint):
            if endpoint.key_env and not endpoint.api_key \
                    and not os.environ.get(endpoint.key_env, "").strip():
                return f"key: {endpoint.key_env} is not set"
            return None
        with self._lock:
            job = self._jobs.get(self._ident(endpoint))
        if job is None or not job.done():
            return RESOLVING
        resolved, problem = job.result()
        return None if resolved is not None else f"key command failed: {problem}"

    async def wait(self, endpoint: Endpoint) -> Endpoint:
        """The endpoint with its key, waiting (without blocking the loop) for the command."""
        if self._needs_command(endpoint):
            await asyncio.wrap_future(self._start(endpoint))
        return self.get(endpoint)

    def retry(self, name: str | None = None) -> None:
        """Forget failed results (of one endpoint, or all) so the next use runs them again."""
        with self._lock:
            for ident, job in list(self._jobs.items()):
                if (name is None or ident[0] == name) and job.done() and job.result()[0] is None:
                    del self._jobs[ident]

    def forget(self) -> None:
        """Forget every result (settings changed). Commands still running finish unheard."""
        with self._lock:
            self._jobs.clear()

    def close(self) -> None:
        """Kill the commands still running (the app is quitting)."""
        with self._lock:
            running = list(self._running)
        for process in running:
            kill_group(process)

    def _start(self, endpoint: Endpoint) -> Future[_Outcome]:
        ident = self._ident(endpoint)
        with self._lock:
            job = self._jobs.get(ident)
            if job is None:
                job = self._jobs[ident] = Future()
                threading.Thread(target=self._run, args=(endpoint, job), daemon=True,
                                 name=f"key-cmd-{endpoint.name}").start()
        return job

    def _run(self, endpoint: Endpoint, job: Future[_Outcome]) -> None:
        def track(process: subprocess.Popen[str]) -> None:
            with self._lock:
                self._running.add(process)
                tracked.append(process)

        tracked: list[subprocess.Popen[str]] = []
        try:
            outcome: _Outcome = (resolve_key(endpoint, self.timeout, track), "")
        except ConfigError as exc:
            outcome = (None, exc.problem)
        except Exception as exc:  # a thread must report, never die silently
            outcome = (None, f"could not run the key command: {type(exc).__name__}")
        with self._lock:
            self._running.difference_update(tracked)
        job.set_result(outcome)
        if self.on_done:
            self.on_done(endpoint.name)
