"""Reuse one `Client` (one connection pool, one TLS context) per endpoint for a session."""

from __future__ import annotations

from llama_tui.client.http import Client
from llama_tui.model import Endpoint


class ClientPool:
    def __init__(self) -> None:
        self._clients: dict[str, tuple[Endpoint, Client]] = {}

    def get(self, endpoint: Endpoint) -> Client:
        """The client for `endpoint`; a changed endpoint (settings edited) gets a new one."""
        held = self._clients.get(endpoint.name)
        if held is not None and held[0] == endpoint:
            return held[1]
        client = Client(endpoint)
        self._clients[endpoint.name] = (endpoint, client)
        return client

    async def aclose(self) -> None:
        for _, client in self._clients.values():
            await client.aclose()
        self._clients.clear()
