"""Settings: endpoints (add / edit / delete / test), defaults, theme. Saved to config.toml (0600).

Keys are never shown: the key field is empty, its placeholder shows the last four characters,
and leaving it empty keeps the stored key. Secret headers (`is_secret_header`) show masked
too, and a masked value left as it is keeps the stored one. When config.toml failed to load,
the screen says where the problem is and saving is off until the file is fixed (Reload).
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, OptionList, Select, Static, TextArea
from textual.widgets.option_list import Option

from llama_tui.client import ApiError, Client, GenerationRequest
from llama_tui.config import ConfigError, url_problem
from llama_tui.model import AUTH_SCHEMES, MODES, Endpoint, GenerationParams, is_secret_header

if TYPE_CHECKING:
    from llama_tui.ui.app import LlamaApp

NEW = "__new__"
FIRST_RUN_HELP = (
    "No endpoint is configured yet. Paste one of:\n"
    "  • an Azure AI endpoint URL (https://<name>.<region>.inference.ai.azure.com) and its key,\n"
    "  • a local server URL such as http://127.0.0.1:8080/v1 (llama.cpp, Ollama, vLLM, LM Studio).\n"
    "Then Save endpoint, and Test connection to see what it answers. Escape goes back to chat."
)


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
    BINDINGS = [Binding("escape", "close", "Back to chat", id="close-settings")]

    app: LlamaApp

    def __init__(self, intro: str = "") -> None:
        super().__init__()
        self.intro = intro
        self.editing: str = NEW

    def compose(self) -> ComposeResult:
        yield Static(Content(self.intro), id="settings-intro", classes="intro")
        with Horizontal(id="settings-readonly"):
            yield Static("", id="readonly-reason")
            yield Button("Reload config", id="reload-config", compact=True)
        with Horizontal(id="settings"):
            with Vertical(id="endpoint-list-pane"):
                yield Label("Endpoints")
                yield OptionList(id="endpoint-list")
            with VerticalScroll(id="settings-form"):
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
                    yield Button("Save endpoint", id="ep-save", variant="primary", compact=True)
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
                with Horizontal(classes="buttons"):
                    yield Button("Save defaults", id="defaults-save", variant="primary", compact=True)
                yield Static("", id="defaults-result")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#settings-intro").display = bool(self.intro)
        self._show_writable()
        self._fill_list()
        self._load_endpoint(next(iter(self.app.config.endpoints), NEW))
        self._load_defaults()
        self.query_one("#ep-name" if self.editing == NEW else "#ep-url", Input).focus()

    def _show_writable(self) -> None:
        """Read-only while config.toml fails to load: say where, turn saving off."""
        error = self.app.config.load_error
        self.query_one("#settings-readonly").display = error is not None
        if error is not None:
            where = f"{error.path}" + (f", line {error.line}" if error.line else "")
            self.query_one("#readonly-reason", Static).update(Content(
                f"Settings are read-only: {where} could not be loaded, so nothing here is "
                f"saved (the file is left untouched).\nFix {error.key or 'it'}: {error.problem}"
                + (f" ({error.hint})" if error.hint else "") + "\nthen Reload config."))
        for button in ("#ep-save", "#ep-default", "#ep-delete", "#defaults-save"):
            self.query_one(button, Button).disabled = error is not None

    @on(Button.Pressed, "#reload-config")
    def _reload(self) -> None:
        problem = self.app.reload_config()
        if problem:
            self.notify(problem, title="Config still has a problem", severity="error",
                        timeout=15, markup=False)
        else:
            self.notify("Config loaded; settings can be saved again.", markup=False)
        self._show_writable()
        self._fill_list()
        self._load_endpoint(next(iter(self.app.config.endpoints), NEW))
        self._load_defaults()

    def _fill_list(self) -> None:
        config = self.app.config
        options = [
            Option(Content(name + ("  (default)" if name == config.default_endpoint else "")), id=name)
            for name in config.endpoints
        ]
        options.append(Option(Content("+ new endpoint"), id=NEW))
        self.query_one("#endpoint-list", OptionList).set_options(options)

    def _load_endpoint(self, name: str) -> None:
        self.editing = name
        ep = self.app.config.endpoints.get(name) or Endpoint(name="", url="")
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
        self.query_one("#ep-result", Static).update("")

    def _load_defaults(self) -> None:
        config = self.app.config
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

    @on(OptionList.OptionSelected, "#endpoint-list")
    def _pick(self, event: OptionList.OptionSelected) -> None:
        self._load_endpoint(event.option.id or NEW)

    def _form_endpoint(self) -> Endpoint:
        name = self.query_one("#ep-name", Input).value.strip()
        url = self.query_one("#ep-url", Input).value.strip()
        if not name:
            raise ValueError("give the endpoint a name")
        if problem := url_problem(url):
            raise ValueError(f"the URL {problem}")
        old = self.app.config.endpoints.get(self.editing)
        key = self.query_one("#ep-key", Input).value.strip() or (old.api_key if old else None)
        fmt = self.query_one("#ep-format", Select).value
        base = old or Endpoint(name=name, url=url)
        return replace(
            base,
            name=name,
            url=url,
            api_key=key,
            kind=self.query_one("#ep-kind", Select).value,  # type: ignore[arg-type]
            auth=self.query_one("#ep-auth", Select).value,  # type: ignore[arg-type]
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

    @on(Button.Pressed, "#ep-save")
    def _save_endpoint(self) -> None:
        try:
            endpoint = self._form_endpoint()
        except ValueError as exc:
            self._result(str(exc), False)
            return
        config = copy.deepcopy(self.app.config)
        if endpoint.name != self.editing and endpoint.name in config.endpoints:
            self._result(f"an endpoint named {endpoint.name!r} exists already", False)
            return
        config.endpoints.pop(self.editing, None)
        config.endpoints[endpoint.name] = endpoint
        if config.default_endpoint in (None, self.editing):
            config.default_endpoint = endpoint.name
        if not self._write(config, f"saved {endpoint.name}"):
            return
        self._fill_list()
        self._load_endpoint(endpoint.name)
        self._result(f"saved {endpoint.name} to {config.path}", True)

    @on(Button.Pressed, "#ep-delete")
    def _delete_endpoint(self) -> None:
        if self.editing not in self.app.config.endpoints:
            return
        config = copy.deepcopy(self.app.config)
        del config.endpoints[self.editing]
        if config.default_endpoint == self.editing:
            config.default_endpoint = next(iter(config.endpoints), None)
        if not self._write(config, f"deleted {self.editing}"):
            return
        self._fill_list()
        self._load_endpoint(next(iter(config.endpoints), NEW))

    @on(Button.Pressed, "#ep-default")
    def _make_default(self) -> None:
        if self.editing in self.app.config.endpoints:
            config = copy.deepcopy(self.app.config)
            config.default_endpoint = self.editing
            if self._write(config, f"{self.editing} is the default"):
                self._fill_list()

    def _write(self, config: Any, what: str, target: str = "#ep-result") -> bool:
        try:
            self.app.update_config(config)
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
        keys = self.app.keys
        keys.retry(endpoint.name)  # Test connection is the user's retry of a failed key command
        if keys.status(endpoint):
            self._result("running the key command …", True)
        try:
            endpoint = await keys.wait(endpoint)
        except ConfigError as exc:
            self._result(str(exc), False)
            return
        self._result(await test_connection(endpoint), True)

    @on(Button.Pressed, "#defaults-save")
    def _save_defaults(self) -> None:
        config = copy.deepcopy(self.app.config)
        try:
            config.defaults = replace(
                config.defaults,
                temperature=_number(self, "#temperature", float),
                top_p=_number(self, "#top-p", float),
                max_tokens=_number(self, "#max-tokens", int),
            )
            config.memory_window = _number(self, "#memory", int)
        except ValueError as exc:
            self._result(str(exc), False, "#defaults-result")
            return
        config.system_prompt = self.query_one("#system-prompt", TextArea).text.strip() or None
        theme = self.query_one("#theme", Select).value
        if isinstance(theme, str):
            config.theme = theme
        if self._write(config, "defaults saved", "#defaults-result"):
            if isinstance(theme, str):
                self.app.theme = theme
            self._result(f"saved to {config.path}", True, "#defaults-result")

    def action_close(self) -> None:
        self.app.pop_screen()


def _field(label: str, widget: Any) -> Horizontal:
    """A labelled form row."""
    return Horizontal(Label(label, classes="field-label"), widget, classes="field")


def _number(screen: Screen[Any], selector: str, kind: type) -> Any:
    from llama_tui.ui.screens.dialogs import parse_number

    return parse_number(screen.query_one(selector, Input).value, kind, selector.lstrip("#"))


async def test_connection(endpoint: Endpoint) -> str:
    """What the endpoint answers: its model list, else the result of a one-token request."""
    async with Client(replace(endpoint, max_retries=0, read_timeout=20)) as client:
        try:
            models = await client.list_models()
            return "OK: the endpoint answered; models: " + (", ".join(models[:8]) or "(none)")
        except ApiError:
            pass
        request = GenerationRequest(
            endpoint.kind,
            messages=[{"role": "user", "content": "Hi"}],
            prompt="Hi",
            params=GenerationParams(max_tokens=1),
        )
        try:
            reply = await client.complete(request)
        except ApiError as exc:
            return "Failed: " + "\n".join(exc.details())
        rid = reply.started.request_id
        return f"OK: HTTP {reply.started.status}, a reply arrived" + (f" (request id {rid})" if rid else "")
