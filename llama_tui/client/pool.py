"""One `Client` (one connection pool, one TLS context) per endpoint and model for a session,
and each endpoint's model list, asked for once per session.

What a client learned about its server (`Client.learned`: the reply cap's field, whether
`stream_options` is refused) carries over to the next client made for that endpoint name (a
setting changed, another model chosen), so a refusal is not met twice.
"""

from __future__ import annotations

import asyncio

from llama_tui.client.events import ModelInfo
from llama_tui.client.http import Client
from llama_tui.model import Endpoint


class ClientPool:
    def __init__(self) -> None:
        self._clients: dict[tuple[str, str | None], tuple[Endpoint, Client]] = {}
        #: Clients replaced by a changed endpoint: a reply may still stream through one.
        self._retired: list[Client] = []
        self._models: dict[tuple[str, str], list[ModelInfo]] = {}
        self._asking: dict[tuple[str, str], asyncio.Task[list[ModelInfo]]] = {}

    def get(self, endpoint: Endpoint) -> Client:
        """The client for `endpoint` (with its model); a changed endpoint (settings edited)
        gets a new one, which inherits what the old one learned."""
        key = (endpoint.name, endpoint.model)
        held = self._clients.get(key)
        if held is not None and held[0] == endpoint:
            return held[1]
        if held is not None:
            self._retired.append(held[1])
        client = Client(endpoint, learned=self.learned(endpoint.name))
        self._clients[key] = (endpoint, client)
        return client

    def learned(self, name: str) -> dict[str, object]:
        """What the clients of endpoint `name` learned so far (merged, newest last)."""
        merged: dict[str, object] = {}
        for (held_name, _), (_, client) in self._clients.items():
            if held_name == name:
                merged.update(client.learned)
        return merged

    def cached_models(self, endpoint: Endpoint) -> list[ModelInfo] | None:
        """The endpoint's model list when it was asked for this session (None: not yet)."""
        return self._models.get(_where(endpoint))

    async def models(self, endpoint: Endpoint) -> list[ModelInfo]:
        """`GET /v1/models` of `endpoint`, asked once per session (a failure is not kept:
        the next call asks again). Raises `ApiError`."""
        where = _where(endpoint)
        if where in self._models:
            return self._models[where]
        task = self._asking.get(where)
        if task is None:
            task = self._asking[where] = asyncio.ensure_future(self._ask(endpoint))
        try:
            models = await asyncio.shield(task)
        finally:
            if task.done():
                self._asking.pop(where, None)
        self._models[where] = models
        return models

    async def _ask(self, endpoint: Endpoint) -> list[ModelInfo]:
        return await self.get(endpoint).models()

    async def aclose(self) -> None:
        for task in self._asking.values():
            task.cancel()
        for client in [c for _, c in self._clients.values()] + self._retired:
            await client.aclose()
        self._clients.clear()
        self._retired.clear()


def _where(endpoint: Endpoint) -> tuple[str, str]:
    return endpoint.name, endpoint.url

