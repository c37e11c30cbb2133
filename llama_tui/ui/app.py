"""The app: the screen stack, themes, the keymap in force, signals and notifications. What
screens use of the core (config, store, clients, the reply engine) is `ui.services.Services`,
made here and handed to each screen.

Every way out saves: ctrl+q waits for the engine to stop and save what streams; SIGTERM and
SIGHUP (a closed terminal, a dropped SSH link) write everything at once, then quit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import App
from textual.binding import Binding

from llama_tui.config import Config, ConfigError, insecure_warning, load_config
from llama_tui.reply import EngineEvent, ReasoningGrew, Saved, SaveFailed, TextGrew
from llama_tui.storage.store import ConversationStore
from llama_tui.ui import terminal_guard
from llama_tui.ui.messages import EngineMessage
from llama_tui.ui.services import Services

if TYPE_CHECKING:
    from llama_tui.ui.screens.main import MainScreen

log = logging.getLogger(__name__)

#: Signals that end the app after everything in flight was written.
QUIT_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class LlamaApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "llama-tui"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
    ]
    COMMANDS = App.COMMANDS | {lambda: _commands_provider()}

    def __init__(self, services: Services) -> None:
        super().__init__()
        terminal_guard.install()
        self.services = services
        services.keys.on_done = self._key_done_threadsafe  # called in the command's thread
        services.engine.subscribe(self._engine_event)
        services.on_config_changed(self._config_changed)
        self._signals: list[int] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        #: The main screen, at the bottom of the stack once mounted: the engine's events go to it.
        self._main: MainScreen | None = None

    def on_mount(self) -> None:
        from llama_tui.ui.screens.main import MainScreen

        services = self.services
        self._loop = asyncio.get_running_loop()
        self._load_themes()
        self._load_keymap()
        self._main = MainScreen(services)
        self.push_screen(self._main)
        self._catch_signals()
        if services.config_error:
            self.notify(f"{services.config_error}\nSettings are read-only until it is fixed; "
                        "the file is left as it is.", title="Config problem: using defaults",
                        severity="error", timeout=30, markup=False)
        for warning in services.config.warnings:
            self.notify(warning, severity="warning", timeout=15, markup=False)
        self._warn_insecure(services.config)
        if not services.config.endpoint_names() and not services.config_error:
            self.run_worker(self._first_run(), group="first-run")

    def _load_themes(self) -> None:
        from llama_tui import paths
        from llama_tui.ui.themes import DEFAULT_THEME, load_themes, shipped_themes_dir

        themes, problems = load_themes([shipped_themes_dir(), paths.themes_dir()])
        for theme in themes:
            self.register_theme(theme)
        if problems:
            self.notify("\n".join(problems), title="Theme files skipped", severity="warning",
                        timeout=15, markup=False)
        chosen = self.services.config.theme
        wanted = chosen or DEFAULT_THEME
        if wanted in self.available_themes:
            self.theme = wanted
        elif chosen:
            self.notify(f"Theme {wanted!r} is not available; using the default.",
                        severity="warning", markup=False)
            if DEFAULT_THEME in self.available_themes:
                self.theme = DEFAULT_THEME

    def _load_keymap(self) -> None:
        from llama_tui.ui.keymap import check_keymap

        keymap, problems = check_keymap(self.services.config.keymap)
        if problems:
            self.notify("\n".join(problems), title="Keymap entries ignored (defaults kept)",
                        severity="warning", timeout=20, markup=False)
        self.services.keymap = keymap
        self.set_keymap(keymap)  # {} too: entries removed by a reload go back to the defaults
        for screen in self.screen_stack:  # hints in words follow the keys
            if hasattr(screen, "keys_changed"):
                screen.keys_changed()

    @property
    def keymap(self) -> dict[str, str]:
        """The checked `[keymap]` entries in force: widgets with single-letter keys read them
        to tell their own keys from typing (`TypingGoesToPrompt`)."""
        return self.services.keymap

    def _config_changed(self, before: Config, after: Config) -> None:
        if after.keymap != before.keymap:
            self._load_keymap()
        self._warn_insecure(after, before)

    async def _first_run(self) -> None:
        from llama_tui.ui.screens.first_run import first_run

        await first_run(self, self.services)

    async def action_quit(self) -> None:
        """ctrl+q: what streams is stopped, kept and marked interrupted, then saved. When a
        conversation cannot be saved (disk full, read-only), quitting asks first: the text
        exists nowhere else."""
        from llama_tui.ui.screens.dialogs import PickScreen

        engine = self.services.engine
        await engine.shutdown()
        unsaved = engine.unsaved
        if not unsaved:
            self.exit()
            return
        if isinstance(self.screen, PickScreen) and self.screen.id == "quit-unsaved":
            self.exit(return_code=1)  # ctrl+q again: quit anyway
            return
        titles = ", ".join(repr(conv.title or "Untitled") for conv in unsaved[:3])
        more = f" and {len(unsaved) - 3} more" if len(unsaved) > 3 else ""

        def chosen(choice: int | None) -> None:
            if choice == 1:
                log.error("quit with %d conversations unsaved", len(unsaved))
                self.exit(return_code=1)

        self.push_screen(PickScreen(
            f"Could not save {titles}{more}: quitting now loses it (saving is retried "
            "while the app runs).",
            ["Stay (free some space or fix the folder, then quit again)",
             "Quit anyway and lose the unsaved text"], id="quit-unsaved"), chosen)

    def _catch_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in QUIT_SIGNALS:
            try:
                loop.add_signal_handler(sig, self._quit_on_signal, sig)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
                continue
            self._signals.append(sig)

    def _quit_on_signal(self, sig: int) -> None:
        """SIGTERM, SIGHUP: write everything now (the loop may not get another turn, the
        terminal may be gone), then quit as ctrl+q does."""
        engine = self.services.engine
        written = engine.save_all_now()
        log.warning("quitting on %s (%d conversations written)", signal.Signals(sig).name, written)
        engine.stop_all()
        self.exit(return_code=128 + sig)

    async def on_unmount(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in self._signals:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
        await self.services.aclose()
        for conv in self.services.engine.unsaved:  # the user was told already
            log.error("quitting with conversation %s unsaved", conv.id)

    def _warn_insecure(self, config: Config, before: Config | None = None) -> None:
        for endpoint in config.endpoints.values():
            old = before.endpoints.get(endpoint.name) if before else None
            warning = insecure_warning(endpoint)
            if warning and (old is None or insecure_warning(old) is None):
                self.notify(warning, title="Insecure endpoint", severity="warning", timeout=30,
                            markup=False)

    def _key_done_threadsafe(self, name: str) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._key_done, name)
            except RuntimeError:  # the loop closed meanwhile: the app is gone
                pass

    def _key_done(self, name: str) -> None:
        services = self.services
        endpoint = services.config.endpoints.get(name)
        status = services.keys.status(endpoint) if endpoint else None
        if status and status.startswith("key command failed"):
            self.notify(f"{name}: {status}. Fix it in settings ({services.key('settings')}); "
                        "saving there or Test connection runs it again.", title="Endpoint key",
                        severity="error", timeout=15, markup=False)
        for screen in self.screen_stack:
            if hasattr(screen, "update_status"):
                screen.update_status()

    def _engine_event(self, event: EngineEvent) -> None:
        """The engine's events: streamed text goes to the view showing it at once, saving is
        told here, the rest goes to the main screen as a message."""
        main = self._main
        if isinstance(event, TextGrew | ReasoningGrew):  # per token: the first check
            try:  # this runs inside the engine's stream: a UI bug must not end the reply
                if main is None or main.feed_live(event.reply):
                    return  # given to the view at once: no message per token
            except Exception:
                log.exception("showing streamed text failed; the screen catches up later")
        elif isinstance(event, SaveFailed) and event.first:
            exc = event.error
            reason = (exc.strerror or str(exc)) if isinstance(exc, OSError) else str(exc)
            retry = "saving is retried" if event.transient else "it cannot be saved as it is"
            self.notify(f"Could not save {event.conversation.title!r}: {reason}. "
                        f"It stays on screen; {retry}.", severity="error", timeout=15,
                        markup=False)
        elif isinstance(event, Saved):
            if event.recovered:
                self.notify(f"Saved {event.conversation.title!r} after all.", markup=False)
            if event.conflict_with:
                self.notify(f"{event.conflict_with}.toml was changed by another program; "
                            f"your version was saved as a copy ({event.conversation.id}).",
                            severity="warning", timeout=15, markup=False)
        if main is not None:
            main.post_message(EngineMessage(event))

    def action_settings(self) -> None:
        from llama_tui.ui.screens.settings import open_settings

        open_settings(self, self.services)

    def log_error(self, error: BaseException) -> None:
        log.error("worker failed", exc_info=error)


def _commands_provider() -> type:
    from llama_tui.ui.commands import LlamaCommands

    return LlamaCommands


def make_app(
    endpoint: str | None = None,
    *,
    config_path: Path | None = None,
    store: ConversationStore | None = None,
    probe_servers: tuple[tuple[str, str], ...] | None = None,
) -> LlamaApp:
    """The app as the CLI starts it; tests and the screenshot script use this too."""
    config_error = None
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        # Defaults for the session; `load_error` keeps every save away from the file.
        config, config_error = Config(path=config_path, load_error=exc), str(exc)
    return LlamaApp(Services(config, store or ConversationStore(), endpoint=endpoint,
                             config_error=config_error, probe_servers=probe_servers))
