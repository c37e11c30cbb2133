"""What differs per server and is found out at run time (docs/design.md §3 "Models", "Usage").

Pure functions: which request field a server refused (`stream_options`, `max_tokens` vs
`max_completion_tokens`) and what to send instead, whether an error says a `model` is
required, and the model list with context lengths.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from llama_tui.client.events import ApiError, ModelInfo

_REFUSED = re.compile(r"unsupported|not supported|unrecogni[sz]ed|unknown|not permitted|"
                      r"not allowed|extra (inputs|fields)|invalid (field|param|argument)", re.I)


def learn_from_error(error: ApiError, body: Mapping[str, Any]) -> tuple[str, Any] | None:
    """What to change (a `Client.learned` key and value) so that a request `error` refused
    goes through: drop `stream_options`, or switch `max_tokens` <-> `max_completion_tokens`.
    None when the error is about something else."""
    if error.status not in (400, 422):
        return None
    said = f"{error.param or ''} {error.message}"
    if "stream_options" in body and "stream_options" in said:
        return "stream_options", False
    field = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
    other = "max_tokens" if field == "max_completion_tokens" else "max_completion_tokens"
    names_field = error.param == field or re.search(rf"\b{field}\b", error.message)
    if names_field and (error.code == "unsupported_parameter" or _REFUSED.search(said)
                        or f"'{other}'" in error.message):
        return "max_tokens_field", other
    return None


#: OpenAI "you must provide a model parameter", Ollama "model is required", vLLM / FastAPI
#: validation "('body', 'model') ... Field required", Azure "Missing required parameter: 'model'".
_MODEL_REQUIRED = re.compile(
    r"must (provide|specify) a model|\bmodel\W{0,3}(parameter |field )?is required|"
    r"missing required (parameter|field)\W{0,3}model\b|"
    r"\bbody\W{1,4}model\W{1,6}msg\W{1,4}field required", re.I)


def model_required(message: str, param: str | None, code: str | None) -> bool:
    """Whether an error says the request needs a `model`."""
    if param == "model" and (code or "").startswith("missing"):
        return True
    return bool(_MODEL_REQUIRED.search(message))


def parse_models(data: Any) -> list[ModelInfo]:
    """`GET /models` in OpenAI's shape (`data: [...]`) or Ollama's (`models: [...]`), with
    each model's context length when the server gives one."""
    items = (data.get("data") or data.get("models") or []) if isinstance(data, dict) else []
    if not isinstance(items, list):
        return []
    found = []
    for m in items:
        name = (m.get("id") or m.get("name") or m.get("model")) if isinstance(m, dict) else None
        if isinstance(name, str) and name.strip() and len(name) <= MODEL_ID_LIMIT:
            found.append(ModelInfo(name, _context_length(m)))
    return found


#: A model id longer than this is no model id (a hostile or broken server): not listed.
MODEL_ID_LIMIT = 256


#: Where servers put a model's context length, most specific first.
_CONTEXT_KEYS = ("context_length", "max_model_len", "max_context_length", "context_window")


def _context_length(model: dict[str, Any]) -> int | None:
    meta = model.get("meta")
    places = [model.get(key) for key in _CONTEXT_KEYS]
    if isinstance(meta, dict):
        places += [meta.get("n_ctx"), meta.get("n_ctx_train")]
    for value in places:
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None
