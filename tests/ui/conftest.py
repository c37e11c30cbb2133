"""Fixtures for driving the real app with Pilot against the fake server."""

from __future__ import annotations

import time
import tomllib
from pathlib import Path
from typing import Any

import pytest

from llama_tui import paths
from llama_tui.ui.app import LlamaApp, make_app
from llama_tui.ui.screens.main import MainScreen
from tests.fakeserver import FakeServer

SIZE = (120, 36)


def write_config(server: FakeServer | None, extra: str = "") -> Path:
    path = paths.config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    text = ""
    if server is not None:
        text = (
            'default_endpoint = "fake"\n'
            f"{extra}\n"
            "[endpoints.fake]\n"
            f'url = "{server.base_url}/v1"\n'
            'key = "sk-test-secret-key-1234"\n'
            "read_timeout = 5\n"
        )
    path.write_text(text)
    path.chmod(0o600)
    return path


def conversation_files() -> list[Path]:
    return sorted(paths.conversations_dir().glob("*.toml"))


def load_toml(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text("utf-8"))


def only_conversation() -> dict[str, Any]:
    files = conversation_files()
    assert len(files) == 1, files
    return load_toml(files[0])


async def wait_for(pilot: Any, condition: Any, timeout: float = 15.0) -> None:
    """Let the app run until `condition()` is true (no fixed sleeps). The timeout only says
    when to give up: generous, for a CI machine whose two cores are busy."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.02)


async def wait_replies(pilot: Any) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: not app.services.engine.replies, timeout=30)
    await wait_for(pilot, lambda: not app.screen.query(".-streaming"))  # restyled
    await pilot.pause()


def parts_streamed(app: LlamaApp) -> int:
    """How many pieces the first reply in flight has received (0: none in flight)."""
    replies = app.services.engine.replies
    return len(replies[0].parts) if replies else 0


def main(app: LlamaApp) -> MainScreen:
    screen = next(s for s in app.screen_stack if isinstance(s, MainScreen))
    return screen


@pytest.fixture
def app_factory(fake_server: FakeServer):
    def factory(*, configure: bool = True, extra: str = "") -> LlamaApp:
        if configure:
            write_config(fake_server, extra)
        return make_app(probe_servers=())

    return factory


async def type_and_send(pilot: Any, text: str) -> None:
    """Put `text` in the prompt as if typed (or pasted) and press Enter."""
    prompt = main(pilot.app).query_one("#prompt")
    prompt.focus()
    prompt.load_text(text)
    await pilot.press("enter")
