"""The real app with a config that has a problem: the file is never rewritten, bad values are
named instead of crashing, a key command never runs on the UI thread nor in a loop."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Button, Static, TextArea

from llama_tui import paths
from llama_tui.ui.app import make_app
from llama_tui.ui.screens.settings import SettingsScreen
from llama_tui.ui.themes import use_theme
from tests.fakeserver import FakeServer, chat_stream
from tests.ui.conftest import SIZE, main, type_and_send, wait_for, wait_replies

TYPO_CONFIG = '''# kept in my dotfiles
theme = "llama-dark"

[endpoints.work]
url = "{url}/v1"
key = "sk-test-secret-key-1234"
prompt_fromat = "llama2"   # the typo
'''


def write(text: str) -> Path:
    path = paths.config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")
    path.chmod(0o600)
    return path


def notifications(app) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


def status(app) -> str:
    return str(main(app).query_one("#status", Static).render())


async def test_a_config_with_a_typo_is_never_rewritten(fake_server: FakeServer) -> None:
    path = write(TYPO_CONFIG.format(url=fake_server.base_url))
    before = path.read_bytes()
    app = make_app(probe_servers=())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "prompt_fromat" in notifications(app))
        use_theme(app, app.services, "llama-light")  # what the palette's "theme: …" does
        await wait_for(pilot, lambda: "not saved" in notifications(app))
        assert app.theme == "llama-light"
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen))
        reason = str(app.screen.query_one("#readonly-reason", Static).render())
        assert f"{path}, line 7" in reason and "endpoints.work.prompt_fromat" in reason
        assert "did you mean 'prompt_format'?" in reason
        for button in ("#ep-delete", "#ep-default"):
            assert app.screen.query_one(button, Button).disabled
        app.screen.query_one("#temperature").value = "0.4"
        await pilot.press("ctrl+s")  # read-only: nothing written, and it says so
        await pilot.pause()
        assert "read-only" in str(app.screen.query_one("#ep-result", Static).render())
        assert path.read_bytes() == before
        # Fixed by hand: Reload makes settings writable, and a save keeps the comments.
        path.write_text(path.read_text().replace("prompt_fromat", "prompt_format"))
        app.screen.query_one("#reload-config", Button).press()
        await wait_for(pilot, lambda: not app.screen.query_one("#ep-default", Button).disabled)
        app.screen.query_one("#temperature").value = "0.3"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "temperature" in path.read_text())
    text = path.read_text()
    assert "# kept in my dotfiles" in text and "# the typo" in text
    assert "[defaults]\ntemperature = 0.3" in text
    assert paths.config_file().with_name("config.toml.bak.1").read_bytes() == before.replace(
        b"prompt_fromat", b"prompt_format")


async def test_bad_keymap_and_theme_values_are_named_and_the_app_stays_up(
        fake_server: FakeServer) -> None:
    folder = paths.themes_dir()
    folder.mkdir(parents=True)
    (folder / "yes.toml").write_text('name = "yes"\nprimary = "#ff8800"\ndark = "yes"\n')
    (folder / "var.toml").write_text('name = "var"\nprimary = "#ff8800"\n'
                                     '[variables]\ninput-cursor-text-style = "blink-ish"\n')
    write(f'[keymap]\nsettings = 5\nquit = "notakey+++"\nnew-chatt = "ctrl+t"\n'
          f'new-chat = "ctrl+q"\ntemplate = "f9"\n\n'
          f'[endpoints.fake]\nurl = "{fake_server.base_url}/v1"\n')
    app = make_app(probe_servers=())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "new-chatt" in notifications(app))
        said = notifications(app)
        for words in ("keymap.settings = 5", "quit = 'notakey+++'", "did you mean 'new-chat'?",
                      "new-chat = 'ctrl+q' clashes with quit", "yes.toml", "var.toml"):
            assert said.count(words) == 1, words
        assert {"yes", "var"}.isdisjoint(app.available_themes)
        await pilot.press("f2")  # settings kept its default key
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen))
        await pilot.press("escape")
        await pilot.press("ctrl+n")  # new-chat kept its default too
        await pilot.pause()
        assert app.is_running


async def test_a_slow_key_command_never_freezes_the_app(tmp_path: Path,
                                                        fake_server: FakeServer) -> None:
    gate = tmp_path / "gate"
    write(f'[endpoints.slow]\nurl = "{fake_server.base_url}/v1"\n'
          f'key_cmd = "while [ ! -e {gate} ]; do sleep 0.02; done; echo sk-from-cmd"\n')
    fake_server.enqueue(chat_stream(["hello"]))
    app = make_app(probe_servers=())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "key: resolving…" in status(app))
        await type_and_send(pilot, "typed while the key resolves")
        await wait_for(pilot, lambda: "still running" in notifications(app))
        assert main(app).query_one("#prompt", TextArea).text == "typed while the key resolves"
        gate.touch()
        await wait_for(pilot, lambda: "resolving" not in status(app))
        await pilot.press("enter")
        await wait_replies(pilot)
    assert fake_server.requests[-1].headers["authorization"] == "Bearer sk-from-cmd"


async def test_a_failing_key_command_runs_once_until_retried(tmp_path: Path,
                                                             fake_server: FakeServer) -> None:
    counter = tmp_path / "runs"
    write(f'[endpoints.failing]\nurl = "{fake_server.base_url}/v1"\n'
          f'key_cmd = "echo run >> {counter}; exit 2"\n')
    app = make_app(probe_servers=())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "key command failed" in status(app))
        await wait_for(pilot, lambda: "exited with 2" in notifications(app))
        screen = main(app)
        for _ in range(20):  # ten seconds of the status timer, at once
            screen.update_status()
        await type_and_send(pilot, "hi")
        await wait_for(pilot, lambda: "key_cmd" in notifications(app))
        assert counter.read_text().splitlines() == ["run"]
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen))
        app.screen.query_one("#ep-test", Button).press()  # the user's retry
        await wait_for(pilot, lambda: len(counter.read_text().splitlines()) == 2)
        await wait_for(pilot, lambda: "exited with 2" in str(
            app.screen.query_one("#ep-result", Static).render()))
    assert counter.read_text().splitlines() == ["run", "run"]


async def test_secret_headers_are_masked_in_settings_and_kept_on_save(
        fake_server: FakeServer) -> None:
    path = write(f'[endpoints.fake]\nurl = "{fake_server.base_url}/v1"\n'
                 'headers = { X-Api-Key = "sk-header-secret-9876", x-team = "ml" }\n')
    app = make_app(probe_servers=())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen))
        shown = app.screen.query_one("#ep-headers", TextArea).text
        assert "sk-header-secret" not in shown and "9876" in shown and "x-team: ml" in shown
        app.screen.query_one("#ep-model").value = "m"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: 'model = "m"' in path.read_text())
    assert 'X-Api-Key = "sk-header-secret-9876"' in path.read_text()
