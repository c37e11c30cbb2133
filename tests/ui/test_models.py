"""Models in the app, the way a user meets them: a server that needs a model, the picker,
endpoint and model per conversation (palette, F3), usage and context in the status line."""

from __future__ import annotations

from typing import Any

from textual.widgets import Input, OptionList, Select

from llama_tui.ui.screens.dialogs import ParamsScreen
from llama_tui.ui.screens.model_picker import ModelPickerScreen
from llama_tui.ui.widgets.message_view import AssistantMessage
from llama_tui.ui.widgets.prompt_input import PromptInput
from tests.fakeserver import FakeServer
from tests.fakeserver.scripts import chat_stream, model_required_400, models_list
from tests.ui.conftest import (
    SIZE,
    main,
    only_conversation,
    type_and_send,
    wait_for,
    wait_replies,
)

USAGE = {"prompt_tokens": 412, "completion_tokens": 57, "total_tokens": 469,
         "completion_tokens_details": {"reasoning_tokens": 30}}


def posts(server: FakeServer) -> list[dict[str, Any]]:
    return [r.json() for r in server.requests if r.method == "POST"]


def status(app: Any) -> str:
    main(app).update_status()
    return str(main(app).query_one("#status").render())


def picker_ready(app: Any) -> bool:
    """The picker is up, its list filled and its filter focused: keys go there now."""
    screen = app.screen
    return isinstance(screen, ModelPickerScreen) and bool(screen.query(OptionList)) \
        and bool(screen.shown()) and isinstance(app.focused, Input)


def said(app: Any) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def test_the_servers_only_model_is_used_and_the_reply_sent_again(
    app_factory: Any, fake_server: FakeServer,
) -> None:
    fake_server.route("GET", "/v1/models", models_list({"id": "qwen3:8b"}))
    fake_server.enqueue(model_required_400("ollama"), chat_stream(["Hello", " there"]))
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "hi")
        await wait_for(pilot, lambda: len(posts(fake_server)) == 2, timeout=10)
        await wait_replies(pilot)
        views = main(app).query(AssistantMessage)
        assert [v.source for v in views] == ["Hello there"]  # no failed attempt kept
        assert "qwen3:8b" in status(app)
        assert not any("failed" in s.lower() for s in said(app)), said(app)
        assert any("only model, qwen3:8b" in s for s in said(app))
    first, second = posts(fake_server)
    assert "model" not in first and second["model"] == "qwen3:8b"
    data = only_conversation()
    assert data["model"] == "qwen3:8b"
    assert [(m["role"], m["content"]) for m in data["messages"]] == [
        ("user", "hi"), ("assistant", "Hello there")]


async def test_several_models_open_the_picker_which_filters_and_remembers_the_choice(
    app_factory: Any, fake_server: FakeServer,
) -> None:
    fake_server.route("GET", "/v1/models", models_list(
        {"id": "gpt-5-mini", "context_length": 400000}, {"id": "gpt-5"},
        {"id": "\x1b]52;c;evil\x07o4-mini"}))
    fake_server.enqueue(model_required_400("azure"), chat_stream(["Sure."]),
                        chat_stream(["Again."]))
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "hello")
        await wait_for(pilot, lambda: picker_ready(app), timeout=10)
        picker = app.screen
        assert isinstance(picker, ModelPickerScreen) and len(picker.shown()) == 3
        labels = [str(picker.query_one(OptionList).get_option_at_index(i).prompt)
                  for i in range(3)]
        assert "\x1b" not in "".join(labels) and "400,000 tokens" in labels[0]
        await pilot.press(*"5-mini")
        await wait_for(pilot, lambda: len(picker.shown()) == 1)
        assert picker.shown() == ["gpt-5-mini"]
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(posts(fake_server)) == 2, timeout=10)
        await wait_replies(pilot)
        assert [v.source for v in main(app).query(AssistantMessage)] == ["Sure."]
        await wait_for(pilot, lambda: "next request ~" in status(app))
        await type_and_send(pilot, "more")
        await wait_replies(pilot)
    assert [p.get("model") for p in posts(fake_server)] == [None, "gpt-5-mini", "gpt-5-mini"]
    assert only_conversation()["model"] == "gpt-5-mini"


async def test_escape_in_the_picker_restores_the_prompt_and_a_resend_asks_again(
    app_factory: Any, fake_server: FakeServer,
) -> None:
    fake_server.route("GET", "/v1/models", models_list({"id": "a"}, {"id": "b"}))
    fake_server.enqueue(model_required_400("vllm"), model_required_400("vllm"),
                        chat_stream(["From b."]))
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "which model?")
        await wait_for(pilot, lambda: picker_ready(app), timeout=10)
        await pilot.press("escape")
        prompt = main(app).query_one(PromptInput)
        await wait_for(pilot, lambda: prompt.text == "which model?")
        await pilot.press("enter")  # the same prompt again: a retry in place
        await wait_for(pilot, lambda: picker_ready(app), timeout=10)
        await pilot.press("down", "down", "enter")  # the list, then the second model
        await wait_for(pilot, lambda: len(posts(fake_server)) == 3, timeout=10)
        await wait_replies(pilot)
        assert [v.source for v in main(app).query(AssistantMessage)] == ["From b."]
    models_asked = [r for r in fake_server.requests if r.path == "/v1/models"]
    assert len(models_asked) == 1  # once per endpoint for the session
    assert posts(fake_server)[-1]["model"] == "b"
    data = only_conversation()
    assert [m["content"] for m in data["messages"]] == ["which model?", "From b."]


async def test_palette_chooses_endpoint_and_model_for_this_conversation(
    app_factory: Any, fake_server: FakeServer,
) -> None:
    fake_server.route("GET", "/v1/models", models_list({"id": "small"}, {"id": "large"}))
    fake_server.enqueue(chat_stream(["one"]), chat_stream(["two"]))
    other = (f'[endpoints.other]\nurl = "{fake_server.base_url}/other/v1"\n'
             'model = "configured"\n')
    app = app_factory(extra=other)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "CommandPalette")
        await pilot.press(*"model: large")
        options = app.screen.query_one("CommandList", OptionList)

        def first_hit() -> str:
            return str(options.get_option_at_index(0).prompt) if options.option_count else ""

        await wait_for(pilot, lambda: first_hit().startswith("model: large"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: "large" in status(app))
        await type_and_send(pilot, "first")
        await wait_replies(pilot)
        await main(app).set_endpoint("other")
        assert "other · configured" in status(app)
        await type_and_send(pilot, "second")
        await wait_replies(pilot)
    first, second = posts(fake_server)
    assert first["model"] == "large" and second["model"] == "configured"
    assert [r.path for r in fake_server.requests if r.method == "POST"] == [
        "/v1/chat/completions", "/other/v1/chat/completions"]
    data = only_conversation()
    assert data["endpoint"] == "other" and "model" not in data


async def test_f3_sets_the_model_and_the_reasoning_effort(
    app_factory: Any, fake_server: FakeServer,
) -> None:
    fake_server.enqueue(chat_stream(["ok"]))
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await wait_for(pilot, lambda: isinstance(app.screen, ParamsScreen))
        app.screen.query_one("#p-model", Input).value = "deepseek-r1"
        app.screen.query_one("#p-effort", Select).value = "low"
        await pilot.click("#p-save")
        await wait_for(pilot, lambda: not isinstance(app.screen, ParamsScreen))
        await type_and_send(pilot, "think a little")
        await wait_replies(pilot)
        await pilot.press("f3")
        await wait_for(pilot, lambda: isinstance(app.screen, ParamsScreen))
        assert app.screen.query_one("#p-effort", Select).value == "low"
        app.screen.query_one("#p-effort", Select).value = "off"
        await pilot.click("#p-save")
        await wait_for(pilot, lambda: not isinstance(app.screen, ParamsScreen))
    body = posts(fake_server)[0]
    assert body["model"] == "deepseek-r1" and body["reasoning_effort"] == "low"
    data = only_conversation()
    assert data["model"] == "deepseek-r1" and data["params"]["reasoning_effort"] == "off"


async def test_usage_shows_under_the_reply_and_in_the_status_with_the_context(
    app_factory: Any, fake_server: FakeServer,
) -> None:
    fake_server.route("GET", "/v1/models",
                      models_list({"id": "fake-model", "meta": {"n_ctx_train": 500}}))
    fake_server.enqueue(chat_stream(["Short."], usage=USAGE, usage_chunk=True),
                        chat_stream(["ok"]))
    app = app_factory(extra="")
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "hi")
        await wait_replies(pilot)
        footer = str(main(app).query(AssistantMessage).last()._footer.render())
        assert "tokens 412 in · 57 out · 30 thinking" in footer
        await wait_for(pilot, lambda: "of 500 tokens" in status(app))
        assert "next request ~469 of 500 tokens" in status(app)  # 412 + 57 + nothing typed
        assert "last: " not in status(app)  # no room beside the list: under the reply
        await pilot.press("ctrl+b")
        await wait_for(pilot, lambda: "last: 412 in · 57 out · 30 thinking" in status(app))
        main(app).query_one(PromptInput).load_text("x" * 400)
        assert "next request ~569 of 500 tokens" in status(app)
        await pilot.press("enter")
        await wait_replies(pilot)
        assert any("more than the model's context of 500" in s for s in said(app))
    assert len(posts(fake_server)) == 2  # warned, and sent anyway


async def test_test_connection_fills_a_lone_model_and_lists_several(
    app_factory: Any, fake_server: FakeServer,
) -> None:
    from textual.widgets import Button, Static

    from llama_tui.ui.screens.settings import SettingsScreen

    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen))
        screen = app.screen
        result, model = screen.query_one("#ep-result", Static), screen.query_one("#ep-model", Input)
        screen.query_one("#ep-test", Button).press()
        await wait_for(pilot, lambda: "OK" in str(result.render()))
        assert model.value == "fake-model" and "ctrl+s saves" in str(result.render())
        model.value = ""
        fake_server.route("GET", "/v1/models", models_list({"id": "a"}, {"id": "b\x1b[2J"}))
        screen.query_one("#ep-test", Button).press()
        await wait_for(pilot, lambda: "models: a, b" in str(result.render()))
        assert model.value == "" and "\x1b" not in str(result.render())
