"""The wire dialects (DESIGN §3): URLs, headers, payloads, chunks and error bodies, as servers send them."""

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
    StreamError,
    excerpt,
    hide_secret_at_end,
)
from llama_tui.model import DEFAULT_MAX_TOKENS, Endpoint, GenerationParams, Usage

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


_scalar = st.one_of(st.none(), st.booleans(), st.integers(-1, 2), st.text(max_size=3))
_usage = st.one_of(st.none(), st.fixed_dictionaries({"completion_tokens": st.integers(0, 9)}))
_delta_obj = st.dictionaries(st.sampled_from(["content", "role", "tool_calls"]),
                             st.one_of(_scalar, st.text(max_size=5)), max_size=3)
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
)


@given(_chunk)
def test_plain_delta_agrees_with_parse_chunk(chunk: object) -> None:
    """The fast path reads a chunk only when parse_chunk would find that text and nothing else."""
    text = plain_delta(chunk)
    if text is not None:
        info = parse_chunk(chunk)
        assert (info.text, info.finish_reason, info.usage, info.content_filter) == \
            (text, None, None, None)


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
