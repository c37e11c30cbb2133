"""The command palette (ctrl+p): every action as "noun: verb", every conversation, and the
endpoints and models a conversation can use (`endpoint: NAME`, `model: ID`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

from llama_tui.sanitize import sanitize
from llama_tui.ui.themes import use_theme
from llama_tui.ui.widgets.conversation_list import ConversationList

if TYPE_CHECKING:
    from textual.app import App

    from llama_tui.ui.screens.main import MainScreen
    from llama_tui.ui.services import Services


#: How long opening the palette waits for the endpoint's model list (asked once a session).
MODELS_WAIT_SECONDS = 1.5


class LlamaCommands(Provider):
    async def startup(self) -> None:
        """Ask the conversation's endpoint for its models (once a session), so that
        `model: ID` entries can be offered."""
        main = self._main()
        if main is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(main.services.ask_models(main.current),
                                       MODELS_WAIT_SECONDS)

    def _main(self) -> MainScreen | None:
        from llama_tui.ui.screens.main import MainScreen

        return next((s for s in self.app.screen_stack if isinstance(s, MainScreen)), None)

    def _commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        from llama_tui.ui.screens.settings import open_settings

        app, main = self.app, self._main()
        if main is None:
            return []
        services = main.services
        commands: list[tuple[str, str, Callable[[], Any]]] = [
            ("settings: open", "Endpoints, defaults and theme",
             lambda: open_settings(app, services)),
        ]
        commands += [
            ("conversation: new", "Start a new conversation (ctrl+n)", main.action_new_chat),
            ("conversation: rename", "Rename this conversation", main.action_rename),
            ("title: generate", "Ask the model for a short title (one small request)",
             main.action_generate_title),
            ("conversation: delete", "Move it to the trash (ctrl+z undoes)",
             main.action_delete),
            ("conversation: undo delete", "Bring back the last deleted one",
             main.action_undo_delete),
            ("conversation: pin", "Pin or unpin it at the top of the list", main.action_pin),
            ("conversation: export", "Markdown + JSON files, Markdown on the clipboard",
             main.action_export),
            ("conversation: import", "From a JSON export or a llama-tui TOML file",
             main.action_import),
            ("conversation: parameters", "System prompt, sampling, memory (F3)",
             main.action_params),
            ("conversation: inspect request", "Body, headers, copy as curl (F5)",
             main.action_inspect),
            ("trash: empty", "Delete trashed conversations for good",
             main.action_empty_trash),
            ("search: messages", "Full-text search in every conversation (ctrl+f)",
             main.action_search),
            ("template: use", "Fill a prompt template and send it (F4)",
             main.action_template),
            ("reply: stop", "Stop the reply streaming here (escape)", main.action_stop),
            ("sidebar: toggle", "Show or hide the conversation list (ctrl+b)",
             main.action_toggle_sidebar),
            ("list: reload", "Re-read the conversations folder (ctrl+r)", main.action_reload),
            ("model: choose", "Pick one of the models the endpoint lists",
             main.action_choose_model),
            ("model: the endpoint's", "Ask the endpoint's own model in this conversation",
             _model_setter(main, None)),
        ]
        commands += [(f"endpoint: {name}", "Use this endpoint in this conversation",
                      _endpoint_setter(main, name)) for name in services.config.endpoint_names()]
        commands += [(f"model: {sanitize(m.id)}", "Ask this model in this conversation",
                      _model_setter(main, m.id)) for m in services.listed_models(main.current)]
        for name in sorted(app.available_themes):
            commands.append((f"theme: {name}", "Switch theme (saved in settings)",
                             _theme_setter(app, services, name)))
        for summary in main.query_one(ConversationList).summaries:
            commands.append((f"open: {summary.title}", f"{summary.updated_at:%Y-%m-%d %H:%M}",
                             _opener(main, summary.id)))
        return commands

    async def discover(self) -> Hits:
        for name, help_text, callback in self._commands()[:40]:
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, text=name, help=help_text)


def _theme_setter(app: App[Any], services: Services, name: str) -> Callable[[], Any]:
    def set_theme() -> None:
        use_theme(app, services, name)

    return set_theme


def _endpoint_setter(main: MainScreen, name: str) -> Callable[[], Any]:
    async def set_endpoint() -> None:
        await main.set_endpoint(name)

    return set_endpoint


def _model_setter(main: MainScreen, model: str | None) -> Callable[[], Any]:
    async def set_model() -> None:
        await main.switch_model(None, model)

    return set_model


def _opener(main: MainScreen, conversation_id: str) -> Callable[[], Any]:
    async def open_it() -> None:
        await main.open_id(conversation_id)

    return open_it
