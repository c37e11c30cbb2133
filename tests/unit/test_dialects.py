"""The wire dialects (docs/design.md §3): URLs, headers, payloads, chunks and error bodies,
as servers send them."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llama_tui.client.dialects import (
    GenerationRequest,
    auth_headers,
    build_payload,
    error_from_body,
    models_url,
    parse_chunk,
    parse_retry_after,
    plain_delta,
    request_id_of,
    resolve_url,
)
from llama_tui.client.events import (
    KEY_HIDDEN,
    ApiError,
    CategoryResult,
    ContentFilterError,
    ContentFilterResult,
    ModelInfo,
    ModelRequired,
    StreamError,
    ToolCall,
    excerpt,
    hide_secret_at_end,
)
from llama_tui.client.negotiate import learn_from_error, parse_models
from llama_tui.model import DEFAULT_MAX_TOKENS, Endpoint, GenerationParams, Usage
from tests.fakeserver import MODEL_REQUIRED, STREAM_OPTIONS_REFUSALS

# -- resolve_url ------------------------------------------------------------------------------

AZURE_OAI = "https://r.openai.azure.com/openai/deployments/gpt4"


@pytest.mark.parametrize(
    ("pasted", "chat", "completion"),
    [
        # an origin, with or without a trailing slash
        ("https://my-llama.eastus2.inference.ai.azure.com",
         "https://my-llama.eastus2.inference.ai.azure.com/v1/chat/completions",
         "https://my-llama.eastus2.inference.ai.azure.com/v1/completions"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/v1/chat/completions",
         "http://127.0.0.1:8080/v1/completions"),
        # a /v1 base
        ("http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1/chat/completions",
         "http://127.0.0.1:8080/v1/completions"),
        ("http://localhost:11434/v1/", "http://localhost:11434/v1/chat/completions",
         "http://localhost:11434/v1/completions"),
        # a gateway's path prefix
        ("https://gw.example/llama", "https://gw.example/llama/v1/chat/completions",
         "https://gw.example/llama/v1/completions"),
        ("https://gw.example/team/llama/", "https://gw.example/team/llama/v1/chat/completions",
         "https://gw.example/team/llama/v1/completions"),
        # full routes: used as is, last part switched for the other mode
        ("https://x.example/v1/chat/completions", "https://x.example/v1/chat/completions",
         "https://x.example/v1/completions"),
        ("https://x.example/v1/completions/", "https://x.example/v1/chat/completions",
         "https://x.example/v1/completions"),
        # Azure OpenAI: no /v1, a query string that must survive
        (f"{AZURE_OAI}/chat/completions?api-version=2024-02-01",
         f"{AZURE_OAI}/chat/completions?api-version=2024-02-01",
         f"{AZURE_OAI}/completions?api-version=2024-02-01"),
        ("https://x.example/v1?api-version=2024-05-01-preview",
         "https://x.example/v1/chat/completions?api-version=2024-05-01-preview",
         "https://x.example/v1/completions?api-version=2024-05-01-preview"),
        ("  https://x.example/v1/chat/completions \n", "https://x.example/v1/chat/completions",
         "https://x.example/v1/completions"),
        # Azure OpenAI v1: a base ending in /openai/v1/, no api-version
        ("https://res.openai.azure.com/openai/v1/",
         "https://res.openai.azure.com/openai/v1/chat/completions",
         "https://res.openai.azure.com/openai/v1/completions"),
    ],
)
def test_resolve_url_forms(pasted: str, chat: str, completion: str) -> None:
    assert resolve_url(pasted, "chat") == chat
    assert resolve_url(pasted, "completion") == completion


def test_resolve_url_switching_back_and_forth_is_stable() -> None:
    url = "https://gw.example/llama/v1/chat/completions?api-version=1"
    there = resolve_url(url, "completion")
    assert there == "https://gw.example/llama/v1/completions?api-version=1"
    assert resolve_url(there, "chat") == url
    assert resolve_url(resolve_url(url, "chat"), "chat") == url


# -- auth_headers -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("auth", "expected"),
    [
        ("bearer", {"Authorization": "Bearer sk-1"}),
        ("raw", {"Authorization": "sk-1"}),
        ("api-key", {"api-key": "sk-1"}),
    ],
)
def test_auth_headers_schemes_with_extra_headers(auth: str, expected: dict[str, str]) -> None:
    extra = {"azureml-model-deployment": "llama-2-7b-chat-18", "X-Team": "a"}
    endpoint = Endpoint("e", "https://x.example", auth=auth, api_key="sk-1",  # type: ignore[arg-type]
                        headers=extra)
    assert auth_headers(endpoint) == {**extra, **expected}
    assert endpoint.headers == extra  # not mutated


def test_auth_headers_without_key_sends_no_auth() -> None:
    endpoint = Endpoint("e", "http://127.0.0.1:8080", headers={"X-A": "1"})
    assert auth_headers(endpoint) == {"X-A": "1"}


# -- build_payload ----------------------------------------------------------------------------

def test_build_payload_chat_defaults() -> None:
    messages = [{"role": "user", "content": "Hi"}]
    body = build_payload(Endpoint("e", "u"), GenerationRequest(messages=messages))
    assert body == {"messages": messages, "max_tokens": DEFAULT_MAX_TOKENS, "stream": True,
                    "stream_options": {"include_usage": True}}
    # a JSON boolean, never the Azure sample's string "True"
    assert '"stream": true' in json.dumps(body)


def test_azure_openai_v1_lists_models_next_to_its_routes() -> None:
    assert models_url("https://res.openai.azure.com/openai/v1/") == \
        "https://res.openai.azure.com/openai/v1/models"


def test_build_payload_sends_stream_options_only_when_streaming_chat() -> None:
    ep = Endpoint("e", "u")
    assert "stream_options" not in build_payload(ep, GenerationRequest(stream=False))
    assert "stream_options" not in build_payload(ep, GenerationRequest("completion", prompt="x"))
    assert "stream_options" not in build_payload(ep, GenerationRequest(),
                                                 {"stream_options": False})


@pytest.mark.parametrize(("configured", "learned", "field"), [
    (None, {}, "max_tokens"),
    ("max_completion_tokens", {}, "max_completion_tokens"),
    (None, {"max_tokens_field": "max_completion_tokens"}, "max_completion_tokens"),
    ("max_completion_tokens", {"max_tokens_field": "max_tokens"}, "max_tokens"),  # learned wins
])
def test_build_payload_max_tokens_field(configured: str | None, learned: dict[str, str],
                                        field: str) -> None:
    ep = Endpoint("e", "u", max_tokens_field=configured)  # type: ignore[arg-type]
    body = build_payload(ep, GenerationRequest(params=GenerationParams(max_tokens=77)), learned)
    other = {"max_tokens", "max_completion_tokens"} - {field}
    assert body[field] == 77 and not other & set(body)


@pytest.mark.parametrize(("effort", "control", "expected"), [
    (None, "reasoning_effort", {}),
    ("off", "reasoning_effort", {"reasoning_effort": "none"}),
    ("low", "reasoning_effort", {"reasoning_effort": "low"}),
    ("high", "reasoning_effort", {"reasoning_effort": "high"}),
    ("minimal", "reasoning_effort", {"reasoning_effort": "minimal"}),  # passed on as is
    (None, "chat_template_kwargs", {}),
    ("off", "chat_template_kwargs", {"chat_template_kwargs": {"enable_thinking": False}}),
    ("medium", "chat_template_kwargs", {"chat_template_kwargs": {"enable_thinking": True}}),
])
def test_build_payload_reasoning_control(effort: str | None, control: str,
                                         expected: dict[str, object]) -> None:
    ep = Endpoint("e", "u", reasoning_control=control)  # type: ignore[arg-type]
    body = build_payload(ep, GenerationRequest(reasoning_effort=effort))
    assert {k: v for k, v in body.items()
            if k in ("reasoning_effort", "chat_template_kwargs")} == expected


def test_build_payload_completion_with_all_params() -> None:
    params = GenerationParams(temperature=0.0, top_p=0.9, max_tokens=64, stop=["</s>"], seed=7,
                              presence_penalty=0.5, frequency_penalty=-0.5)
    endpoint = Endpoint("e", "u", model="llama-2-7b-chat")
    body = build_payload(endpoint, GenerationRequest("completion", prompt="[INST] x [/INST]",
                                                     params=params, stream=False))
    assert body == {
        "model": "llama-2-7b-chat", "prompt": "[INST] x [/INST]", "temperature": 0.0,
        "top_p": 0.9, "max_tokens": 64, "stop": ["</s>"], "seed": 7, "presence_penalty": 0.5,
        "frequency_penalty": -0.5, "stream": False,
    }
    assert "messages" not in body
    assert '"stream": false' in json.dumps(body)


def test_build_payload_omits_empty_stop_and_unset_model() -> None:
    body = build_payload(Endpoint("e", "u"),
                         GenerationRequest(params=GenerationParams(stop=[], temperature=0.2)))
    assert "stop" not in body and "model" not in body
    assert body["max_tokens"] == DEFAULT_MAX_TOKENS and body["temperature"] == 0.2


# -- parse_chunk ------------------------------------------------------------------------------

def _delta(content: object, finish: object = None, **extra: object) -> dict[str, object]:
    return {"id": "", "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": content},
                         "finish_reason": finish, **extra}]}


def test_parse_chunk_openai_delta_with_role_repeated() -> None:
    info = parse_chunk(_delta("Hello"))
    assert (info.text, info.finish_reason, info.usage, info.content_filter) == (
        "Hello", None, None, None)


def test_parse_chunk_finish_reason_on_the_last_content_chunk() -> None:
    info = parse_chunk(_delta(" world", "length"))
    assert (info.text, info.finish_reason) == (" world", "length")


@pytest.mark.parametrize(
    "chunk",
    [
        {"choices": [], "usage": None},
        # Azure's prompt annotation chunk, first in the stream
        {"id": "", "object": "", "created": 0, "model": "", "choices": [],
         "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {
             "hate": {"filtered": False, "severity": "safe"}}}]},
        {"choices": [{"index": 0, "finish_reason": None}]},  # no delta at all
        _delta(None),  # content: null
        {"choices": [{"index": 0, "delta": {}, "finish_reason": ""}]},  # TGI's "" finish
        {"choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": None}]},
        "not a dict", None, {"choices": "nope"},
    ],
)
def test_parse_chunk_chunks_that_carry_nothing(chunk: object) -> None:
    info = parse_chunk(chunk)
    assert (info.text, info.finish_reason, info.usage, info.content_filter) == ("", None, None, None)


def test_parse_chunk_usage_only_chunk() -> None:
    info = parse_chunk({"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 12,
                                                  "total_tokens": 21}})
    assert info.usage == Usage(9, 12, 21) and info.text == "" and info.finish_reason is None


def test_parse_chunk_empty_delta_finish_with_usage() -> None:
    info = parse_chunk({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                        "usage": {"completion_tokens": 3}})
    assert (info.text, info.finish_reason, info.usage) == ("", "stop", Usage(None, 3, None))


def test_parse_chunk_completion_text_and_whole_message() -> None:
    completion = {"object": "text_completion",
                  "choices": [{"index": 0, "text": " Paris.", "finish_reason": None,
                               "logprobs": None}]}
    assert parse_chunk(completion).text == " Paris."
    whole = {"object": "chat.completion",
             "choices": [{"index": 0, "message": {"role": "assistant", "content": "Done."},
                          "finish_reason": "stop"}],
             "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}
    info = parse_chunk(whole)
    assert (info.text, info.finish_reason, info.usage) == ("Done.", "stop", Usage(5, 2, 7))


def test_parse_chunk_ignores_other_choices() -> None:
    chunk = {"choices": [{"index": 1, "delta": {"content": "B"}},
                         {"index": 0, "delta": {"content": "A"}}]}
    assert parse_chunk(chunk).text == "A"


def test_parse_chunk_content_filter_finish_with_results() -> None:
    chunk = _delta(None, "content_filter", content_filter_results={
        "hate": {"filtered": False, "severity": "safe"},
        "self_harm": {"filtered": False, "severity": "safe"},
        "violence": {"filtered": True, "severity": "medium"},
    })
    info = parse_chunk(chunk)
    assert info.finish_reason == "content_filter"
    assert info.content_filter is not None
    assert info.content_filter.tripped == (CategoryResult("violence", True, "medium"),)
    assert info.content_filter.summary() == "violence: severity medium, filtered"


def test_parse_chunk_content_filter_finish_without_results() -> None:
    info = parse_chunk(_delta(None, "content_filter"))
    assert info.content_filter == ContentFilterResult()
    assert info.content_filter.summary() == "no category given"


def test_parse_chunk_results_on_a_normal_chunk_are_not_a_filter_hit() -> None:
    chunk = _delta("ok", None, content_filter_results={"hate": {"filtered": False,
                                                                "severity": "safe"}})
    assert parse_chunk(chunk).content_filter is None


# -- the 2026 wire: reasoning, tool calls, usage details ----------------------------------------

@pytest.mark.parametrize("delta", [
    {"reasoning_content": "think", "content": None},  # llama.cpp, DeepSeek
    {"reasoning": "think"},  # vLLM 0.11+
    {"role": "assistant", "content": "", "reasoning": "think"},  # Ollama
    {"reasoning_content": "think", "reasoning": "think"},  # both spellings: kept once
    {"reasoning_content": "", "reasoning": "think"},
])
def test_parse_chunk_reasoning_fields(delta: dict[str, object]) -> None:
    info = parse_chunk({"choices": [{"index": 0, "delta": delta}]})
    assert (info.reasoning, info.text) == ("think", "")
    assert plain_delta({"choices": [{"index": 0, "delta": delta}]}) is None


@pytest.mark.parametrize("message", [
    {"role": "assistant", "content": "42", "reasoning_content": "think"},
    {"role": "assistant", "content": "42", "reasoning": "think"},
])
def test_parse_chunk_reasoning_in_a_whole_message(message: dict[str, object]) -> None:
    info = parse_chunk({"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})
    assert (info.reasoning, info.text, info.finish_reason) == ("think", "42", "stop")


def test_parse_chunk_tool_call_fragments_and_usage_details() -> None:
    fragment = {"index": 0, "id": "c", "function": {"name": "f", "arguments": ""}}
    info = parse_chunk({"choices": [{"index": 0, "delta": {"tool_calls": [fragment]}}]})
    assert info.tool_calls == [fragment]
    usage = {"prompt_tokens": 5, "completion_tokens": 90, "total_tokens": 95,
             "completion_tokens_details": {"reasoning_tokens": 64}}
    for choices in ([], None):  # some vLLM versions send null
        info = parse_chunk({"choices": choices, "usage": usage})
        assert info.usage == Usage(5, 90, 95, reasoning_tokens=64)


def test_usage_details_that_are_not_numbers_are_ignored() -> None:
    usage = Usage.from_json({"completion_tokens": 3,
                             "completion_tokens_details": {"reasoning_tokens": True}})
    assert usage == Usage(completion_tokens=3)
    assert Usage.from_json({"completion_tokens_details": None}) is None


def test_tool_call_render() -> None:
    assert ToolCall("get_weather", '{"city":"Paris"}').render() == 'get_weather({"city": "Paris"})'
    assert ToolCall("f", '{"cut": "Par').render() == 'f({"cut": "Par)'  # not JSON: as sent
    assert ToolCall("now", "").render() == "now()"


# -- learning from refusals, model required, model lists --------------------------------------

def _error(status: int, body: object) -> ApiError:
    return error_from_body(status, json.dumps(body), {})


@pytest.mark.parametrize("shape", sorted(STREAM_OPTIONS_REFUSALS))
def test_learn_stream_options_refused(shape: str) -> None:
    body = build_payload(Endpoint("e", "u"), GenerationRequest())
    error = _error(400, STREAM_OPTIONS_REFUSALS[shape])
    assert learn_from_error(error, body) == ("stream_options", False)
    body.pop("stream_options")
    assert learn_from_error(error, body) is None  # not sent: nothing to learn


def test_learn_max_completion_tokens_from_openai() -> None:
    body = build_payload(Endpoint("e", "u"), GenerationRequest())
    error = _error(400, {"error": {
        "message": "Unsupported parameter: 'max_tokens' is not supported with this model. "
                   "Use 'max_completion_tokens' instead.",
        "type": "invalid_request_error", "param": "max_tokens", "code": "unsupported_parameter"}})
    assert learn_from_error(error, body) == ("max_tokens_field", "max_completion_tokens")


def test_learn_max_tokens_back_from_a_server_that_refuses_the_new_name() -> None:
    body = build_payload(Endpoint("e", "u", max_tokens_field="max_completion_tokens"),
                         GenerationRequest())
    error = _error(422, {"detail": [{"type": "extra_forbidden",
                                     "loc": ["body", "max_completion_tokens"],
                                     "msg": "Extra inputs are not permitted"}]})
    assert learn_from_error(error, body) == ("max_tokens_field", "max_tokens")


@pytest.mark.parametrize(("status", "body"), [
    (400, {"error": {"message": "max_tokens must be at most 4096", "param": "max_tokens"}}),
    (400, {"error": "This model's maximum context length is 4096 tokens. However, you "
                    "requested 5000 tokens (1000 in the messages, 4000 in max_tokens)."}),
    (500, {"error": {"message": "Unsupported parameter: 'max_tokens'"}}),
    (400, {"error": {"message": "Invalid value for 'temperature'", "param": "temperature"}}),
])
def test_learn_nothing_from_other_errors(status: int, body: object) -> None:
    payload = build_payload(Endpoint("e", "u"), GenerationRequest())
    assert learn_from_error(_error(status, body), payload) is None


@pytest.mark.parametrize("shape", sorted(MODEL_REQUIRED))
def test_model_required_is_its_own_kind(shape: str) -> None:
    error = _error(400, MODEL_REQUIRED[shape])
    assert isinstance(error, ModelRequired) and error.kind == "model_required"
    assert error.status == 400


@pytest.mark.parametrize("body", [
    {"error": {"message": "The model `llama` does not exist.", "code": "model_not_found"}},
    {"error": "model 'llama3' not found, try pulling it first"},
    {"error": {"message": "Invalid model parameter", "param": "model"}},
])
def test_other_model_errors_are_not_model_required(body: object) -> None:
    assert not isinstance(_error(400, body), ModelRequired)
    assert not isinstance(_error(404, body), ModelRequired)


def test_model_required_inside_a_stream_stays_a_stream_error() -> None:
    error = error_from_body(200, json.dumps(MODEL_REQUIRED["openai"]), {}, in_stream=True)
    assert isinstance(error, StreamError)


def test_parse_models_with_context_lengths() -> None:
    data = {"object": "list", "data": [
        {"id": "qwen3-8b.gguf", "object": "model", "owned_by": "llamacpp",
         "meta": {"vocab_type": 2, "n_vocab": 151936, "n_ctx_train": 40960, "n_embd": 4096}},
        {"id": "Qwen/Qwen3-8B", "object": "model", "max_model_len": 32768, "root": "Qwen/Qwen3-8B"},
        {"id": "deepseek/deepseek-r1", "context_length": 163840},
        {"id": "gpt-4o", "object": "model", "created": 1, "owned_by": "system"},
        {"id": "weird", "context_length": "big", "max_model_len": True},
        "not a model",
    ]}
    assert parse_models(data) == [
        ModelInfo("qwen3-8b.gguf", 40960), ModelInfo("Qwen/Qwen3-8B", 32768),
        ModelInfo("deepseek/deepseek-r1", 163840), ModelInfo("gpt-4o"), ModelInfo("weird")]
    assert parse_models({"models": [{"name": "llama3:8b", "model": "llama3:8b"}]}) == \
        [ModelInfo("llama3:8b")]
    assert parse_models({"data": "nope"}) == [] and parse_models([1]) == []


_scalar = st.one_of(st.none(), st.booleans(), st.integers(-1, 2), st.text(max_size=3))
_usage = st.one_of(st.none(), st.fixed_dictionaries({"completion_tokens": st.integers(0, 9)}))
_fragment = st.fixed_dictionaries({"index": st.integers(0, 1)},
                                  optional={"function": st.fixed_dictionaries(
                                      {"arguments": st.text(max_size=3)})})
_delta_obj = st.dictionaries(
    st.sampled_from(["content", "role", "tool_calls", "reasoning_content", "reasoning"]),
    st.one_of(_scalar, st.text(max_size=5), st.lists(_fragment, max_size=2)), max_size=4)
_choice = st.dictionaries(
    st.sampled_from(["index", "delta", "message", "text", "finish_reason", "logprobs",
                     "content_filter_results"]),
    st.one_of(_scalar, _delta_obj), max_size=5)
_chunk = st.one_of(
    _scalar,
    st.fixed_dictionaries({"choices": st.one_of(st.lists(_choice, max_size=2), _scalar)},
                          optional={"usage": _usage, "id": st.text(max_size=3)}),
    # the usual chunk with any keys changed or added
    st.builds(lambda extra, usage: {"choices": [{"index": 0, "delta": {"content": "x"},
                                                 "finish_reason": None, **extra}], **usage},
              _choice, st.dictionaries(st.just("usage"), _usage)),
    # the usual delta with reasoning or tool-call keys added (null, empty, or set)
    st.builds(lambda extra: {"choices": [{"index": 0, "delta": {"content": "x", **extra}}]},
              _delta_obj),
)


@given(_chunk)
def test_plain_delta_agrees_with_parse_chunk(chunk: object) -> None:
    """The fast path reads a chunk only when parse_chunk would find that text and nothing else."""
    text = plain_delta(chunk)
    if text is not None:
        info = parse_chunk(chunk)
        assert (info.text, info.finish_reason, info.usage, info.content_filter, info.reasoning,
                info.tool_calls) == (text, None, None, None, "", [])


def test_plain_delta_takes_the_usual_chunk_and_leaves_the_rest() -> None:
    assert plain_delta(_delta("Hi", None)) == "Hi"
    assert plain_delta({"choices": [{"index": 0, "delta": {"role": "assistant",
                                                           "content": ""}}]}) == ""
    assert plain_delta(_delta("end", "stop")) is None  # a finish reason: the full reader
    assert plain_delta({**_delta("x"), "usage": {"completion_tokens": 3}}) is None
    assert plain_delta({"choices": [{"index": 1, "delta": {"content": "other"}}]}) is None
    assert plain_delta({"choices": [{"index": 0, "text": "completion"}]}) is None
    both = {"index": 0, "delta": {"content": "a"}}  # parse_chunk joins every holder's text
    assert plain_delta({"choices": [{**both, "text": "b"}]}) is None
    assert plain_delta({"choices": [{**both, "message": {"content": "b"}}]}) is None
    # reasoning and tool calls beside the content: the full reader, so nothing is lost
    assert plain_delta({"choices": [{"delta": {"content": "", "reasoning": "r"}}]}) is None
    assert plain_delta({"choices": [{"delta": {"content": "a", "tool_calls": [{}]}}]}) is None
    # OpenRouter's nulls in every delta do not leave the fast path
    assert plain_delta({"choices": [{"delta": {"role": "assistant", "content": "a",
                                               "reasoning": None, "tool_calls": []}}]}) == "a"


# -- error_from_body --------------------------------------------------------------------------

@pytest.mark.parametrize(("code", "text"), [(400, "400"), ("invalid_api_key", "invalid_api_key")])
def test_error_openai_shape(code: object, text: str) -> None:
    body = json.dumps({"error": {"message": "Incorrect API key provided",
                                 "type": "invalid_request_error", "code": code, "param": None}})
    error = error_from_body(401, body, {"x-request-id": "req-1", "date": "Tue, 01 Jul 2025"})
    assert type(error) is ApiError
    assert (error.status, error.message, error.code, error.type, error.param) == (
        401, "Incorrect API key provided", text, "invalid_request_error", None)
    assert (error.request_id, error.date) == ("req-1", "Tue, 01 Jul 2025")
    assert error.details() == [f"HTTP 401: Incorrect API key provided ({text})",
                               "request id: req-1", "date: Tue, 01 Jul 2025"]
    assert str(error) == " · ".join(error.details())


def test_error_string_error_shape() -> None:
    error = error_from_body(404, '{"error": "model \\"llama2\\" not found, try pulling it first"}', {})
    assert error.message == 'model "llama2" not found, try pulling it first'
    assert error.code is None
    assert str(error) == 'HTTP 404: model "llama2" not found, try pulling it first'


def test_error_flat_shape() -> None:
    body = json.dumps({"status": "error", "code": 424, "message": "upstream model failed"})
    error = error_from_body(424, body, {})
    assert (error.message, error.code) == ("upstream model failed", "424")


def test_error_vllm_flat_object_error() -> None:
    body = json.dumps({"object": "error", "message": "max_tokens is too large", "param": None,
                       "type": "BadRequestError", "code": 400})
    error = error_from_body(400, body, {})
    assert (error.message, error.type, error.code) == (
        "max_tokens is too large", "BadRequestError", "400")


def test_error_fastapi_detail() -> None:
    assert error_from_body(404, '{"detail": "Not Found"}', {}).message == "Not Found"


def test_error_html_gateway_page_uses_its_title() -> None:
    body = ("<html><head><style>body{color:red}</style><title>\n 502 Bad Gateway </title>"
            "</head><body><h1>502 Bad Gateway</h1><hr><center>nginx</center></body></html>")
    error = error_from_body(502, body, {"apim-request-id": "apim-7"})
    assert error.message == "502 Bad Gateway"
    assert error.request_id == "apim-7"
    assert error.body == body


def test_error_plain_text_body_is_one_short_line() -> None:
    error = error_from_body(500, "Internal\n  Server\tError " + "x" * 400, {})
    assert error.message.startswith("Internal Server Error x")
    assert len(error.message) == 300 and error.message.endswith("...")


@pytest.mark.parametrize("body", ["", "   \n"])
def test_error_empty_body(body: str) -> None:
    assert error_from_body(503, body, {}).message == "the server answered 503 with an empty body"


@pytest.mark.parametrize("body", [
    json.dumps({"error": {"message": "the model crashed", "type": "server_error", "code": 500}}),
    json.dumps({"error": "the model crashed"}), "the model crashed", "<title>the model crashed</title>",
])
def test_error_in_stream_is_a_stream_error(body: str) -> None:
    error = error_from_body(200, body, {}, in_stream=True)
    assert isinstance(error, StreamError) and error.message == "the model crashed"


AZURE_FILTER_RESULTS = {
    "hate": {"filtered": False, "severity": "safe"},
    "jailbreak": {"filtered": False, "detected": False},
    "self_harm": {"filtered": False, "severity": "safe"},
    "sexual": {"filtered": False, "severity": "safe"},
    "violence": {"filtered": True, "severity": "medium"},
}


@pytest.mark.parametrize("inner_key", ["innererror", "inner_error"])
@pytest.mark.parametrize("results_key", ["content_filter_result", "content_filter_results"])
def test_error_azure_content_filter_spellings(inner_key: str, results_key: str) -> None:
    body = json.dumps({"error": {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's "
                   "content management policy.",
        "type": None, "param": "prompt", "code": "content_filter", "status": 400,
        inner_key: {"code": "ResponsibleAIPolicyViolation", results_key: AZURE_FILTER_RESULTS},
    }})
    error = error_from_body(400, body, {"apim-request-id": "a-1", "x-ms-region": "East US"})
    assert isinstance(error, ContentFilterError)
    assert error.code == "content_filter" and error.param == "prompt"
    assert error.request_id == "a-1"
    assert error.result.tripped == (CategoryResult("violence", True, "medium"),)
    assert len(error.result.categories) == 5
    assert error.details()[1] == "content filter: violence: severity medium, filtered"


def test_error_content_filter_self_harm_key_and_no_code() -> None:
    body = json.dumps({"error": {"message": "blocked", "innererror": {
        "content_filter_result": {"self-harm": {"filtered": True, "severity": "high"}}}}})
    error = error_from_body(400, body, {})
    assert isinstance(error, ContentFilterError)
    assert error.result.summary() == "self harm: severity high, filtered"


def test_error_content_filter_code_without_results() -> None:
    body = json.dumps({"error": {"message": "blocked", "code": "content_filter"}})
    error = error_from_body(400, body, {})
    assert isinstance(error, ContentFilterError)
    assert error.result.summary() == "no category given"


# -- headers ----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-request-id": "r1", "apim-request-id": "a1"}, "r1"),
        ({"apim-request-id": "a1", "x-ms-request-id": "m1"}, "a1"),
        ({"x-ms-request-id": "m1"}, "m1"),
        ({"x-ms-client-request-id": "c1"}, "c1"),
        ({"x-ms-correlation-request-id": "corr"}, "corr"),
        ({"x-ms-region": "East US"}, None),
        ({"x-request-id": ""}, None),
        ({}, None),
    ],
)
def test_request_id_from_headers(headers: dict[str, str], expected: str | None) -> None:
    assert request_id_of(headers) == expected
    assert error_from_body(500, "", headers).request_id == expected


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"x-ms-retry-after-ms": "100"}, 0.1),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, None),
        ({"retry-after-ms": "soon", "retry-after": "2"}, 2.0),
        ({"retry-after": "-1"}, None),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], seconds: float | None) -> None:
    if seconds is None:
        assert parse_retry_after(headers) is None
    else:
        assert parse_retry_after(headers) == pytest.approx(seconds)
    assert error_from_body(429, "", headers).retry_after == parse_retry_after(headers)


def test_error_details_with_retry_after_and_code_already_in_message() -> None:
    body = json.dumps({"error": {"code": "429", "message": "Rate limit exceeded (429)."}})
    error = error_from_body(429, body, {"retry-after": "2", "date": "D"})
    assert error.details() == ["HTTP 429: Rate limit exceeded (429).", "date: D",
                               "server asks to retry after 2 s"]


def test_error_details_without_status() -> None:
    assert ApiError("could not connect").details() == ["could not connect"]


# -- content filter wording ---------------------------------------------------------------------

def test_summary_shows_tripped_categories_only() -> None:
    result = ContentFilterResult((
        CategoryResult("hate", False, "safe"),
        CategoryResult("self_harm", True, "low"),
        CategoryResult("jailbreak", True, None, True),
    ))
    assert result.summary() == "self harm: severity low, filtered; jailbreak: detected, filtered"


def test_summary_shows_all_categories_when_none_tripped() -> None:
    result = ContentFilterResult((CategoryResult("sexual", False, "medium"),
                                  CategoryResult("jailbreak", False, None, False),
                                  CategoryResult("profanity", False)))
    assert result.summary() == ("sexual: severity medium; jailbreak: not detected; "
                                "profanity: severity unknown")


# -- secrets in cut error text --------------------------------------------------------------------

KEY40 = "sk-" + "aB3dE5fG7hJ9kL1mN2pQ4rS6tU8vW0xY" + "z1234"


@pytest.mark.parametrize("at", range(260, 301))
def test_a_key_in_an_error_page_is_hidden_before_the_cut(at: int) -> None:
    page = "<p>" + "v" * (at - 3) + KEY40 + " rejected" + " pad" * 100 + "</p>"
    error = error_from_body(401, page, {}, secrets=[KEY40])
    for text in (error.message, error.body or ""):
        assert not any(KEY40[:n] in text for n in range(8, len(KEY40) + 1)), text
    assert len(error.message) <= 300 + len(KEY_HIDDEN)


def test_excerpt_hides_a_key_prefix_only_at_the_cut_and_only_from_8_characters() -> None:
    assert excerpt("a" * 10 + KEY40, 20, [KEY40]) == "a" * 10 + KEY_HIDDEN[:7] + "..."
    # A text holding only the key's beginning (cut before, as a body at its 1 MiB cap is).
    assert excerpt("a" * 5 + KEY40[:20], 20, [KEY40]) == "a" * 5 + KEY_HIDDEN + "..."
    assert excerpt("a" * 13 + KEY40[:20], 20, [KEY40]) == "a" * 13 + KEY40[:4] + "..."  # short
    assert excerpt("short", 20, [KEY40]) == "short"
    assert hide_secret_at_end("x" + KEY40[:8], [KEY40]) == "x" + KEY_HIDDEN
    assert hide_secret_at_end("x" + KEY40[:7], [KEY40]) == "x" + KEY40[:7]


def test_a_json_error_message_is_hidden_and_cut() -> None:
    body = json.dumps({"error": {"message": "bad key " + KEY40 + " " + "z" * 5000}})
    error = error_from_body(401, body, {}, secrets=[KEY40])
    assert error.message.startswith("bad key " + KEY_HIDDEN) and len(error.message) <= 2000


def test_model_lists_keep_string_ids_only() -> None:
    from llama_tui.client.negotiate import parse_models

    data = {"data": [{"id": "good"}, {"id": None}, {"id": {"x": 1}}, {"id": ["a"]},
                     {"id": 12345}, {"id": "x" * 1000}, "not a dict"]}
    assert [m.id for m in parse_models(data)] == ["good"]
