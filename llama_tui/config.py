"""config.toml: load strictly, explain every mistake, write safely (docs/design.md §4).

Unknown keys are errors that name the file, the line, the key and the closest valid key; bad
values (a URL without a host, a non-finite number) are errors too, so nothing bad reaches the
app. Keys come from the file (`key`), a variable (`key_env`) or a command (`key_cmd`, run by
`llama_tui.keys`), and are resolved only when an endpoint is used. `LLAMA_TUI_BASE_URL` /
`LLAMA_TUI_API_KEY` / `LLAMA_TUI_AUTH` define the endpoint named `env`. Writing lives in
`llama_tui.config_file` (in place, comments kept, backups, never over a file that fails to load);
checks on single values in `config_values`; the secrets kept out of logs in `redact`.
"""

from __future__ import annotations

import difflib
import logging
import math
import os
import re
import stat
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from llama_tui import paths
from llama_tui.config_values import finite_number, locate_key, url_problem
from llama_tui.model import (
    AUTH_SCHEMES,
    MAX_TOKENS_FIELDS,
    MODES,
    REASONING_CONTROLS,
    Endpoint,
    GenerationParams,
)
from llama_tui.redact import HideKeys, hide_keys_in_logs, remember_secrets

__all__ = ["Config", "ConfigError", "ConfigNotSaved", "HideKeys", "finite_number",
           "hide_keys_in_logs", "load_config", "remember_secrets", "url_problem"]

log = logging.getLogger(__name__)

ENV_ENDPOINT = "env"
#: More retries than this only keep a dead server's user waiting.
MAX_RETRIES = 10


class ConfigError(Exception):
    """A config problem, in words: which file, which key, what to do."""

    def __init__(self, path: Path | str | None, key: str | None, problem: str, hint: str = "",
                 line: int | None = None):
        self.path, self.key, self.problem, self.hint, self.line = path, key, problem, hint, line
        super().__init__(self._text())

    def _text(self) -> str:
        where = f"{self.path}" if self.path else "configuration"
        if self.line:
            where += f", line {self.line}"
        if self.key:
            where += f": {self.key}"
        return f"{where}: {self.problem}" + (f" ({self.hint})" if self.hint else "")

    def __reduce__(self) -> tuple[Any, ...]:  # copy and pickle (a Config holds one)
        return (type(self), (self.path, self.key, self.problem, self.hint, self.line))

    def at_line(self, line: int | None) -> ConfigError:
        """This error, saying which line of the file it is on."""
        self.line = line
        self.args = (self._text(),)
        return self


class ConfigNotSaved(ConfigError):
    """The config was not written because the file on disk failed to load (or would not)."""


@dataclass
class Config:
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    default_endpoint: str | None = None
    defaults: GenerationParams = field(default_factory=GenerationParams)
    memory_window: int | None = None
    system_prompt: str | None = None
    theme: str | None = None
    #: A terminal notification when a long reply ends while the terminal is in the background.
    notify_when_done: bool | None = None
    keymap: dict[str, str] = field(default_factory=dict)
    path: Path | None = None
    #: Non-fatal findings (e.g. a world-readable file holding keys), shown once by the UI/CLI.
    warnings: list[str] = field(default_factory=list)
    #: Why the file failed to load: this config is then the defaults and is never written.
    load_error: ConfigError | None = field(default=None, compare=False)
    #: `config_to_dict` of what was loaded: a save writes only what changed since (and so
    #: keeps what someone else changed in the file meanwhile).
    loaded: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def writable(self) -> bool:
        return self.load_error is None

    def endpoint_names(self) -> list[str]:
        names = list(self.endpoints)
        if env_endpoint() and ENV_ENDPOINT not in names:
            names.append(ENV_ENDPOINT)
        return names

    def choose_endpoint(self, name: str | None = None) -> Endpoint | None:
        """The named endpoint, else the configured default, else `env`, else the first one.

        The key is not resolved yet: call `resolve_key()` right before use.
        """
        if name:
            if name in self.endpoints:
                return self.endpoints[name]
            if name == ENV_ENDPOINT and (env := env_endpoint()):
                return env
            raise ConfigError(self.path, f"endpoint {name!r}", "no such endpoint",
                              _suggest(name, self.endpoint_names()))
        if self.default_endpoint and self.default_endpoint in self.endpoints:
            return self.endpoints[self.default_endpoint]
        if env := env_endpoint():
            return env
        return next(iter(self.endpoints.values()), None)


def env_endpoint() -> Endpoint | None:
    url = os.environ.get("LLAMA_TUI_BASE_URL", "").strip()
    if not url:
        return None
    if problem := url_problem(url):
        raise ConfigError("LLAMA_TUI_BASE_URL", None, f"{url!r}: {problem}")
    auth = os.environ.get("LLAMA_TUI_AUTH", "bearer").strip() or "bearer"
    if auth not in AUTH_SCHEMES:
        raise ConfigError("LLAMA_TUI_AUTH", None, f"unknown auth scheme {auth!r}",
                          "use one of " + ", ".join(AUTH_SCHEMES))
    return Endpoint(
        name=ENV_ENDPOINT,
        url=url,
        auth=auth,
        api_key=os.environ.get("LLAMA_TUI_API_KEY") or None,
        model=os.environ.get("LLAMA_TUI_MODEL") or None,
    )


# -- loading ----------------------------------------------------------------------------------

_TOP = {"default_endpoint", "defaults", "memory_window", "system_prompt", "theme", "keymap",
        "endpoints", "notify_when_done"}
_ENDPOINT_KEYS = {"url", "kind", "auth", "key", "key_env", "key_cmd", "model", "headers",
                  "connect_timeout", "read_timeout", "prompt_format", "verify", "ca_bundle",
                  "insecure", "max_retries", "max_tokens_field", "reasoning_control"}
_PARAM_TYPES: dict[str, tuple[type, ...]] = {
    "temperature": (int, float), "top_p": (int, float), "max_tokens": (int,), "stop": (list,),
    "seed": (int,), "presence_penalty": (int, float), "frequency_penalty": (int, float),
}


def _suggest(key: str, valid: Any) -> str:
    close = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else "valid: " + ", ".join(sorted(valid))


def _check_keys(table: dict[str, Any], valid: set[str], path: Path, prefix: str) -> None:
    for key in table:
        if key not in valid:
            raise ConfigError(path, prefix + key, "unknown key", _suggest(key, valid))


def _typed(value: Any, types: tuple[type, ...], path: Path, key: str) -> Any:
    if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
        names = " or ".join(t.__name__ for t in types)
        raise ConfigError(path, key, f"expected {names}, got {type(value).__name__} {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(path, key, f"{value!r} is not a usable number", "use a finite number")
    return value


def parse_params(table: Any, path: Path, prefix: str) -> GenerationParams:
    if not isinstance(table, dict):
        raise ConfigError(path, prefix.rstrip("."), "expected a table")
    _check_keys(table, set(_PARAM_TYPES), path, prefix)
    values = {k: _typed(v, _PARAM_TYPES[k], path, prefix + k) for k, v in table.items()}
    if "stop" in values and not all(isinstance(s, str) for s in values["stop"]):
        raise ConfigError(path, prefix + "stop", "expected a list of strings")
    return GenerationParams(**values)


def _parse_endpoint(name: str, table: Any, path: Path) -> Endpoint:
    prefix = f"endpoints.{name}."
    if not isinstance(table, dict):
        raise ConfigError(path, prefix.rstrip("."), "expected a table")
    _check_keys(table, _ENDPOINT_KEYS, path, prefix)
    if "url" not in table:
        raise ConfigError(path, prefix + "url", "missing", "paste the endpoint URL here")
    strings = {"url", "key", "key_env", "key_cmd", "model", "ca_bundle", "max_tokens_field",
               "reasoning_control"}
    for key in strings & set(table):
        _typed(table[key], (str,), path, prefix + key)
    if problem := url_problem(table["url"]):
        raise ConfigError(path, prefix + "url", f"{table['url']!r} {problem}")
    for key, choices in (("kind", MODES), ("auth", AUTH_SCHEMES), ("prompt_format", ("llama2",)),
                         ("max_tokens_field", MAX_TOKENS_FIELDS),
                         ("reasoning_control", REASONING_CONTROLS)):
        if key in table and table[key] not in choices:
            raise ConfigError(path, prefix + key, f"unknown value {table[key]!r}",
                              "use one of " + ", ".join(choices))
    headers = _typed(table.get("headers", {}), (dict,), path, prefix + "headers")
    for hname, hvalue in headers.items():
        _typed(hvalue, (str,), path, f"{prefix}headers.{hname}")
    verify = _verify(table, path, prefix)
    endpoint = Endpoint(
        name=name, url=table["url"], kind=table.get("kind", "chat"),
        auth=table.get("auth", "bearer"), api_key=table.get("key"),
        key_env=table.get("key_env"), key_cmd=table.get("key_cmd"), model=table.get("model"),
        headers=dict(headers), prompt_format=table.get("prompt_format"), verify=verify,
        max_tokens_field=table.get("max_tokens_field"),
        reasoning_control=table.get("reasoning_control", "reasoning_effort"),
    )
    for key in ("connect_timeout", "read_timeout"):
        if key in table:
            value = _typed(table[key], (int, float), path, prefix + key)
            if value <= 0:
                raise ConfigError(path, prefix + key, "must be more than 0 seconds")
            setattr(endpoint, key, float(value))
    if "max_retries" in table:
        retries = _typed(table["max_retries"], (int,), path, prefix + "max_retries")
        if not 0 <= retries <= MAX_RETRIES:
            raise ConfigError(path, prefix + "max_retries", f"must be 0 to {MAX_RETRIES}")
        endpoint.max_retries = retries
    return remember_secrets(endpoint)


def _verify(table: dict[str, Any], path: Path, prefix: str) -> bool | str:
    """TLS checking: on (True), off (`insecure = true`, or `verify = false`), or against the
    PEM bundle `ca_bundle` (or `verify = "path"`; a relative path is relative to this file).
    A bundle that cannot be read is reported, naming it, by the first request."""
    insecure = _typed(table.get("insecure", False), (bool,), path, prefix + "insecure")
    bundle = table.get("ca_bundle")
    if "verify" in table:
        verify = _typed(table["verify"], (bool, str), path, prefix + "verify")
        insecure = insecure or verify is False
        if isinstance(verify, str):
            bundle = verify
    if insecure:
        return False
    if not bundle:
        return True
    file = Path(bundle).expanduser()
    return str(file if file.is_absolute() else path.parent / file)


def insecure_warning(endpoint: Endpoint) -> str | None:
    """The warning to show wherever an endpoint with TLS checks turned off is used."""
    if endpoint.verify is not False:
        return None
    return (f"TLS certificate checks are OFF for endpoint {endpoint.name!r} (insecure = true): "
            "anyone on the network path can read your key and conversations.")


def load_config(path: Path | None = None) -> Config:
    """Read config.toml (a missing file is an empty config). Raises `ConfigError`, which says
    the line when it can."""
    path = path or paths.config_file()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Config(path=path, loaded={})
    except OSError as exc:
        raise ConfigError(path, None, f"cannot read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")  # a byte order mark from a Windows editor is no error
    except UnicodeDecodeError:
        raise ConfigError(path, None, "not UTF-8 text") from None
    config = config_from_text(text, path)
    mode = stat.S_IMODE(path.stat().st_mode)
    holds_keys = any(e.api_key for e in config.endpoints.values())
    if holds_keys and mode & 0o077:
        config.warnings.append(
            f"{path} holds API keys and is readable by others (mode {mode:o}); run: chmod 600 {path}"
        )
    return config


def config_from_text(text: str, path: Path) -> Config:
    """Parse and validate the text of a config file; `ConfigError` names the line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"line (\d+)", str(exc))
        raise ConfigError(path, None, f"not valid TOML: {exc}",
                          line=int(found.group(1)) if found else None) from None
    try:
        config = _config_from_data(data, path)
    except ConfigError as exc:
        raise exc.at_line(locate_key(text, exc.key)) from None
    config.loaded = config_to_dict(config)
    return config


def _config_from_data(data: dict[str, Any], path: Path) -> Config:
    _check_keys(data, _TOP, path, "")
    config = Config(path=path)
    endpoints = _typed(data.get("endpoints", {}), (dict,), path, "endpoints")
    config.endpoints = {name: _parse_endpoint(name, t, path) for name, t in endpoints.items()}
    if "defaults" in data:
        config.defaults = parse_params(data["defaults"], path, "defaults.")
    for key, types in (("default_endpoint", (str,)), ("system_prompt", (str,)),
                       ("theme", (str,)), ("memory_window", (int,)), ("keymap", (dict,)),
                       ("notify_when_done", (bool,))):
        if key in data:
            setattr(config, key, _typed(data[key], types, path, key))
    for action, keys in list(config.keymap.items()):
        if not isinstance(keys, str):  # not fatal: the binding keeps its default key
            del config.keymap[action]
            config.warnings.append(f"{path}: keymap.{action} = {keys!r} is not a key string "
                                   f"(such as \"ctrl+t\" or \"f9\"); the default key is kept")
    if config.memory_window is not None and config.memory_window < 0:
        raise ConfigError(path, "memory_window", "must be 0 or more")
    default = config.default_endpoint
    if default and default not in config.endpoints and default != ENV_ENDPOINT:
        # Not fatal (deleting an endpoint in settings must not break the next start): say so.
        names = config.endpoint_names() or [ENV_ENDPOINT]
        config.warnings.append(f"{path}: default_endpoint = {default!r} names no endpoint "
                               f"({_suggest(default, names)}); another one is used")
    return config


# -- saving -----------------------------------------------------------------------------------

def config_to_dict(config: Config) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key in ("default_endpoint", "system_prompt", "theme", "memory_window",
                "notify_when_done"):
        if getattr(config, key) is not None:
            data[key] = getattr(config, key)
    if defaults := config.defaults.as_dict():
        data["defaults"] = defaults
    if config.keymap:
        data["keymap"] = dict(config.keymap)
    endpoints: dict[str, Any] = {}
    for name, ep in config.endpoints.items():
        table: dict[str, Any] = {"url": ep.url, "kind": ep.kind, "auth": ep.auth}
        for key, value in (("key", ep.api_key), ("key_env", ep.key_env),
                           ("key_cmd", ep.key_cmd), ("model", ep.model),
                           ("prompt_format", ep.prompt_format),
                           ("max_tokens_field", ep.max_tokens_field)):
            if value:
                table[key] = value
        if ep.headers:
            table["headers"] = dict(ep.headers)
        if ep.verify is False:
            table["insecure"] = True
        elif isinstance(ep.verify, str):
            table["ca_bundle"] = ep.verify
        defaults = {f.name: f.default for f in fields(Endpoint)}
        for key in ("connect_timeout", "read_timeout", "max_retries", "reasoning_control"):
            if getattr(ep, key) != defaults[key]:
                table[key] = getattr(ep, key)
        endpoints[name] = table
    if endpoints:
        data["endpoints"] = endpoints
    return data
