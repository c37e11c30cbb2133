"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakeserver import FakeServer


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
