"""First run (env endpoint, local probe, settings with help) and the settings screen."""

from __future__ import annotations

import stat
import tomllib

from textual.widgets import Button, Input, OptionList, Select, Static

from llama_tui import paths
from llama_tui.ui.app import make_app
from llama_tui.ui.screens.first_run import FoundServerScreen
from llama_tui.ui.screens.settings import SettingsScreen
from llama_tui.ui.widgets.message_view import AssistantMessage
from tests.fakeserver import azure_content_filter_400, chat_stream
from tests.ui.conftest import SIZE, main, only_conversation, type_and_send, wait_for, wait_replies


async def test_first_run_without_anything_opens_settings_with_help():
    app = make_app(probe_servers=())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen))
        intro = str(app.screen.query_one("#settings-intro", Static).render())
        assert "Azure" in intro and "http://127.0.0.1:8080/v1" in intro


async def test_first_run_uses_env_endpoint(monkeypatch, fake_server):
    monkeypatch.setenv("LLAMA_TUI_BASE_URL", fake_server.base_url)
    monkeypatch.setenv("LLAMA_TUI_API_KEY", "sk-env")
    fake_server.enqueue(chat_stream(["from env"]))
    app = make_app(probe_servers=())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.1)
        assert not isinstance(app.screen, SettingsScreen)
        await type_and_send(pilot, "hi")
        await wait_replies(pilot)
    assert fake_server.requests[-1].headers["authorization"] == "Bearer sk-env"
    assert only_conversation()["endpoint"] == "env"


async def test_first_run_offers_a_local_server_that_answers(fake_server):
    app = make_app(probe_servers=(("llama.cpp", f"{fake_server.base_url}/v1"),
                                  ("Ollama", "http://127.0.0.1:9/v1")))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, FoundServerScreen))
        assert "fake-model" in str(app.screen.query_one(Static).render())
        await pilot.click("#yes")
        await wait_for(pilot, lambda: not isinstance(app.screen, FoundServerScreen))
        await wait_for(pilot, lambda: paths.config_file().exists()
                       and "llamacpp" in paths.config_file().read_text())
    config = tomllib.loads(paths.config_file().read_text())
    assert config["default_endpoint"] == "llamacpp"
    assert config["endpoints"]["llamacpp"]["url"] == f"{fake_server.base_url}/v1"


async def _fill(pilot, app, values: dict[str, str]) -> None:
    for selector, value in values.items():
        app.screen.query_one(selector, Input).value = value
    await pilot.pause()


async def test_settings_add_endpoint_saves_0600_and_never_shows_key(fake_server):
    app = make_app(probe_servers=())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen))
        await _fill(pilot, app, {"#ep-name": "mine", "#ep-url": fake_server.base_url,
                                 "#ep-key": "sk-very-secret-0042"})
        await pilot.press("ctrl+s")
        await pilot.pause(0.1)
        key_input = app.screen.query_one("#ep-key", Input)
        assert key_input.value == ""
        assert "0042" in key_input.placeholder and "secret" not in key_input.placeholder
        app.screen.query_one("#ep-test", Button).press()
        await wait_for(pilot, lambda: "OK" in str(app.screen.query_one("#ep-result", Static).render()))
        assert "fake-model" in str(app.screen.query_one("#ep-result", Static).render())
        options = app.screen.query_one("#endpoint-list", OptionList)
        assert options.get_option_at_index(0).id == "mine"
    path = paths.config_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    config = tomllib.loads(path.read_text())
    assert config["endpoints"]["mine"]["key"] == "sk-very-secret-0042"
    assert config["default_endpoint"] == "mine"


async def test_settings_rejects_bad_url_and_edits_defaults(app_factory):
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen))
        assert app.screen.query_one("#ep-name", Input).value == "fake"
        url = app.screen.query_one("#ep-url", Input).value
        await _fill(pilot, app, {"#ep-url": "localhost:8080"})
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "http://" in str(app.screen.query_one("#ep-result", Static).render())
        await _fill(pilot, app, {"#ep-url": url})
        await _fill(pilot, app, {"#temperature": "0.3", "#memory": "2", "#max-tokens": "abc"})
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "not a number" in str(app.screen.query_one("#defaults-result", Static).render())
        await _fill(pilot, app, {"#max-tokens": "256"})
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press("escape")
        assert not isinstance(app.screen, SettingsScreen)
    config = tomllib.loads(paths.config_file().read_text())
    assert config["defaults"] == {"temperature": 0.3, "max_tokens": 256}
    assert config["memory_window"] == 2
    assert config["endpoints"]["fake"]["key"] == "sk-test-secret-key-1234"
    assert paths.config_file().with_name("config.toml.bak.1").exists()


async def test_content_filter_block_is_explained(app_factory, fake_server):
    fake_server.enqueue(azure_content_filter_400())
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "something risky")
        await wait_replies(pilot)
        view = main(app).query_one(AssistantMessage)
        details = str(view.query_one(".error-details").render())
        assert "violence: severity medium, filtered" in details
        assert "3f2a9c1e-7b4d-4e8a-9f10-5c6d7e8f9a0b" in details
        assert view.has_class("-failed")
    assert only_conversation()["messages"][1]["finish_reason"] == "content_filter"


async def test_reply_filtered_mid_stream_keeps_text(app_factory, fake_server):
    fake_server.enqueue(chat_stream(["Here is some", " text"], finish_reason="content_filter"))
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "go on")
        await wait_replies(pilot)
        view = main(app).query_one(AssistantMessage)
        assert "content filter" in str(view.query_one(".error-details").render())
    reply = only_conversation()["messages"][1]
    assert reply["content"] == "Here is some text"
    assert reply["finish_reason"] == "content_filter"


async def test_theme_and_select_defaults_round_trip(app_factory):
    app = app_factory(extra='theme = "nord"')
    async with app.run_test(size=SIZE) as pilot:
        assert app.theme == "nord"
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen))
        assert app.screen.query_one("#theme", Select).value == "nord"
