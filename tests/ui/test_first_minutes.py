"""The first ten minutes of a new user: where focus goes, where typed keys land, what escape
does, retrying a failed turn, drafts, and hints that follow the keymap."""

from __future__ import annotations

import tomllib

from textual import events
from textual.widgets import Button, Input, OptionList, Static

from llama_tui import paths
from llama_tui.ui.app import make_app
from llama_tui.ui.screens.dialogs import InspectorScreen, UnsavedScreen
from llama_tui.ui.screens.settings import SettingsScreen
from llama_tui.ui.widgets.chat_view import ChatView
from llama_tui.ui.widgets.conversation_list import ConversationList
from llama_tui.ui.widgets.message_view import AssistantMessage, UserMessage
from llama_tui.ui.widgets.prompt_input import PromptInput
from tests.fakeserver import chat_stream, error_response
from tests.ui.conftest import (
    SIZE,
    conversation_files,
    load_toml,
    main,
    only_conversation,
    parts_streamed,
    type_and_send,
    wait_for,
    wait_replies,
    write_config,
)
from tests.ui.test_browse_manage import make_conversations


def prompt(app) -> PromptInput:
    return main(app).query_one(PromptInput)


def escape_binding(app) -> str | None:
    """The id of what escape does now (None: nothing), as the footer sees it."""
    active = app.screen.active_bindings.get("escape")
    return active.binding.id if active else None


def footer_keys(app) -> dict[str, str]:
    """The footer's hints: key -> description."""
    return {key: active.binding.description for key, active in app.screen.active_bindings.items()
            if active.binding.show}


def burst(app, *keys: str) -> None:
    """Keys arriving in one read (a laggy SSH link): all queued before any is handled."""
    for key in keys:
        char = key if len(key) == 1 else None
        app.post_message(events.Key(key, char))


async def test_escape_from_a_message_returns_to_the_prompt_and_letters_type_there(
        app_factory, fake_server):
    fake_server.enqueue(chat_stream(["an answer"]))
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "A question")
        await wait_replies(pilot)
        await pilot.press("ctrl+up")
        assert isinstance(app.focused, AssistantMessage)
        await pilot.press("escape")
        assert isinstance(app.focused, PromptInput)
        # A letter that is not one of the message's keys goes to the prompt, typed.
        await pilot.press("ctrl+up", "up")
        assert isinstance(app.focused, UserMessage)
        await pilot.press("h", "i")
        assert isinstance(app.focused, PromptInput)
        assert prompt(app).text == "hi"
        # "fine" on a reply: f forks (its key), the rest of the word lands in the fork's prompt.
        screen = main(app)
        original = screen.current
        prompt(app).clear()
        await pilot.press("ctrl+up", "f", "i", "n", "e")
        await wait_for(pilot, lambda: screen.current is not original)
        await wait_for(pilot, lambda: prompt(app).text == "ine")
        assert isinstance(app.focused, PromptInput)
    assert len(conversation_files()) == 2


async def test_escape_from_the_list_and_the_filter_returns_to_the_prompt(app_factory):
    make_conversations([("Rust lifetimes", ["q", "a"]), ("Python asyncio", ["q", "a"])])
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+l")
        assert app.focused.id == "filter"
        await pilot.press("escape")
        assert isinstance(app.focused, PromptInput)
        await pilot.press("ctrl+l", "tab")
        assert isinstance(app.focused, ConversationList)
        await pilot.press("escape")
        assert isinstance(app.focused, PromptInput)
        # Tab from the list goes to the prompt, never to an invisible stop.
        await pilot.press("ctrl+l", "tab", "tab")
        assert isinstance(app.focused, PromptInput)
        # Letters on the list that are not its keys are typed in the prompt.
        await pilot.press("ctrl+l", "tab", "o", "k")
        assert isinstance(app.focused, PromptInput) and prompt(app).text == "ok"
        assert not main(app).query_one(ChatView).can_focus


async def test_tab_from_the_filter_goes_to_the_rows_like_down(app_factory):
    make_conversations([("Rust lifetimes", ["q rust", "a rust"]),
                        ("Python asyncio", ["q py", "a py"])])
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+l", "r", "u", "s", "t", "tab", "enter")
        screen = main(app)
        await wait_for(pilot, lambda: screen.current is not None)
        assert screen.current.title == "Rust lifetimes"
        assert isinstance(app.focused, PromptInput)


async def test_escape_stops_a_streaming_reply_first_then_goes_to_the_prompt(
        app_factory, fake_server):
    fake_server.enqueue(chat_stream(["done"]))
    fake_server.enqueue(chat_stream([f"w{i} " for i in range(200)], delay=0.05))
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        assert escape_binding(app) is None  # nothing streams, focus is on the prompt
        assert "Stop" not in footer_keys(app).values()
        await type_and_send(pilot, "First")
        await wait_replies(pilot)
        await type_and_send(pilot, "Count slowly")
        await wait_for(pilot, lambda: parts_streamed(app) >= 2)
        await wait_for(pilot, lambda: escape_binding(app) == "stop")
        assert footer_keys(app)["escape"] == "Stop"
        await pilot.press("ctrl+up", "up")
        assert isinstance(app.focused, UserMessage)
        await pilot.press("escape")  # stops, focus stays
        await wait_replies(pilot)
        assert isinstance(app.focused, UserMessage)
        assert escape_binding(app) == "to-prompt"
        assert "escape" not in footer_keys(app)
        await pilot.press("escape")
        assert isinstance(app.focused, PromptInput)
    assert only_conversation()["messages"][-1]["finish_reason"] == "cancelled"


async def test_keys_in_one_burst_land_where_focus_was_sent(app_factory, fake_server):
    fake_server.enqueue(chat_stream(["an answer"]))
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "A question")
        await wait_replies(pilot)
        await pilot.press("f5")
        await wait_for(pilot, lambda: isinstance(app.screen, InspectorScreen))
        await pilot.pause()
        burst(app, "escape", "ctrl+l", "a", "b")
        filter_input = main(app).query_one("#filter", Input)
        await wait_for(pilot, lambda: filter_input.value == "ab")
        assert prompt(app).text == ""
        burst(app, "escape", "x", "ctrl+up", "y", "escape", "z")
        await wait_for(pilot, lambda: prompt(app).text == "xz")
        assert isinstance(app.focused, PromptInput)
        # "fine" in one burst on a focused reply: f forks, "ine" is typed in the fork's prompt.
        screen = main(app)
        original = screen.current
        prompt(app).clear()
        await pilot.press("ctrl+up")
        burst(app, "f", "i", "n", "e")
        await wait_for(pilot, lambda: screen.current is not original)
        await wait_for(pilot, lambda: prompt(app).text == "ine")  # the rest of the burst
        assert prompt(app).text == "ine", (prompt(app).text, app.focused)
        assert len(conversation_files()) == 2
        await pilot.pause(0.1)  # the last keys' bubbling ends before the app does


async def test_a_failed_turn_is_retried_in_place_by_enter(app_factory, fake_server):
    fake_server.enqueue(error_response(503, "<html>down for maintenance</html>"))
    fake_server.enqueue(chat_stream(["back up"]))
    app = app_factory()
    app.services.config.endpoints["fake"].max_retries = 0
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "Are you there?")
        await wait_replies(pilot)
        assert prompt(app).text == "Are you there?"  # it comes back
        await pilot.press("enter")
        await wait_replies(pilot)
        views = list(main(app).query_one(ChatView).query(AssistantMessage))
        assert [v.source for v in views] == ["back up"]
        assert len(main(app).query_one(ChatView).query(UserMessage)) == 1
    assert fake_server.requests[-1].json()["messages"] == [
        {"role": "user", "content": "Are you there?"}]
    saved = only_conversation()["messages"]
    assert [(m["role"], m["content"]) for m in saved] == [("user", "Are you there?"),
                                                           ("assistant", "back up")]
    assert saved[1]["finish_reason"] == "stop" and "superseded" not in saved[1]


async def test_r_on_a_failed_reply_retries_it_in_place(app_factory, fake_server):
    fake_server.enqueue(error_response(503, "<html>down</html>"))
    fake_server.enqueue(error_response(503, "<html>still down</html>"))
    fake_server.enqueue(chat_stream(["finally"]))
    app = app_factory()
    app.services.config.endpoints["fake"].max_retries = 0
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "Hello?")
        await wait_replies(pilot)
        prompt(app).clear()  # the user typed it away: r still retries
        for _ in range(2):
            await pilot.press("ctrl+up")
            assert footer_keys(app)["r"] == "Retry"
            await pilot.press("r")
            await wait_replies(pilot)
        views = list(main(app).query_one(ChatView).query(AssistantMessage))
        assert [v.source for v in views] == ["finally"]
        await pilot.press("ctrl+up")
        assert footer_keys(app)["r"] == "Regenerate"  # a good reply: r keeps it as a version
    saved = only_conversation()["messages"]
    assert [(m["role"], m["content"]) for m in saved] == [("user", "Hello?"),
                                                           ("assistant", "finally")]


async def test_a_different_prompt_after_a_failure_is_a_new_turn(app_factory, fake_server):
    fake_server.enqueue(error_response(400, {"error": {"message": "bad"}}))
    fake_server.enqueue(chat_stream(["ok"]))
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "First try")
        await wait_replies(pilot)
        await type_and_send(pilot, "Something else")
        await wait_replies(pilot)
    saved = only_conversation()["messages"]
    assert [m["content"] for m in saved if m["role"] == "user"] == ["First try",
                                                                    "Something else"]


async def test_each_conversation_keeps_its_own_draft(app_factory):
    make_conversations([("Rust lifetimes", ["q", "a"]), ("Python asyncio", ["q", "a"])])
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        screen = main(app)
        await pilot.press("n", "e", "w")
        rows = screen.query_one(ConversationList).summaries
        rust = next(s.id for s in rows if s.title == "Rust lifetimes")
        python = next(s.id for s in rows if s.title == "Python asyncio")
        await screen.open_id(rust)
        assert prompt(app).text == ""
        await pilot.press("r", "s")
        await screen.open_id(python)
        assert prompt(app).text == ""
        await pilot.press("p", "y")
        await screen.open_id(rust)
        assert prompt(app).text == "rs"
        await pilot.press("ctrl+n")
        assert prompt(app).text == "new"
        await screen.open_id(python)
        assert prompt(app).text == "py"


async def test_hints_follow_a_remapped_keymap(app_factory, fake_server):
    fake_server.enqueue(chat_stream([f"w{i} " for i in range(100)], delay=0.05))
    app = app_factory(extra='[keymap]\nnew-chat = "ctrl+t"\nsettings = "f9"\n'
                            'newline = "ctrl+o"\nstop = "ctrl+x"')
    async with app.run_test(size=SIZE) as pilot:
        screen = main(app)
        hint = str(screen.query_one(".empty-hint").render())
        assert "ctrl+t starts another" in hint and "F9 opens settings" in hint
        assert "ctrl+x stops" in hint and "ctrl+o inserts" in hint
        assert "ctrl+n" not in hint and "F2" not in hint
        assert "ctrl+o newline" in prompt(app).placeholder
        keys = footer_keys(app)
        assert keys.get("ctrl+t") == "New" and keys.get("f9") == "Settings"
        assert "ctrl+n" not in keys and "f2" not in keys
        await type_and_send(pilot, "Count")
        await wait_for(pilot, lambda: parts_streamed(app) >= 2)
        await wait_for(pilot, lambda: "ctrl+x stops" in screen._status_text)
        assert footer_keys(app).get("ctrl+x") == "Stop"
        await pilot.press("ctrl+x")
        await wait_replies(pilot)
    assert load_toml(conversation_files()[0])["messages"][-1]["finish_reason"] == "cancelled"


async def test_a_keymap_removed_by_hand_and_reloaded_gives_the_default_keys_back(app_factory):
    app = app_factory(extra='[keymap]\nnew-chat = "ctrl+t"')
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: footer_keys(app).get("ctrl+t") == "New")
        path = app.services.config.path
        path.write_text(path.read_text().replace('new-chat = "ctrl+t"', ""))
        assert app.services.reload_config() is None  # what Reload in settings does
        await wait_for(pilot, lambda: footer_keys(app).get("ctrl+n") == "New")
        assert "ctrl+t" not in footer_keys(app)
        assert "ctrl+n starts another" in str(main(app).query_one(".empty-hint").render())


# -- settings -------------------------------------------------------------------------------

async def open_settings(pilot) -> SettingsScreen:
    await pilot.press("f2")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, SettingsScreen))
    await pilot.pause()
    return pilot.app.screen


async def test_settings_open_on_the_default_with_the_list_focused_and_one_save(
        fake_server, monkeypatch):
    monkeypatch.setenv("LLAMA_TUI_BASE_URL", "http://127.0.0.1:9/v1")
    path = write_config(None)
    path.write_text('default_endpoint = "second"\n'
                    f'[endpoints.first]\nurl = "{fake_server.base_url}/v1"\n'
                    f'[endpoints.second]\nurl = "{fake_server.base_url}/v1"\nmodel = "m2"\n')
    app = make_app(probe_servers=())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_settings(pilot)
        options = screen.query_one("#endpoint-list", OptionList)
        assert app.focused is options
        assert screen.query_one("#ep-name", Input).value == "second"
        assert options.get_option_at_index(options.highlighted).id == "second"
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        assert ids == ["first", "second", "__env__", "__new__"]
        env_label = str(options.get_option_at_index(2).prompt)
        assert "from LLAMA_TUI_BASE_URL" in env_label
        assert [k for k, d in footer_keys(app).items() if d == "Save"] == ["ctrl+s"]
        assert not [b for b in screen.query(Button) if "Save" in str(b.label)]
        # The env endpoint: shown read-only, never saved.
        options.highlighted = 2
        await pilot.press("enter")
        assert screen.query_one("#ep-url", Input).value == "http://127.0.0.1:9/v1"
        assert screen.query_one("#ep-url", Input).disabled
        assert "read-only" in str(screen.query_one("#ep-result", Static).render())
        # Another endpoint, edited, saved with ctrl+s.
        options.highlighted = 0
        await pilot.press("enter")
        screen.query_one("#ep-model", Input).value = "picked"
        screen.query_one("#temperature", Input).value = "0.5"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: 'model = "picked"' in path.read_text())
        await pilot.press("escape")  # nothing unsaved: straight back
        assert not isinstance(app.screen, SettingsScreen)
    saved = tomllib.loads(path.read_text())
    assert saved["endpoints"]["first"]["model"] == "picked"
    assert saved["defaults"]["temperature"] == 0.5
    assert saved["default_endpoint"] == "second" and "env" not in saved["endpoints"]


async def test_escape_with_unsaved_settings_asks_save_discard_or_stay(app_factory):
    app = app_factory()
    path = paths.config_file()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_settings(pilot)
        screen.query_one("#ep-model", Input).value = "unsaved-model"
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, UnsavedScreen))
        await pilot.pause()
        await pilot.press("escape")  # stay
        await wait_for(pilot, lambda: app.screen is screen)
        assert screen.query_one("#ep-model", Input).value == "unsaved-model"
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, UnsavedScreen))
        await pilot.pause()
        app.screen.query_one("#unsaved-discard", Button).press()
        await wait_for(pilot, lambda: not isinstance(app.screen, (SettingsScreen, UnsavedScreen)))
        assert "unsaved-model" not in path.read_text()
        screen = await open_settings(pilot)
        assert screen.query_one("#ep-model", Input).value == ""
        screen.query_one("#ep-model", Input).value = "kept-model"
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, UnsavedScreen))
        await pilot.pause()
        await pilot.press("enter")  # Save is focused
        await wait_for(pilot, lambda: not isinstance(app.screen, (SettingsScreen, UnsavedScreen)))
    assert tomllib.loads(path.read_text())["endpoints"]["fake"]["model"] == "kept-model"


def look(widget) -> tuple:
    """What tells a focused widget apart on screen."""
    styles = widget.styles
    target = widget.query_one("SelectCurrent").styles if widget.query("SelectCurrent") else styles
    return (styles.border, styles.background, target.background, styles.background_tint,
            styles.text_style, styles.outline, styles.tint)


async def assert_focus_visible(pilot, screen) -> None:
    chain = [w for w in screen.focus_chain if w.display]
    assert chain
    for widget in chain:
        screen.set_focus(None)
        await pilot.pause()
        before = look(widget)
        screen.set_focus(widget)
        await pilot.pause()
        assert look(widget) != before, f"{widget!r} looks the same focused"


async def test_every_focus_stop_shows_it_has_focus(app_factory, fake_server):
    fake_server.enqueue(chat_stream(["an answer"]))
    make_conversations([("Rust lifetimes", ["q", "a"])])
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "A question")
        await wait_replies(pilot)
        await assert_focus_visible(pilot, main(app))
        await assert_focus_visible(pilot, await open_settings(pilot))
