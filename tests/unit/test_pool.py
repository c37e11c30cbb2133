"""The app's client pool: one client per endpoint and model, learned facts carried over to a
changed endpoint's new client, the model list asked once per session."""

from __future__ import annotations

from dataclasses import replace

import pytest

from llama_tui.client import ApiError, GenerationRequest
from llama_tui.client.pool import ClientPool
from llama_tui.model import Endpoint
from tests.fakeserver import FakeServer
from tests.fakeserver.scripts import chat_stream, error_response, models_list


async def test_a_changed_endpoint_gets_a_new_client_that_knows_what_the_old_learned(
    fake_server: FakeServer,
) -> None:
    pool = ClientPool()
    endpoint = Endpoint("o", f"{fake_server.base_url}/v1")
    first = pool.get(endpoint)
    assert pool.get(replace(endpoint)) is first  # equal: the same client
    first.learned["max_tokens_field"] = "max_completion_tokens"
    other_model = pool.get(replace(endpoint, model="b"))
    edited = pool.get(replace(endpoint, read_timeout=30))
    assert other_model is not first and edited is not first
    assert edited.learned == other_model.learned == {"max_tokens_field": "max_completion_tokens"}
    assert pool.get(replace(endpoint, model="b")) is other_model  # one per model
    fake_server.enqueue(chat_stream(["hi"]))
    async for _ in edited.stream(GenerationRequest(messages=[{"role": "user", "content": "x"}])):
        pass
    assert "max_completion_tokens" in fake_server.requests[-1].json()
    await pool.aclose()


async def test_the_model_list_is_asked_once_and_a_failure_is_not_kept(
    fake_server: FakeServer,
) -> None:
    pool = ClientPool()
    endpoint = Endpoint("local", f"{fake_server.base_url}/v1")
    fake_server.route("GET", "/v1/models", error_response(503, {"error": "loading"}))
    with pytest.raises(ApiError):
        await pool.models(replace(endpoint, max_retries=0))
    assert pool.cached_models(endpoint) is None
    fake_server.route("GET", "/v1/models",
                      models_list({"id": "a", "meta": {"n_ctx_train": 4096}}, {"id": "b"}))
    models = await pool.models(endpoint)
    assert [(m.id, m.context_length) for m in models] == [("a", 4096), ("b", None)]
    assert await pool.models(replace(endpoint, model="a")) is models
    asked = [r for r in fake_server.requests if r.path.endswith("/models")]
    assert len(asked) == 2 and pool.cached_models(endpoint) is models
    await pool.aclose()
