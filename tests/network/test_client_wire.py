"""The 2026 wire over a real socket (docs/design.md §3): reasoning in every server's shape, usage with
reasoning tokens, refusals the client learns from, models, tool calls, reasoning control."""

from __future__ import annotations

from typing import Any

import pytest

from llama_tui.client import (
    ApiError,
    Client,
    Finished,
    GenerationRequest,
    ModelInfo,
    ModelRequired,
    ReasoningDelta,
    ResponseStarted,
    TextDelta,
)
from llama_tui.model import Endpoint, GenerationParams
from tests.fakeserver import (
    MODEL_REQUIRED,
    REASONING_SHAPES,
    STREAM_OPTIONS_REFUSALS,
    FakeServer,
    chat_json,
    chat_stream,
    completion_stream,
    json_response,
    model_required_400,
    models_list,
    reasoning_stream,
    stream_options_400,
    think_stream,
    tool_call_stream,
    unsupported_max_tokens_400,
)
from tests.network.test_client_socket import CHAT, KEY, collect, endpoint, finished, text_of

THOUGHTS = ["The user ", "asks about ", "Paris… 🙂"]
ANSWER = ["Paris ", "is the ", "capital."]
USAGE = {"prompt_tokens": 12, "completion_tokens": 40, "total_tokens": 52,
         "completion_tokens_details": {"reasoning_tokens": 31}}


def reasoning_of(events: list[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, ReasoningDelta))


def kinds(events: list[Any]) -> list[str]:
    """The event sequence with runs collapsed: ["started", "reasoning", "text", "finished"]."""
    names = {ResponseStarted: "started", ReasoningDelta: "reasoning", TextDelta: "text",
             Finished: "finished"}
    out: list[str] = []
    for event in events:
        name = names[type(event)]
        if not out or out[-1] != name:
            out.append(name)
    return out


# -- reasoning ----------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", sorted(REASONING_SHAPES))
async def test_reasoning_in_each_server_shape(fake_server: FakeServer, shape: str) -> None:
    fake_server.enqueue(reasoning_stream(THOUGHTS, ANSWER, shape=shape))
    events, error = await collect(endpoint(fake_server))
    assert error is None, error
    assert reasoning_of(events) == "".join(THOUGHTS)
    assert text_of(events) == "".join(ANSWER)
    assert kinds(events) == ["started", "reasoning", "text", "finished"]
    assert not finished(events).reasoning_only


@pytest.mark.parametrize("cut", [1, 2, 3, 5, 8, [4, 12, 38]])
@pytest.mark.parametrize("lead", ["", "\n", "  \n"])
async def test_inline_think_cut_anywhere(fake_server: FakeServer, cut: Any, lead: str) -> None:
    """A server without a reasoning parser: the tags arrive cut (`<thi` + `nk>`)."""
    fake_server.enqueue(think_stream("Paris is the capital.", "Paris.", cut=cut, lead=lead))
    events, error = await collect(endpoint(fake_server))
    assert error is None, error
    assert (reasoning_of(events), text_of(events)) == ("Paris is the capital.", "Paris.")
    assert kinds(events) == ["started", "reasoning", "text", "finished"]


async def test_think_later_in_an_answer_is_text(fake_server: FakeServer) -> None:
    pieces = ["Wrap it in ", "<think>", "</think>", " tags."]
    fake_server.enqueue(chat_stream(pieces))
    events, error = await collect(endpoint(fake_server))
    assert error is None and text_of(events) == "".join(pieces)
    assert reasoning_of(events) == ""


async def test_a_reply_that_only_reasoned_inline(fake_server: FakeServer) -> None:
    """max_tokens spent inside <think>: Finished says so, no text came."""
    fake_server.enqueue(think_stream("count 1, 2, 3", "", close=False, finish_reason="length"))
    events, error = await collect(endpoint(fake_server))
    assert error is None, error
    done = finished(events)
    assert done.reasoning_only and done.finish_reason == "length"
    assert (reasoning_of(events), text_of(events)) == ("count 1, 2, 3", "")


async def test_a_reply_that_only_reasoned_in_fields(fake_server: FakeServer) -> None:
    fake_server.enqueue(reasoning_stream(THOUGHTS, [], finish_reason="length", usage=USAGE,
                                         usage_chunk=True))
    events, error = await collect(endpoint(fake_server))
    assert error is None, error
    done = finished(events)
    assert done.reasoning_only and done.usage is not None and done.usage.reasoning_tokens == 31


@pytest.mark.parametrize(("message", "reasoning"), [
    ({"reasoning_content": "Let me think."}, "Let me think."),
    ({"reasoning": "Let me think."}, "Let me think."),
    ({}, ""),
])
async def test_reasoning_in_a_json_reply(fake_server: FakeServer, message: dict[str, str],
                                         reasoning: str) -> None:
    body = {"id": "x", "object": "chat.completion", "model": "m", "choices": [
        {"index": 0, "finish_reason": "stop",
         "message": {"role": "assistant", "content": "Paris.", **message}}]}
    fake_server.enqueue(json_response(body))
    async with Client(endpoint(fake_server)) as client:
        reply = await client.complete(GenerationRequest(messages=CHAT.messages, stream=False))
    assert (reply.reasoning, reply.text) == (reasoning, "Paris.")


async def test_inline_think_in_a_json_reply(fake_server: FakeServer) -> None:
    fake_server.enqueue(chat_json("<think>\nhmm\n</think>\n\nParis."))
    async with Client(endpoint(fake_server)) as client:
        reply = await client.complete(GenerationRequest(messages=CHAT.messages, stream=False))
    assert (reply.reasoning, reply.text) == ("\nhmm\n", "Paris.")
    assert not reply.finished.reasoning_only


# -- usage ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("choices", [[], None])
async def test_usage_chunk_with_reasoning_tokens(fake_server: FakeServer, choices: Any) -> None:
    fake_server.enqueue(chat_stream(ANSWER, usage=USAGE, usage_chunk=True, usage_choices=choices))
    events, error = await collect(endpoint(fake_server))
    assert error is None, error
    usage = finished(events).usage
    assert usage is not None
    assert (usage.completion_tokens, usage.reasoning_tokens) == (40, 31)
    sent = fake_server.requests[-1].json()
    assert sent["stream_options"] == {"include_usage": True} and sent["stream"] is True


async def test_no_stream_options_for_completions_or_json(fake_server: FakeServer) -> None:
    ep = endpoint(fake_server)
    fake_server.enqueue(completion_stream(ANSWER), chat_json("ok"))
    async with Client(ep) as client:
        await client.complete(GenerationRequest("completion", prompt="x"))
        await client.complete(GenerationRequest(messages=CHAT.messages, stream=False))
    assert ["stream_options" in r.json() for r in fake_server.requests] == [False, False]


@pytest.mark.parametrize("shape", sorted(STREAM_OPTIONS_REFUSALS))
async def test_stream_options_refused_once_then_never_sent(fake_server: FakeServer,
                                                          shape: str) -> None:
    fake_server.enqueue(stream_options_400(shape), chat_stream(ANSWER), chat_stream(ANSWER))
    async with Client(endpoint(fake_server)) as client:
        for _ in range(2):
            reply = await client.complete(CHAT)
            assert reply.text == "".join(ANSWER)
            # what the inspector shows is what was sent last
            assert "stream_options" not in reply.started.body
        assert client.learned == {"stream_options": False}
    assert ["stream_options" in r.json() for r in fake_server.requests] == [True, False, False]


# -- max_tokens vs max_completion_tokens ----------------------------------------------------------

async def test_unsupported_max_tokens_switches_once_and_is_remembered(
        fake_server: FakeServer) -> None:
    request = GenerationRequest(messages=CHAT.messages, params=GenerationParams(max_tokens=300))
    fake_server.enqueue(unsupported_max_tokens_400(), chat_stream(ANSWER), chat_stream(ANSWER))
    async with Client(endpoint(fake_server)) as client:
        assert (await client.complete(request)).text == "".join(ANSWER)
        assert client.learned == {"max_tokens_field": "max_completion_tokens"}
        await client.complete(request)
    bodies = [r.json() for r in fake_server.requests]
    assert [b.get("max_tokens") for b in bodies] == [300, None, None]
    assert [b.get("max_completion_tokens") for b in bodies] == [None, 300, 300]


async def test_the_configured_field_is_sent_from_the_start(fake_server: FakeServer) -> None:
    fake_server.enqueue(chat_stream(ANSWER))
    ep = endpoint(fake_server, max_tokens_field="max_completion_tokens")
    _events, error = await collect(ep)
    assert error is None
    body = fake_server.requests[-1].json()
    assert "max_tokens" not in body and body["max_completion_tokens"] > 0


async def test_a_server_that_refuses_both_names_gets_two_tries(fake_server: FakeServer) -> None:
    fake_server.enqueue(unsupported_max_tokens_400(), unsupported_max_tokens_400(),
                        chat_stream(ANSWER))
    _events, error = await collect(endpoint(fake_server))
    assert isinstance(error, ApiError) and error.status == 400
    assert len(fake_server.requests) == 2


async def test_refusals_of_both_kinds_are_learned_in_one_request(fake_server: FakeServer) -> None:
    fake_server.enqueue(stream_options_400(), unsupported_max_tokens_400(), chat_stream(ANSWER))
    async with Client(endpoint(fake_server)) as client:
        assert (await client.complete(CHAT)).text == "".join(ANSWER)
        assert client.learned == {"stream_options": False,
                                  "max_tokens_field": "max_completion_tokens"}


# -- models ---------------------------------------------------------------------------------------

async def test_models_with_context_lengths(fake_server: FakeServer) -> None:
    fake_server.route("GET", "/v1/models", models_list(
        {"id": "qwen3.gguf", "owned_by": "llamacpp", "meta": {"n_ctx_train": 40960}},
        {"id": "Qwen/Qwen3-8B", "max_model_len": 32768},
        {"id": "plain"},
    ))
    async with Client(endpoint(fake_server)) as client:
        assert await client.models() == [ModelInfo("qwen3.gguf", 40960),
                                         ModelInfo("Qwen/Qwen3-8B", 32768), ModelInfo("plain")]
        assert await client.list_models() == ["qwen3.gguf", "Qwen/Qwen3-8B", "plain"]


@pytest.mark.parametrize("shape", sorted(MODEL_REQUIRED))
async def test_model_required_is_a_kind_of_its_own(fake_server: FakeServer, shape: str) -> None:
    fake_server.enqueue(model_required_400(shape))
    _events, error = await collect(endpoint(fake_server))
    assert isinstance(error, ModelRequired) and error.kind == "model_required"
    assert error.status == 400 and len(fake_server.requests) == 1  # not retried
    assert KEY not in str(error)


# -- tool calls -----------------------------------------------------------------------------------

CALLS = [("get_weather", '{"city": "Paris"}'), ("get_time", '{"tz": "CET"}')]


@pytest.mark.parametrize("options", [{}, {"index_base": 1}, {"omit_index": True},
                                     {"cut": 1}, {"split_bytes": 7}])
async def test_tool_calls_are_assembled(fake_server: FakeServer, options: dict[str, Any]) -> None:
    fake_server.enqueue(tool_call_stream(CALLS, **options))
    events, error = await collect(endpoint(fake_server))
    assert error is None, error
    done = finished(events)
    assert done.finish_reason == "tool_calls" and text_of(events) == ""
    assert [c.render() for c in done.tool_calls] == ['get_weather({"city": "Paris"})',
                                                     'get_time({"tz": "CET"})']


# -- reasoning control and Azure OpenAI v1 --------------------------------------------------------

@pytest.mark.parametrize(("control", "effort", "sent"), [
    ("reasoning_effort", "off", {"reasoning_effort": "none"}),
    ("reasoning_effort", "high", {"reasoning_effort": "high"}),
    ("chat_template_kwargs", "off", {"chat_template_kwargs": {"enable_thinking": False}}),
    ("chat_template_kwargs", "low", {"chat_template_kwargs": {"enable_thinking": True}}),
])
async def test_reasoning_control_on_the_wire(fake_server: FakeServer, control: str, effort: str,
                                             sent: dict[str, Any]) -> None:
    fake_server.enqueue(chat_stream(ANSWER))
    request = GenerationRequest(messages=CHAT.messages, reasoning_effort=effort)
    _events, error = await collect(endpoint(fake_server, reasoning_control=control), request)
    assert error is None
    body = fake_server.requests[-1].json()
    assert {k: body[k] for k in sent} == sent
    assert not {"reasoning_effort", "chat_template_kwargs"} - set(sent) & set(body)


async def test_azure_openai_v1_base_with_api_key(fake_server: FakeServer) -> None:
    fake_server.enqueue(chat_stream(ANSWER))
    ep = Endpoint("azure-v1", fake_server.base_url + "/openai/v1/", auth="api-key", api_key=KEY,
                  model="gpt-4o-mini")
    events, error = await collect(ep)
    assert error is None and text_of(events) == "".join(ANSWER)
    got = fake_server.requests[-1]
    assert (got.method, got.path, got.query) == ("POST", "/openai/v1/chat/completions", "")
    assert got.headers["api-key"] == KEY and "authorization" not in got.headers
    assert got.json()["model"] == "gpt-4o-mini"
