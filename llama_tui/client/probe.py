"""Find OpenAI-compatible servers already running on this machine (first run, no config)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from llama_tui.client.events import ApiError
from llama_tui.client.http import Client
from llama_tui.model import Endpoint

#: The usual local servers and their default ports.
LOCAL_SERVERS = (
    ("llama.cpp", "http://127.0.0.1:8080/v1"),
    ("Ollama", "http://127.0.0.1:11434/v1"),
    ("vLLM", "http://127.0.0.1:8000/v1"),
    ("LM Studio", "http://127.0.0.1:1234/v1"),
)


@dataclass(frozen=True)
class Found:
    label: str
    url: str
    models: list[str]


async def probe(url: str, timeout: float = 0.6) -> list[str] | None:
    """The models an endpoint lists, or None when nothing OpenAI-compatible answers there."""
    endpoint = Endpoint(name="probe", url=url, connect_timeout=timeout, read_timeout=timeout,
                        max_retries=0)
    async with Client(endpoint) as client:
        try:
            return await client.list_models()
        except ApiError:
            return None


async def probe_local_servers(
    servers: tuple[tuple[str, str], ...] = LOCAL_SERVERS, timeout: float = 0.6
) -> list[Found]:
    """Probe all at once; about `timeout` seconds at most."""
    results = await asyncio.gather(*(probe(url, timeout) for _, url in servers))
    return [Found(label, url, models) for (label, url), models in zip(servers, results, strict=True)
            if models is not None]
