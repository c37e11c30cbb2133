"""The app: holds the core services (config, store, clients, the reply engine) and the
screens. Kept small: screens and widgets own their behaviour, the core owns the logic.

Every way out saves: ctrl+q waits for the engine to stop and save what streams; SIGTERM and
SIGHUP (a closed terminal, a dropped SSH link) write everything at once, then quit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import App
from textual.binding import Binding

from llama_tui.client.pool import ClientPool
from llama_tui.config import (
    Config,
    ConfigError,
    insecure_warning,
    load_config,
)
from llama_tui.config_file import save_config
from llama_tui.engine import ReplyEngine
from llama_tui.inspector import RequestRecord
from llama_tui.keys import KeyResolver
from llama_tui.model import Conversation, Endpoint, Message, utcnow
from llama_tui.reply import EngineEvent, Reply, Saved, SaveFailed
from llama_tui.sanitize import sanitize
from llama_tui.storage.store import ConversationStore
from llama_tui.ui import terminal_guard
from llama_tui.ui.messages import EngineMessage

if TYPE_CHECKING:
    from llama_tui.ui.screens.main import MainScreen

log = logging.getLogger(__name__)

#: Replies of this session whose request the inspector (F5) can still show.
INSPECTOR_KEEP = 200
#: Signals that end the app after everything in flight was written.
QUIT_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class LlamaApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "llama-tui"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
    ]
    COMMANDS = App.COMMANDS | {lambda: _commands_provider()}

    def __init__(
        self,
        config: Config,
        store: ConversationStore,
        *,
        endpoint: str | None = None,
        config_error: str | None = None,
        probe_servers: tuple[tuple[str, str], ...] | None = None,
    ) -> None:
        super().__init__()
        terminal_guard.install()
        self.config = config
        self.store = store
        self.clients = ClientPool()
        self.chosen_endpoint = endpoint
        self.config_error = config_error
        #: Local servers to look for on first run (None: the usual ones, (): none).
        self.probe_servers = probe_servers
        self.reported_problems: set[str] = set()
        self.engine = ReplyEngine(store)
        self.engine.subscribe(self._engine_event)
        self._signals: list[int] = []
        self._main: MainScreen | None = None
        #: Key commands run here, in threads, once per session (never on this thread).
        self.keys = KeyResolver(on_done=self._key_done_threadsafe)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._requests: dict[str, RequestRecord] = {}
        self._requests_by_message: dict[int, tuple[Message, RequestRecord]] = {}
        #: Replies older than this were made before this session (the inspector has none).
        self.started_at = utcnow()
        #: The `[keymap]` entries in use (checked); hints name keys through `key()`.
        self.keymap: dict[str, str] = {}

    def on_mount(self) -> None:
        from llama_tui.ui.screens.main import MainScreen

        self._loop = asyncio.get_running_loop()
        self._load_themes()
        self._load_keymap()
        self._main = MainScreen()
        self.push_screen(self._main)
        self._catch_signals()
        if self.config_error:
            self.notify(f"{self.config_error}\nSettings are read-only until it is fixed; "
                        "the file is left as it is.", title="Config problem: using defaults",
                        severity="error", timeout=30, markup=False)
        for warning in self.config.warnings:
            self.notify(warning, severity="warning", timeout=15, markup=False)
        self._warn_insecure(self.config)
        if not self.config.endpoint_names() and not self.config_error:
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
        wanted = self.config.theme or DEFAULT_THEME
        if wanted in self.available_themes:
            self.theme = wanted
        elif self.config.theme:
            self.notify(f"Theme {wanted!r} is not available; using the default.",
                        severity="warning", markup=False)
            if DEFAULT_THEME in self.available_themes:
                self.theme = DEFAULT_THEME

    def _load_keymap(self) -> None:
        from llama_tui.ui.keymap import check_keymap

        keymap, problems = check_keymap(self.config.keymap)
        if problems:
            self.notify("\n".join(problems), title="Keymap entries ignored (defaults kept)",
                        severity="warning", timeout=20, markup=False)
        self.keymap = keymap
        if keymap:
            self.set_keymap(keymap)
        for screen in self.screen_stack:  # hints in words follow the keys
            if hasattr(screen, "keys_changed"):
                screen.keys_changed()

    def key(self, binding_id: str) -> str:
        """The key bound to `binding_id` now, for help text ("ctrl+n", "F2")."""
        from llama_tui.ui.keymap import key_label

        return key_label(binding_id, self.keymap)

    async def _first_run(self) -> None:
        from llama_tui.ui.screens.first_run import first_run

        await first_run(self)

    async def action_quit(self) -> None:
        """ctrl+q: what streams is stopped, kept and marked interrupted, then saved. When a
        conversation cannot be saved (disk full, read-only), quitting asks first: the text
        exists nowhere else."""
        from llama_tui.ui.screens.dialogs import PickScreen

        await self.engine.shutdown()
        unsaved = self.engine.unsaved
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
        written = self.engine.save_all_now()
        log.warning("quitting on %s (%d conversations written)", signal.Signals(sig).name, written)
        self.engine.stop_all()
        self.exit(return_code=128 + sig)

    async def on_unmount(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in self._signals:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
        self.keys.close()
        await self.engine.shutdown()
        await self.clients.aclose()
        for conv in self.engine.unsaved:  # the user was told already
            log.error("quitting with conversation %s unsaved", conv.id)

    def _warn_insecure(self, config: Config, before: Config | None = None) -> None:
        for endpoint in config.endpoints.values():
            old = before.endpoints.get(endpoint.name) if before else None
            warning = insecure_warning(endpoint)
            if warning and (old is None or insecure_warning(old) is None):
                self.notify(warning, title="Insecure endpoint", severity="warning", timeout=30,
                            markup=False)

    # -- services for the screens --------------------------------------------------------------

    def remember_request(self, job: Reply) -> None:
        """Keep what a finished reply sent and received, for the request inspector."""
        assert job.record is not None
        status, headers = None, {}
        if job.response is not None:
            status, headers = job.response.status, job.response.headers
        elif job.error is not None:
            status, headers = job.error.status, job.error.headers
        record = replace(job.record, status=status, response_headers=dict(headers))
        self._requests[job.conversation.id] = record
        self._requests_by_message[id(job.message)] = (job.message, record)
        # Bounded: each record holds a request body (the history sent), and a long session
        # must not grow without end (the soak test saw ~1 MB per 100 replies).
        while len(self._requests) > INSPECTOR_KEEP:
            del self._requests[next(iter(self._requests))]
        while len(self._requests_by_message) > INSPECTOR_KEEP:
            del self._requests_by_message[next(iter(self._requests_by_message))]

    def last_request(self, conv: Conversation) -> RequestRecord | None:
        return self._requests.get(conv.id)

    def request_for(self, message: Message) -> RequestRecord | None:
        """The request that produced `message` (a reply made in this session)."""
        held = self._requests_by_message.get(id(message))
        return held[1] if held and held[0] is message else None

    def endpoint_for(self, conv: Conversation | None) -> Endpoint | None:
        """The endpoint a conversation uses (its own if still configured, else the default),
        with its key. Never blocks: a key command runs in a thread (`self.keys`) and until it
        is done this raises `KeyPending`; a failed one raises `ConfigError` until retried."""
        endpoint = self.endpoint_of(conv)
        if endpoint is None:
            return None
        # A key command's result is kept per endpoint, whichever model asked first.
        return replace(self.keys.get(endpoint), model=endpoint.model)

    def endpoint_of(self, conv: Conversation | None) -> Endpoint | None:
        """The conversation's endpoint, asking for the conversation's model when it chose one
        (a model chosen for another endpoint is not sent elsewhere)."""
        name = self.chosen_endpoint
        if conv is not None and conv.endpoint in self.config.endpoint_names():
            name = conv.endpoint
        endpoint = self.config.choose_endpoint(name)
        if endpoint is not None and conv is not None and conv.model \
                and conv.endpoint in (None, endpoint.name):
            endpoint = replace(endpoint, model=conv.model)
        return endpoint

    def endpoint_label(self, conv: Conversation | None) -> str:
        """The status line's word on the endpoint: its name and model, or what is wrong
        (key resolving, key command failed, no endpoint). Runs nothing itself."""
        try:
            endpoint = self.endpoint_of(conv)
        except ConfigError as exc:
            return f"endpoint: {exc.problem}"
        if endpoint is None:
            return f"no endpoint ({self.key('settings')})"
        label = endpoint.name + (f" · {sanitize(endpoint.model)}" if endpoint.model else "")
        try:
            self.keys.get(endpoint)  # starts its key command in a thread, the first time
        except ConfigError:
            pass
        return label + (f" · {state}" if (state := self.keys.status(endpoint)) else "")

    def _key_done_threadsafe(self, name: str) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._key_done, name)
            except RuntimeError:  # the loop closed meanwhile: the app is gone
                pass

    def _key_done(self, name: str) -> None:
        endpoint = self.config.endpoints.get(name)
        status = self.keys.status(endpoint) if endpoint else None
        if status and status.startswith("key command failed"):
            self.notify(f"{name}: {status}. Fix it in settings ({self.key('settings')}); "
                        "saving there or Test connection runs it again.", title="Endpoint key",
                        severity="error", timeout=15, markup=False)
        for screen in self.screen_stack:
            if hasattr(screen, "update_status"):
                screen.update_status()

    async def save(self, conv: Conversation) -> None:
        """Save through the reply engine: one writer per conversation, in a thread. A failed
        save (disk full, read-only folder) is reported once and retried until it succeeds."""
        await self.engine.save(conv)

    def _engine_event(self, event: EngineEvent) -> None:
        """The engine's events: saving is told here, the rest goes to the main screen."""
        if isinstance(event, SaveFailed) and event.first:
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
        if self._main is not None:
            self._main.post_message(EngineMessage(event))

    def update_config(self, config: Config) -> None:
        """Adopt and write new settings (from the settings screen or first run). Raises
        `ConfigError` (settings are read-only: the file failed to load) or `OSError`, and then
        nothing changed."""
        save_config(config)
        before, self.config = self.config, config
        self.keys.forget()  # a save is the user's retry of a failed key command
        self._warn_insecure(config, before)

    def reload_config(self) -> str | None:
        """Read config.toml again (after the user fixed it by hand); None when it loaded and
        is now used, else the problem."""
        try:
            config = load_config(self.config.path)
        except ConfigError as exc:
            return str(exc)
        before, self.config, self.config_error = self.config, config, None
        self.keys.forget()
        self._load_keymap()
        self._warn_insecure(config, before)
        return None

    def set_theme_and_save(self, name: str) -> None:
        """Switch theme for the session, and remember it in config.toml when that can be
        written (never over a file that failed to load)."""
        import copy

        self.theme = name
        config = copy.deepcopy(self.config)
        config.theme = name
        try:
            self.update_config(config)
        except ConfigError as exc:
            self.config.theme = name
            self.notify(f"Theme {name!r} is used for this session but not saved: {exc}",
                        severity="warning", timeout=15, markup=False)
        except OSError as exc:
            self.config.theme = name
            self.notify(f"Theme {name!r} is used for this session but not saved: "
                        f"config.toml could not be written ({exc.strerror or exc}).",
                        severity="warning", timeout=15, markup=False)

    def action_settings(self) -> None:
        from llama_tui.ui.screens.settings import SettingsScreen

        if not isinstance(self.screen, SettingsScreen):
            self.push_screen(SettingsScreen())

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
    return LlamaApp(config, store or ConversationStore(), endpoint=endpoint,
                    config_error=config_error, probe_servers=probe_servers)
