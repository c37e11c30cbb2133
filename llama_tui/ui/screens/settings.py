"""Settings: endpoints (add / edit / delete / test), defaults, theme. Saved to config.toml (0600).

Keys are never shown: the key field is empty, its placeholder shows the last four characters,
and leaving it empty keeps the stored key. Secret headers (`is_secret_header`) show masked
too, and a masked value left as it is keeps the stored one. When config.toml failed to load,
the screen says where the problem is and saving is off until the file is fixed (Reload).
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Button, Input, Label, OptionList, Select, Static, TextArea
from textual.widgets.option_list import Option

from llama_tui.client import ApiError, Client, GenerationRequest
from llama_tui.config import ConfigError, env_endpoint, url_problem
from llama_tui.model import (
    AUTH_SCHEMES,
    MODES,
    AuthScheme,
    Endpoint,
    GenerationParams,
    Mode,
    is_secret_header,
)
from llama_tui.sanitize import sanitize
from llama_tui.ui.screens.dialogs import field_value
from llama_tui.ui.textual_compat import LeanFooter

if TYPE_CHECKING:
    from textual.app import App

    from llama_tui.ui.services import Services

NEW = "__new__"
#: The list entry of the endpoint from LLAMA_TUI_BASE_URL (shown, never written to config).
ENV = "__env__"
ENV_NOTE = ("read-only: from LLAMA_TUI_BASE_URL (LLAMA_TUI_API_KEY, LLAMA_TUI_AUTH, "
            "LLAMA_TUI_MODEL). Used when config.toml sets no default_endpoint; a default "
            "set here wins over it.")
FORM_FIELDS = ("#ep-name", "#ep-url", "#ep-kind", "#ep-auth", "#ep-format", "#ep-key",
               "#ep-key-env", "#ep-key-cmd", "#ep-model", "#ep-headers")
DEFAULTS_FIELDS = ("#system-prompt", "#temperature", "#top-p", "#max-tokens", "#memory", "#theme")


def first_run_help(save_key: str = "ctrl+s", close_key: str = "escape") -> str:
    return (
        "No endpoint is configured yet. Paste one of:\n"
        "  • an Azure AI endpoint URL (https://<name>.<region>.inference.ai.azure.com) and its "
        "key,\n"
        "  • a local server URL such as http://127.0.0.1:8080/v1 (llama.cpp, Ollama, vLLM, "
        f"LM Studio).\nThen {save_key} saves, and Test connection shows what it answers. "
        f"{close_key} goes back to chat."
    )


FIRST_RUN_HELP = first_run_help()


def mask(key: str | None) -> str:
    if not key:
        return "paste the API key (or use key_env / key_cmd)"
    return f"stored key ••••{key[-4:] if len(key) > 8 else ''} · type to replace"


def masked_value(value: str) -> str:
    return f"••••{value[-4:] if len(value) > 8 else ''}"


def show_headers(headers: dict[str, str]) -> str:
    """The headers as the form shows them: secret values masked like the key."""
    return "\n".join(f"{name}: {masked_value(value) if is_secret_header(name) else value}"
                     for name, value in headers.items())


def parse_headers(text: str, stored: dict[str, str] | None = None) -> dict[str, str]:
    """The form's headers; a secret one still showing its mask keeps its `stored` value."""
    stored = stored or {}
    headers: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise ValueError(f"header line {_shown_line(name)!r} is not 'Name: value'")
        name, value = name.strip(), value.strip()
        if name in stored and is_secret_header(name) and value == masked_value(stored[name]):
            value = stored[name]
        headers[name] = value
    return headers


def _shown_line(name: str) -> str:
    # The line may hold a secret typed without its colon: show only the start.
    return name.strip()[:12] + ("…" if len(name.strip()) > 12 else "")


class SettingsScreen(Screen[None]):
    """One save for the whole screen (ctrl+s); escape with unsaved changes asks first."""

    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="save-settings", priority=True),
        Binding("escape", "close", "Back to chat", id="close-settings", priority=True),
    ]

    def __init__(self, services: Services, intro: str = "") -> None:
        super().__init__()
        self.services = services
        self.intro = intro
        self.editing: str = NEW
        #: The form's values as loaded (or last saved): what "unsaved changes" compares with.
        self._loaded: dict[str, object] = {}

    def compose(self) -> ComposeResult:
        yield Static(Content(self.intro), id="settings-intro", classes="intro")
        with Horizontal(id="settings-readonly"):
            yield Static("", id="readonly-reason")
            yield Button("Reload config", id="reload-config", compact=True)
        with Horizontal(id="settings"):
            with Vertical(id="endpoint-list-pane"):
                yield Label("Endpoints")
                yield OptionList(id="endpoint-list")
            with VerticalScroll(id="settings-form", can_focus=False):  # its fields are the stops
                yield Label("Endpoint", classes="section")
                yield _field("name", Input(compact=True, placeholder="e.g. azure-llama2", id="ep-name"))
                yield _field(
                    "URL", Input(compact=True, placeholder="origin, …/v1 base, or full route", id="ep-url")
                )
                yield _field(
                    "kind",
                    Select(
                        compact=True,
                        options=[(m, m) for m in MODES],
                        value="chat",
                        allow_blank=False,
                        id="ep-kind",
                    ),
                )
                yield _field(
                    "auth",
                    Select(
                        compact=True,
                        options=[(a, a) for a in AUTH_SCHEMES],
                        value="bearer",
                        allow_blank=False,
                        id="ep-auth",
                    ),
                )
                yield _field(
                    "prompt format",
                    Select(
                        compact=True,
                        options=[("plain prompt", "none"), ("Llama 2 [INST]", "llama2")],
                        value="none",
                        allow_blank=False,
                        id="ep-format",
                    ),
                )
                yield _field("key", Input(compact=True, placeholder=mask(None), password=True, id="ep-key"))
                yield _field(
                    "key_env", Input(compact=True, placeholder="variable holding the key", id="ep-key-env")
                )
                yield _field(
                    "key_cmd", Input(compact=True, placeholder="command printing the key", id="ep-key-cmd")
                )
                yield _field("model", Input(compact=True, placeholder="optional", id="ep-model"))
                yield _field("headers", TextArea(id="ep-headers", compact=True))
                with Horizontal(classes="buttons"):
                    yield Button("Test connection", id="ep-test", compact=True)
                    yield Button("Make default", id="ep-default", compact=True)
                    yield Button("Delete", id="ep-delete", variant="error", compact=True)
                yield Static("", id="ep-result")
                yield Label("Defaults for new conversations", classes="section")
                yield _field("system prompt", TextArea(id="system-prompt", compact=True))
                yield _field(
                    "temperature", Input(compact=True, placeholder="server default", id="temperature")
                )
                yield _field("top_p", Input(compact=True, placeholder="server default", id="top-p"))
                yield _field("max_tokens", Input(compact=True, placeholder="1024", id="max-tokens"))
                yield _field(
                    "memory",
                    Input(compact=True, placeholder="all (exchanges sent with a request)", id="memory"),
                )
                yield _field("theme", Select(compact=True, options=[], id="theme", prompt="theme"))
                yield Static("", id="defaults-result")
        yield LeanFooter()

    def on_mount(self) -> None:
        self.query_one("#settings-intro").display = bool(self.intro)
        self._show_writable()
        self._fill_list()
        self._load_endpoint(self._default_entry())
        self._load_defaults()
        # The list first (its highlight is what the form shows); a first run: the name.
        self.set_focus(self.query_one("#ep-name" if self.editing == NEW else "#endpoint-list"))

    def _default_entry(self) -> str:
        """The entry the screen opens on: the endpoint new conversations use."""
        try:
            chosen = self.services.config.choose_endpoint()
        except ConfigError:  # a bad LLAMA_TUI_BASE_URL: the configured ones still show
            chosen = None
        if chosen is None:
            return NEW
        return chosen.name if chosen.name in self.services.config.endpoints else ENV

    def _show_writable(self) -> None:
        """Read-only while config.toml fails to load: say where, turn saving off."""
        error = self.services.config.load_error
        self.query_one("#settings-readonly").display = error is not None
        if error is not None:
            where = f"{error.path}" + (f", line {error.line}" if error.line else "")
            self.query_one("#readonly-reason", Static).update(Content(
                f"Settings are read-only: {where} could not be loaded, so nothing here is "
                f"saved (the file is left untouched).\nFix {error.key or 'it'}: {error.problem}"
                + (f" ({error.hint})" if error.hint else "") + "\nthen Reload config."))
        for button in ("#ep-default", "#ep-delete"):
            self.query_one(button, Button).disabled = error is not None

    @on(Button.Pressed, "#reload-config")
    def _reload(self) -> None:
        problem = self.services.reload_config()
        if problem:
            self.notify(problem, title="Config still has a problem", severity="error",
                        timeout=15, markup=False)
        else:
            self.notify("Config loaded; settings can be saved again.", markup=False)
        self._show_writable()
        self._fill_list()
        self._load_endpoint(self._default_entry())
        self._load_defaults()

    def _fill_list(self) -> None:
        config = self.services.config
        options = [
            Option(Content(name + ("  (default)" if name == config.default_endpoint else "")), id=name)
            for name in config.endpoints
        ]
        if self._env_endpoint() is not None:
            options.append(Option(Content("env  (from LLAMA_TUI_BASE_URL)"), id=ENV))
        options.append(Option(Content("+ new endpoint"), id=NEW))
        self.query_one("#endpoint-list", OptionList).set_options(options)

    @staticmethod
    def _env_endpoint() -> Endpoint | None:
        try:
            return env_endpoint()
        except ConfigError:
            return None

    def _load_endpoint(self, name: str) -> None:
        self.editing = name
        ep = (self._env_endpoint() if name == ENV else self.services.config.endpoints.get(name)) \
            or Endpoint(name="", url="")
        values = {
            "#ep-name": ep.name,
            "#ep-url": ep.url,
            "#ep-key": "",
            "#ep-key-env": ep.key_env or "",
            "#ep-key-cmd": ep.key_cmd or "",
            "#ep-model": ep.model or "",
        }
        for selector, value in values.items():
            self.query_one(selector, Input).value = value
        self.query_one("#ep-key", Input).placeholder = mask(ep.api_key)
        self.query_one("#ep-kind", Select).value = ep.kind
        self.query_one("#ep-auth", Select).value = ep.auth
        self.query_one("#ep-format", Select).value = ep.prompt_format or "none"
        self.query_one("#ep-headers", TextArea).text = show_headers(ep.headers)
        self.query_one("#ep-result", Static).update(Content(ENV_NOTE if name == ENV else ""))
        for selector in FORM_FIELDS:  # the env endpoint is shown, not edited here
            self.query_one(selector).disabled = name == ENV
        for button in ("#ep-default", "#ep-delete"):
            self.query_one(button, Button).display = name != ENV
        options = self.query_one("#endpoint-list", OptionList)
        index = next((i for i in range(options.option_count)
                      if options.get_option_at_index(i).id == name), None)
        options.highlighted = index  # the selection shows, focused or not
        self._loaded.update(self._values(FORM_FIELDS))

    def _values(self, selectors: tuple[str, ...]) -> dict[str, object]:
        out: dict[str, object] = {}
        for selector in selectors:
            out[selector] = field_value(self.query_one(selector))
        return out

    def _unsaved(self) -> list[str]:
        """What has changes not saved yet: "endpoint", "defaults"."""
        changed = {k for k, v in self._values(FORM_FIELDS + DEFAULTS_FIELDS).items()
                   if self._loaded.get(k) != v}
        out = []
        if self.editing != ENV and changed & set(FORM_FIELDS):
            out.append("endpoint")
        if changed & set(DEFAULTS_FIELDS):
            out.append("defaults")
        return out

    def _load_defaults(self) -> None:
        config = self.services.config
        self.query_one("#system-prompt", TextArea).text = config.system_prompt or ""
        for selector, value in (
            ("#temperature", config.defaults.temperature),
            ("#top-p", config.defaults.top_p),
            ("#max-tokens", config.defaults.max_tokens),
            ("#memory", config.memory_window),
        ):
            self.query_one(selector, Input).value = "" if value is None else str(value)
        themes = sorted(self.app.available_themes)
        select = self.query_one("#theme", Select)
        select.set_options([(t, t) for t in themes])
        select.value = self.app.theme if self.app.theme in themes else Select.BLANK
        self._loaded.update(self._values(DEFAULTS_FIELDS))

    @on(OptionList.OptionSelected, "#endpoint-list")
    def _pick(self, event: OptionList.OptionSelected) -> None:
        wanted = event.option.id or NEW
        if wanted == self.editing:
            return
        if "endpoint" not in self._unsaved():
            self._load_endpoint(wanted)
            return

        def decided(choice: str | None) -> None:
            if choice == "save" and not self._save():
                choice = None
            if choice is None:  # stay: the list shows what the form still holds
                self._load_highlight()
            else:
                self._load_endpoint(wanted)

        self._ask(f"the endpoint {self.editing if self.editing != NEW else '(new)'}", decided)

    def _load_highlight(self) -> None:
        options = self.query_one("#endpoint-list", OptionList)
        options.highlighted = next((i for i in range(options.option_count)
                                    if options.get_option_at_index(i).id == self.editing), None)

    def _ask(self, what: str, decided: Any) -> None:
        from llama_tui.ui.screens.dialogs import UnsavedScreen

        self.app.push_screen(UnsavedScreen(what), decided)

    def _form_endpoint(self) -> Endpoint:
        name = self.query_one("#ep-name", Input).value.strip()
        url = self.query_one("#ep-url", Input).value.strip()
        if not name:
            raise ValueError("give the endpoint a name")
        if problem := url_problem(url):
            raise ValueError(f"the URL {problem}")
        old = self.services.config.endpoints.get(self.editing)
        key = self.query_one("#ep-key", Input).value.strip() or (old.api_key if old else None)
        fmt = self.query_one("#ep-format", Select).value
        base = old or Endpoint(name=name, url=url)
        return replace(
            base,
            name=name,
            url=url,
            api_key=key,
            # allow_blank=False, the options are MODES and AUTH_SCHEMES: one of them is chosen
            kind=cast(Mode, self.query_one("#ep-kind", Select).value),
            auth=cast(AuthScheme, self.query_one("#ep-auth", Select).value),
            key_env=self.query_one("#ep-key-env", Input).value.strip() or None,
            key_cmd=self.query_one("#ep-key-cmd", Input).value.strip() or None,
            model=self.query_one("#ep-model", Input).value.strip() or None,
            prompt_format=None if fmt == "none" else "llama2",
            headers=parse_headers(self.query_one("#ep-headers", TextArea).text,
                                  old.headers if old else None),
        )

    def _result(self, text: str, ok: bool, target: str = "#ep-result") -> None:
        result = self.query_one(target, Static)
        result.update(Content(text))
        result.set_class(not ok, "-error")

    def action_save(self) -> None:
        self._save()

    def _save(self) -> bool:
        """ctrl+s: write what changed (the endpoint in the form, the defaults) at once."""
        if (error := self.services.config.load_error) is not None:
            self._result(f"not saved: settings are read-only until {error.path} loads "
                         "(fix it, then Reload config)", False)
            return False
        unsaved = self._unsaved()
        if not unsaved:
            self._result("nothing to save: no changes", True)
            return True
        config = copy.deepcopy(self.services.config)
        endpoint = None
        try:
            if "endpoint" in unsaved:
                endpoint = self._form_endpoint()
                if endpoint.name != self.editing and endpoint.name in config.endpoints:
                    raise ValueError(f"an endpoint named {endpoint.name!r} exists already")
                config.endpoints.pop(self.editing, None)
                config.endpoints[endpoint.name] = endpoint
                if config.default_endpoint in (None, self.editing):
                    config.default_endpoint = endpoint.name
        except ValueError as exc:
            self._result(str(exc), False)
            return False
        try:
            if "defaults" in unsaved:
                theme = self._defaults_into(config)
        except ValueError as exc:
            self._result(str(exc), False, "#defaults-result")
            return False
        if not self._write(config, "settings saved"):
            return False
        if endpoint is not None:
            self._fill_list()
            self._load_endpoint(endpoint.name)
            self._result(f"saved {endpoint.name} to {config.path}", True)
        if "defaults" in unsaved:
            if isinstance(theme, str):
                self.app.theme = theme
            self._loaded.update(self._values(DEFAULTS_FIELDS))
            self._result(f"saved to {config.path}", True, "#defaults-result")
        return True

    def _defaults_into(self, config: Any) -> object:
        """The defaults part of the form into `config`; returns the theme chosen."""
        config.defaults = replace(
            config.defaults,
            temperature=_number(self, "#temperature", float),
            top_p=_number(self, "#top-p", float),
            max_tokens=_number(self, "#max-tokens", int),
        )
        config.memory_window = _number(self, "#memory", int)
        config.system_prompt = self.query_one("#system-prompt", TextArea).text.strip() or None
        theme = self.query_one("#theme", Select).value
        if isinstance(theme, str):
            config.theme = theme
        return theme

    @on(Button.Pressed, "#ep-delete")
    def _delete_endpoint(self) -> None:
        if self.editing not in self.services.config.endpoints:
            return
        config = copy.deepcopy(self.services.config)
        del config.endpoints[self.editing]
        if config.default_endpoint == self.editing:
            config.default_endpoint = next(iter(config.endpoints), None)
        if not self._write(config, f"deleted {self.editing}"):
            return
        self._fill_list()
        self._load_endpoint(next(iter(config.endpoints), NEW))

    @on(Button.Pressed, "#ep-default")
    def _make_default(self) -> None:
        if self.editing in self.services.config.endpoints:
            config = copy.deepcopy(self.services.config)
            config.default_endpoint = self.editing
            if self._write(config, f"{self.editing} is the default"):
                self._fill_list()
                self._load_highlight()

    def _write(self, config: Any, what: str, target: str = "#ep-result") -> bool:
        try:
            self.services.update_config(config)
        except ConfigError as exc:
            self._result(str(exc), False, target)
            return False
        except OSError as exc:
            self._result(f"could not write the config: {exc.strerror or exc}", False, target)
            return False
        self.notify(what, markup=False)
        return True

    @on(Button.Pressed, "#ep-test")
    def _test(self) -> None:
        try:
            endpoint = self._form_endpoint()
        except ValueError as exc:
            self._result(str(exc), False)
            return
        self._result(f"testing {endpoint.url} …", True)
        self._run_test(endpoint)

    @work(exclusive=True, group="test-connection")
    async def _run_test(self, endpoint: Endpoint) -> None:
        keys = self.services.keys
        keys.retry(endpoint.name)  # Test connection is the user's retry of a failed key command
        if keys.status(endpoint):
            self._result("running the key command …", True)
        try:
            endpoint = await keys.wait(endpoint)
        except ConfigError as exc:
            self._result(str(exc), False)
            return
        words, models = await test_connection(endpoint)
        model = self.query_one("#ep-model", Input)
        if len(models) == 1 and not model.value.strip() and not model.disabled:
            model.value = models[0]  # an unsaved change: ctrl+s keeps it
            save = self.services.key("save-settings")
            words += f"\nits only model is now in the model field ({save} saves it)"
        self._result(words, True)

    def action_close(self) -> None:
        """escape: an open drop-down closes first; unsaved changes ask save / discard / stay."""
        for select in self.query(Select):
            if select.expanded:
                select.expanded = False
                return
        unsaved = self._unsaved()
        if not unsaved:
            self.app.pop_screen()
            return

        def decided(choice: str | None) -> None:
            if choice == "discard" or (choice == "save" and self._save()):
                self.app.pop_screen()

        self._ask(" and ".join(unsaved), decided)


def _field(label: str, widget: Any) -> Horizontal:
    """A labelled form row."""
    return Horizontal(Label(label, classes="field-label"), widget, classes="field")


def _number(screen: Screen[Any], selector: str, kind: type) -> Any:
    from llama_tui.ui.screens.dialogs import parse_number

    return parse_number(screen.query_one(selector, Input).value, kind, selector.lstrip("#"))


#: How many model ids Test connection lists.
MODELS_SHOWN = 12


async def test_connection(endpoint: Endpoint) -> tuple[str, list[str]]:
    """What the endpoint answers, in words: its model list, else the result of a one-token
    request; and the model ids it listed."""
    async with Client(replace(endpoint, max_retries=0, read_timeout=20)) as client:
        try:
            models = await client.list_models()
        except ApiError:
            pass
        else:
            shown = ", ".join(sanitize(m) for m in models[:MODELS_SHOWN]) or "(none)"
            more = f" and {len(models) - MODELS_SHOWN} more" if len(models) > MODELS_SHOWN else ""
            return f"OK: the endpoint answered; models: {shown}{more}", models
        request = GenerationRequest(
            endpoint.kind,
            messages=[{"role": "user", "content": "Hi"}],
            prompt="Hi",
            params=GenerationParams(max_tokens=1),
        )
        try:
            reply = await client.complete(request)
        except ApiError as exc:
            return "Failed: " + "\n".join(exc.details()), []
        rid = reply.started.request_id
        return (f"OK: HTTP {reply.started.status}, a reply arrived"
                + (f" (request id {rid})" if rid else "")), []


def open_settings(app: App[Any], services: Services) -> None:
    """F2, the palette, "no endpoint yet": the settings screen, unless it is open already."""
    if not isinstance(app.screen, SettingsScreen):
        app.push_screen(SettingsScreen(services))
