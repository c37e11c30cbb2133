"""The floor for Textual's own streaming: one `Markdown` widget fed by `Markdown.get_stream()`
in an anchored `VerticalScroll`, nothing else on screen.

    LLAMA_TUI_BASE_URL=http://127.0.0.1:PORT/v1 python tests/benchmarks/apps/getstream_app.py

It shows "READY" and waits; each Enter sends one chat request through llama-tui's own client
(the same HTTP/SSE code as the app, so only the rendering differs) and streams the reply.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from textual import events, work
from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Markdown, Static

from llama_tui.client import TextDelta
from llama_tui.client.dialects import GenerationRequest
from llama_tui.client.http import Client
from llama_tui.model import Endpoint
from llama_tui.sanitize import sanitize


class GetStreamApp(App[None]):
    CSS = "#log { height: 1fr; } Markdown { margin: 0; }"

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="log"):
            yield Static("READY")

    async def on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            self.reply()
        elif event.key == "ctrl+q":
            self.exit()

    @work(exclusive=True)
    async def reply(self) -> None:
        log = self.query_one("#log", VerticalScroll)
        body = Markdown()
        await log.mount(body)
        log.anchor()
        stream = Markdown.get_stream(body)
        endpoint = Endpoint("bench", os.environ["LLAMA_TUI_BASE_URL"])
        request = GenerationRequest(messages=[{"role": "user", "content": "hello"}])
        try:
            async with Client(endpoint) as client:
                async for event in client.stream(request):
                    if isinstance(event, TextDelta):
                        await stream.write(sanitize(event.text))
        finally:
            await stream.stop()


if __name__ == "__main__":
    GetStreamApp().run()
