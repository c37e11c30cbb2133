"""First run with nothing configured: find a local server, or explain what to paste."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from llama_tui.client.probe import LOCAL_SERVERS, Found, probe_local_servers
from llama_tui.config import ConfigError
from llama_tui.model import Endpoint

if TYPE_CHECKING:
    from textual.app import App

    from llama_tui.ui.services import Services


class FoundServerScreen(ModalScreen[bool]):
    BINDINGS = [Binding("escape", "dismiss(False)", "Not now", id="dismiss", priority=True)]

    def __init__(self, found: Found) -> None:
        super().__init__()
        self.found = found

    def compose(self) -> ComposeResult:
        models = ", ".join(self.found.models[:4]) or "no models listed"
        with Vertical(id="dialog"):
            yield Static(Content(f"Found {self.found.label} at {self.found.url}\n({models})\n\n"
                                 "Use it as your endpoint?"))
            with Horizontal(classes="buttons"):
                yield Button("Use it", id="yes", variant="primary")
                yield Button("Open settings", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


async def first_run(app: App[Any], services: Services) -> None:
    from llama_tui.ui.screens.settings import SettingsScreen, first_run_help

    servers = LOCAL_SERVERS if services.probe_servers is None else services.probe_servers
    found = await probe_local_servers(servers) if servers else []
    if found:
        server = found[0]
        if await app.push_screen_wait(FoundServerScreen(server)):
            import copy

            config = copy.deepcopy(services.config)
            name = server.label.lower().replace(" ", "-").replace(".", "")
            config.endpoints[name] = Endpoint(name=name, url=server.url,
                                              model=server.models[0] if server.models else None)
            config.default_endpoint = name
            try:
                services.update_config(config)
            except (ConfigError, OSError) as exc:  # a read-only config folder, say
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                app.notify(f"Could not save the endpoint to config.toml: {reason}",
                           severity="error", timeout=15, markup=False)
            else:
                app.notify(f"Using {server.label} at {server.url}", markup=False)
                return
    await app.push_screen(SettingsScreen(
        services, intro=first_run_help(services.key("save-settings"), services.key("close-settings"))))
