"""Shared pytest fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.fakeserver import FakeServer

# The suite tries the same generated examples on every run ("repeatable"), so it passes or
# fails the same way on any machine; `HYPOTHESIS_PROFILE=explore pytest -m fuzz` looks for
# new failures with fresh random examples (turn each one found into a plain test).
settings.register_profile("repeatable", derandomize=True, database=None)
settings.register_profile("explore", max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Keep the developer's own config, history and environment out of every test."""
    home = tmp_path / "llama-tui-home"
    monkeypatch.setenv("LLAMA_TUI_HOME", str(home))
    for name in ("LLAMA_TUI_BASE_URL", "LLAMA_TUI_API_KEY", "LLAMA_TUI_AUTH", "LLAMA_TUI_MODEL"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    """A started scripted fake OpenAI server on a real socket, stopped afterwards."""
    with FakeServer() as server:
        yield server


#: Files whose tests run the real program on a pseudo-terminal.
_PTY = {"test_kill9.py", "test_injection_pty.py", "test_display_paths.py", "test_exit_paths.py",
        "test_links.py"}
#: Files of the fast subset outside tests/unit: the client against a real socket.
_FAST_NETWORK = {"test_client_socket.py", "test_client_wire.py", "test_hostile_server.py"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Markers by where a test lives (`pytest -m "not slow"` is the fast subset, well under a
    minute: unit tests and the client over a socket). slow: the app through Pilot, real
    processes, pseudo-terminals, fuzzing; pty: the program on a pseudo-terminal; fuzz:
    hypothesis with many examples."""
    for item in items:
        path = Path(str(item.fspath))
        folder, name = path.parent.name, path.name
        if name.startswith("test_fuzz_"):
            item.add_marker(pytest.mark.fuzz)
        if name in _PTY:
            item.add_marker(pytest.mark.pty)
        fast = folder == "unit" or (folder == "network" and name in _FAST_NETWORK)
        if not fast or name.startswith("test_fuzz_"):
            item.add_marker(pytest.mark.slow)
