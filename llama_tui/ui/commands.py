"""The command palette (ctrl+p): every action as "noun: verb", and every conversation."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from llama_tui.ui.app import LlamaApp


class LlamaCommands(Provider):
    app: LlamaApp

    def _commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        from llama_tui.ui.screens.main import MainScreen

        app = self.app
        main = next((s for s in app.screen_stack if isinstance(s, MainScreen)), None)
        commands: list[tuple[str, str, Callable[[], Any]]] = [
            ("settings: open", "Endpoints, defaults and theme", app.action_settings),
        ]
        if main is not None:
            commands += [
                ("conversation: new", "Start a new conversation", main.action_new_chat),
                ("reply: stop", "Stop the reply streaming here", main.action_stop),
                ("sidebar: toggle", "Show or hide the conversation list",
                 main.action_toggle_sidebar),
                ("list: reload", "Re-read the conversations folder", main.action_reload),
            ]
            for summary in main.query_one("#sidebar").summaries:  # type: ignore[attr-defined]
                commands.append((f"open: {summary.title}", f"{summary.updated_at:%Y-%m-%d %H:%M}",
                                 _opener(main, summary.id)))
        return commands

    async def discover(self) -> Hits:
        for name, help_text, callback in self._commands()[:12]:
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, text=name, help=help_text)


def _opener(main: Any, conversation_id: str) -> Callable[[], Any]:
    async def open_it() -> None:
        await main.open_id(conversation_id)

    return open_it
