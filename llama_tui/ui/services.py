"""What the screens use of the app: the core services and the few decisions made over them.

The app makes one `Services` and hands it to each screen it builds (screens hand it on to the
screens they open); no screen imports the app. The app keeps what is Textual's own: the screen
stack, themes, the keymap in force, signals and notifications. Nothing here imports Textual
(naming a key asks `ui.keymap`, which reads the bindings), so it is tried without an app
(tests/unit/test_services.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from llama_tui.client.events import ApiError, ModelInfo
from llama_tui.client.pool import ClientPool
from llama_tui.config import Config, ConfigError, load_config
from llama_tui.config_file import save_config
from llama_tui.engine import ReplyEngine
from llama_tui.inspector import RequestLog, RequestRecord
from llama_tui.keys import KeyResolver
from llama_tui.model import Conversation, Endpoint, Message, utcnow
from llama_tui.reply import Reply
from llama_tui.sanitize import sanitize
from llama_tui.session import estimate_tokens
from llama_tui.storage.store import ConversationStore

#: Told of every change of settings: (before, after).
ConfigListener = Callable[[Config, Config], None]


class Services:
    """Config, conversation store, HTTP clients, the reply engine, key commands and the
    request log of one app session."""

    def __init__(
        self,
        config: Config,
        store: ConversationStore,
        *,
        endpoint: str | None = None,
        config_error: str | None = None,
        probe_servers: tuple[tuple[str, str], ...] | None = None,
    ) -> None:
        self.config = config
        #: Why config.toml failed to load (then settings are read-only), else None.
        self.config_error = config_error
        self.store = store
        self.clients = ClientPool()
        self.engine = ReplyEngine(store)
        #: Key commands run in threads, once per session, never on the app's loop.
        self.keys = KeyResolver()
        self.requests = RequestLog()
        #: The endpoint named on the command line, for conversations that name none.
        self.chosen_endpoint = endpoint
        #: Local servers to look for on first run (None: the usual ones, (): none).
        self.probe_servers = probe_servers
        #: Unreadable conversation files already reported (each is named once a session).
        self.reported_problems: set[str] = set()
        #: Replies older than this were made before this session (the inspector has none).
        self.started_at = utcnow()
        #: The checked `[keymap]` entries in use; hints name keys through `key()`.
        self.keymap: dict[str, str] = {}
        self._listeners: list[ConfigListener] = []
        #: Endpoints (name, url) whose model list was asked for this session.
        self._models_asked: set[tuple[str, str]] = set()

    # -- keys in help text ------------------------------------------------------------------

    def key(self, binding_id: str) -> str:
        """The key bound to `binding_id` now, for help text ("ctrl+n", "F2")."""
        from llama_tui.ui.keymap import key_label

        return key_label(binding_id, self.keymap)

    # -- endpoints ----------------------------------------------------------------------------

    def endpoint_of(self, conv: Conversation | None) -> Endpoint | None:
        """The conversation's endpoint (its own if still configured, else the one chosen on
        the command line, else the default), asking for the conversation's model when it
        chose one (a model chosen for another endpoint is not sent elsewhere). No key."""
        name = self.chosen_endpoint
        if conv is not None and conv.endpoint in self.config.endpoint_names():
            name = conv.endpoint
        endpoint = self.config.choose_endpoint(name)
        if endpoint is not None and conv is not None and conv.model \
                and conv.endpoint in (None, endpoint.name):
            endpoint = replace(endpoint, model=conv.model)
        return endpoint

    def endpoint_for(self, conv: Conversation | None) -> Endpoint | None:
        """`endpoint_of` with its key. Never blocks: a key command runs in a thread and until
        it is done this raises `KeyPending`; a failed one raises `ConfigError` until retried."""
        endpoint = self.endpoint_of(conv)
        if endpoint is None:
            return None
        # A key command's result is kept per endpoint, whichever model asked first.
        return replace(self.keys.get(endpoint), model=endpoint.model)

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

    # -- models ---------------------------------------------------------------------------------

    def listed_models(self, conv: Conversation | None) -> list[ModelInfo]:
        """The models the conversation's endpoint listed this session (asked or not yet)."""
        try:
            endpoint = self.endpoint_of(conv)
        except ConfigError:
            return []
        return (self.clients.cached_models(endpoint) or []) if endpoint else []

    def models_asked(self, conv: Conversation | None) -> bool:
        """Was the conversation's endpoint asked for its models this session?"""
        try:
            endpoint = self.endpoint_of(conv)
        except ConfigError:
            return True
        return endpoint is None or (endpoint.name, endpoint.url) in self._models_asked

    async def ask_models(self, conv: Conversation | None) -> None:
        """Ask the conversation's endpoint for its models (their ids and context lengths),
        once a session; a failure is not said (the list is an aid, not a need)."""
        try:
            endpoint = self.endpoint_for(conv)
        except ConfigError:
            return
        if endpoint is None or (endpoint.name, endpoint.url) in self._models_asked:
            return
        self._models_asked.add((endpoint.name, endpoint.url))
        try:
            await self.clients.models(endpoint)
        except ApiError:
            pass

    def context_length(self, conv: Conversation | None) -> int | None:
        """The context length of the model `conv` asks, when its endpoint listed it."""
        try:
            endpoint = self.endpoint_of(conv)
        except ConfigError:
            return None
        models = self.clients.cached_models(endpoint) if endpoint else None
        if not models or endpoint is None:
            return None
        wanted = endpoint.model or (models[0].id if len(models) == 1 else None)
        return next((m.context_length for m in models if m.id == wanted), None)

    def estimate(self, conv: Conversation | None, text: str, k: int | None) -> int:
        """The next request's size in tokens, roughly, with `text` as its prompt."""
        return estimate_tokens(conv, text, k, self.config.system_prompt)

    # -- conversations and requests --------------------------------------------------------

    async def save(self, conv: Conversation) -> None:
        """Save through the reply engine: one writer per conversation, in a thread. A failed
        save (disk full, read-only folder) is reported once and retried until it succeeds."""
        await self.engine.save(conv)

    def remember_request(self, reply: Reply) -> None:
        """Keep what a finished reply sent and the status and headers it got back."""
        record = reply.record
        assert isinstance(record, RequestRecord)
        status, headers = None, {}
        if reply.response is not None:
            status, headers = reply.response.status, reply.response.headers
        elif reply.error is not None:
            status, headers = reply.error.status, reply.error.headers
        record = replace(record, status=status, response_headers=dict(headers))
        self.requests.remember(reply.conversation.id, reply.message, record)

    def last_request(self, conv: Conversation) -> RequestRecord | None:
        return self.requests.last(conv.id)

    def request_for(self, message: Message) -> RequestRecord | None:
        """The request that produced `message` (a reply made in this session)."""
        return self.requests.behind(message)

    # -- settings -----------------------------------------------------------------------------

    def on_config_changed(self, listener: ConfigListener) -> None:
        self._listeners.append(listener)

    def _adopt(self, config: Config) -> None:
        before, self.config = self.config, config
        self.keys.forget()  # a save or reload is the user's retry of a failed key command
        for listener in self._listeners:
            listener(before, config)

    def update_config(self, config: Config) -> None:
        """Write and adopt new settings (the settings screen, first run, a theme). Raises
        `ConfigError` (settings are read-only: the file failed to load) or `OSError`, and then
        nothing changed."""
        save_config(config)
        self._adopt(config)

    def reload_config(self) -> str | None:
        """Read config.toml again (after the user fixed it by hand); None when it loaded and
        is now used, else the problem."""
        try:
            config = load_config(self.config.path)
        except ConfigError as exc:
            return str(exc)
        self.config_error = None
        self._adopt(config)
        return None

    def remember_theme(self, name: str) -> str | None:
        """Keep `name` as the theme in config.toml when that can be written (never over a
        file that failed to load); None when saved, else why it is for this session only."""
        import copy

        config = copy.deepcopy(self.config)
        config.theme = name
        try:
            self.update_config(config)
        except ConfigError as exc:
            self.config.theme = name
            return str(exc)
        except OSError as exc:
            self.config.theme = name
            return f"config.toml could not be written ({exc.strerror or exc})."
        return None

    async def aclose(self) -> None:
        """Stop what runs (replies are saved, marked interrupted) and close the clients."""
        self.keys.close()
        await self.engine.shutdown()
        await self.clients.aclose()
