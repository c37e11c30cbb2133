"""`ask` on the 2026 wire, as a script meets it: stdout is the answer only; the thinking goes
to stderr (or nowhere with --no-reasoning); tool calls and a missing model are said and exit
non-zero; the reasoning effort is sent; a saved reply keeps its thinking apart."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.fakeserver import FakeServer
from tests.fakeserver.scripts import (
    chat_stream,
    model_required_400,
    models_list,
    reasoning_stream,
    think_stream,
    tool_call_stream,
)
from tests.network.test_cli_ask import ask, sent

THOUGHTS = ["The user greets. ", "I should greet back."]


@pytest.mark.parametrize("shape", ["reasoning_content", "reasoning", "ollama", "openrouter"])
def test_the_answer_goes_to_stdout_and_the_thinking_to_stderr(
    home: Path, fake_server: FakeServer, url: str, shape: str,
) -> None:
    fake_server.enqueue(reasoning_stream(THOUGHTS, ["Hello", " there"], shape=shape))
    run = ask(home, url, "Hi")
    assert run.code == 0, run.stderr
    assert run.out == "Hello there\n"
    assert "thinking: The user greets. I should greet back." in run.stderr


def test_inline_think_tags_split_across_chunks_are_thinking_not_answer(
    home: Path, fake_server: FakeServer, url: str,
) -> None:
    fake_server.enqueue(think_stream("Let me think.", "The answer.", cut=3))
    run = ask(home, url, "--save", "Hi")
    assert run.code == 0, run.stderr
    assert run.out == "The answer.\n"
    assert "Let me think." in run.stderr and "<think>" not in run.stderr
    [path] = (home / "data" / "conversations").glob("*.toml")
    reply = tomllib.loads(path.read_text("utf-8"))["messages"][-1]
    assert (reply["content"], reply["reasoning"]) == ("The answer.", "Let me think.")


def test_no_reasoning_keeps_stderr_quiet(home: Path, fake_server: FakeServer, url: str) -> None:
    fake_server.enqueue(reasoning_stream(THOUGHTS, ["Hello"]))
    run = ask(home, url, "--no-reasoning", "Hi")
    assert run.code == 0 and run.out == "Hello\n"
    assert "greet" not in run.stderr


def test_a_reply_that_only_thought_says_so(home: Path, fake_server: FakeServer, url: str) -> None:
    fake_server.enqueue(think_stream("Thinking and thinking", "", close=False,
                                     finish_reason="length"))
    run = ask(home, url, "Hi")
    assert run.code == 0
    assert run.out == "\n"
    assert "gave no answer" in run.stderr


def test_a_tool_call_is_said_and_exits_1(home: Path, fake_server: FakeServer, url: str) -> None:
    fake_server.enqueue(tool_call_stream([("get_weather", '{"city": "Paris"}')], index_base=1))
    run = ask(home, url, "Weather?")
    assert run.code == 1
    assert run.out == "\n"
    assert 'get_weather({"city": "Paris"}); llama-tui does not run tools' in run.stderr


def test_the_reasoning_effort_is_sent(home: Path, fake_server: FakeServer, url: str) -> None:
    fake_server.enqueue(chat_stream(["ok"]))
    run = ask(home, url, "--reasoning-effort", "off", "Hi")
    assert run.code == 0
    assert sent(fake_server)["reasoning_effort"] == "none"


def test_a_server_that_needs_a_model_gets_its_only_one(
    home: Path, fake_server: FakeServer, url: str,
) -> None:
    fake_server.route("GET", "/v1/models", models_list({"id": "only-model"}))
    fake_server.enqueue(model_required_400("ollama"))
    fake_server.enqueue(chat_stream(["fine"]))
    run = ask(home, url, "--save", "Hi")
    assert run.code == 0, run.stderr
    assert run.out == "fine\n" and "only-model" in run.stderr
    assert sent(fake_server)["model"] == "only-model"
    [path] = (home / "data" / "conversations").glob("*.toml")
    messages = tomllib.loads(path.read_text("utf-8"))["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]  # the refusal is not kept


def test_a_server_with_several_models_makes_ask_name_them(
    home: Path, fake_server: FakeServer, url: str,
) -> None:
    fake_server.route("GET", "/v1/models", models_list({"id": "alpha"}, {"id": "beta"}))
    fake_server.enqueue(model_required_400("openai"))
    run = ask(home, url, "Hi")
    assert run.code == 2
    assert "--model" in run.stderr and "alpha" in run.stderr and "beta" in run.stderr
