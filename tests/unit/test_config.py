"""config.toml: strict loading with helpful errors, env endpoint, key sources, safe saving."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from llama_tui.config import (
    Config,
    ConfigError,
    load_config,
)
from llama_tui.config_file import save_config
from llama_tui.keys import resolve_key
from llama_tui.model import Endpoint, GenerationParams

FULL = '''
default_endpoint = "azure-llama2"
system_prompt = "You are a helpful assistant."
memory_window = 5
theme = "gruvbox"

[keymap]
send = "enter"

[defaults]
temperature = 0.7
top_p = 1
max_tokens = 512
stop = ["</s>"]
seed = 42
presence_penalty = 0.0
frequency_penalty = 0.5

[endpoints.azure-llama2]
url = "https://my-llama.eastus2.inference.ai.azure.com"
kind = "chat"
auth = "raw"
key_env = "AZURE_LLAMA_KEY"
model = "llama-2-7b-chat"
headers = { azureml-model-deployment = "llama-2-7b-chat-18" }
connect_timeout = 5
read_timeout = 60.5
max_retries = 0

[endpoints.local]
url = "http://127.0.0.1:8080/v1"
kind = "completion"
prompt_format = "llama2"
insecure = true
'''


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LLAMA_TUI_BASE_URL", "LLAMA_TUI_API_KEY", "LLAMA_TUI_AUTH", "LLAMA_TUI_MODEL"):
        monkeypatch.delenv(name, raising=False)


def write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, "utf-8")
    path.chmod(mode)
    return path


def error_of(tmp_path: Path, text: str) -> ConfigError:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    return info.value


def test_full_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL))
    assert config.default_endpoint == "azure-llama2"
    assert (config.system_prompt, config.memory_window, config.theme) == (
        "You are a helpful assistant.", 5, "gruvbox")
    assert config.keymap == {"send": "enter"}
    assert config.defaults == GenerationParams(0.7, 1, 512, ["</s>"], 42, 0.0, 0.5)
    azure = config.endpoints["azure-llama2"]
    assert azure == Endpoint(
        "azure-llama2", "https://my-llama.eastus2.inference.ai.azure.com", kind="chat",
        auth="raw", key_env="AZURE_LLAMA_KEY", model="llama-2-7b-chat",
        headers={"azureml-model-deployment": "llama-2-7b-chat-18"}, connect_timeout=5.0,
        read_timeout=60.5, max_retries=0)
    local = config.endpoints["local"]
    assert (local.kind, local.prompt_format, local.verify, local.auth) == (
        "completion", "llama2", False, "bearer")
    assert list(config.endpoints) == ["azure-llama2", "local"]
    assert config.warnings == []


def test_unknown_top_level_key_suggests(tmp_path: Path) -> None:
    error = error_of(tmp_path, 'default_endpont = "x"\n')
    assert error.key == "default_endpont"
    assert "unknown key" in str(error) and "did you mean 'default_endpoint'?" in str(error)


def test_notify_when_done_is_a_boolean_off_by_default(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "")).notify_when_done is None
    assert load_config(write(tmp_path, "notify_when_done = true\n")).notify_when_done is True
    error = error_of(tmp_path, 'notify_when_done = "yes"\n')
    assert error.key == "notify_when_done" and "expected bool" in str(error)
    error = error_of(tmp_path, "notify_when_don = true\n")
    assert "did you mean 'notify_when_done'?" in str(error)


def test_unknown_endpoint_key_suggests(tmp_path: Path) -> None:
    error = error_of(tmp_path, '[endpoints.a]\nurl = "http://x"\nkey_evn = "K"\n')
    assert error.key == "endpoints.a.key_evn"
    assert "did you mean 'key_env'?" in str(error)


def test_unknown_defaults_key_suggests(tmp_path: Path) -> None:
    error = error_of(tmp_path, "[defaults]\ntemprature = 0.2\n")
    assert error.key == "defaults.temprature" and "did you mean 'temperature'?" in str(error)


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ('memory_window = "5"', "memory_window", "expected int, got str"),
        ("memory_window = true", "memory_window", "expected int, got bool"),
        ("memory_window = -1", "memory_window", "0 or more"),
        ('system_prompt = 3', "system_prompt", "expected str"),
        ('[defaults]\ntemperature = "hot"', "defaults.temperature", "expected int or float"),
        ("[defaults]\nmax_tokens = 1.5", "defaults.max_tokens", "expected int, got float"),
        ('[defaults]\nstop = ["a", 1]', "defaults.stop", "list of strings"),
        ('[defaults]\nstop = "</s>"', "defaults.stop", "expected list"),
        ('endpoints = 1', "endpoints", "expected dict"),
        ('[endpoints.a]\nurl = 1', "endpoints.a.url", "expected str"),
        ('[endpoints.a]\nurl = "http://u"\nheaders = { X = 1 }', "endpoints.a.headers.X", "expected str"),
        ('[endpoints.a]\nurl = "http://u"\nread_timeout = 0', "endpoints.a.read_timeout", "more than 0"),
        ('[endpoints.a]\nurl = "http://u"\nread_timeout = "60"', "endpoints.a.read_timeout",
         "expected int or float"),
        ('[endpoints.a]\nurl = "http://u"\ninsecure = "yes"', "endpoints.a.insecure", "expected bool"),
        ('[endpoints.a]\nurl = "http://u"\nmax_retries = 1.0', "endpoints.a.max_retries", "expected int"),
    ],
)
def test_wrong_types_name_the_key(tmp_path: Path, text: str, key: str, words: str) -> None:
    error = error_of(tmp_path, text + "\n")
    assert error.key == key
    assert words in str(error)


@pytest.mark.parametrize(
    ("key", "value", "choices"),
    [("kind", "chatt", "chat, completion"), ("auth", "Bearer", "bearer, raw, api-key"),
     ("prompt_format", "llama3", "llama2")],
)
def test_bad_choice_values(tmp_path: Path, key: str, value: str, choices: str) -> None:
    error = error_of(tmp_path, f'[endpoints.a]\nurl = "http://u"\n{key} = "{value}"\n')
    assert error.key == f"endpoints.a.{key}"
    assert repr(value) in str(error) and choices in str(error)


def test_missing_url(tmp_path: Path) -> None:
    error = error_of(tmp_path, '[endpoints.a]\nkind = "chat"\n')
    assert error.key == "endpoints.a.url" and "missing" in str(error)


def test_missing_file_is_an_empty_config(tmp_path: Path) -> None:
    config = load_config(tmp_path / "nope.toml")
    assert config.endpoints == {} and config.warnings == [] and config.path == tmp_path / "nope.toml"
    assert config.choose_endpoint() is None


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    error = error_of(tmp_path, '[endpoints.a\nurl = "http://u"\n')
    assert error.path == tmp_path / "config.toml" and "not valid TOML" in str(error)


def test_non_utf8_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes('system_prompt = "Café"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)


@pytest.mark.parametrize("mode", [0o644, 0o604, 0o640])
def test_readable_by_others_file_with_a_key_warns(tmp_path: Path, mode: int) -> None:
    path = write(tmp_path, '[endpoints.a]\nurl = "http://u"\nkey = "sk-1"\n', mode=mode)
    config = load_config(path)
    assert len(config.warnings) == 1
    assert str(path) in config.warnings[0] and "chmod 600" in config.warnings[0]
    assert "sk-1" not in config.warnings[0]


@pytest.mark.parametrize(
    ("text", "mode"),
    [('[endpoints.a]\nurl = "http://u"\nkey = "sk-1"\n', 0o600),
     ('[endpoints.a]\nurl = "http://u"\nkey_env = "K"\n', 0o644)],
)
def test_no_warning_when_private_or_keyless(tmp_path: Path, text: str, mode: int) -> None:
    assert load_config(write(tmp_path, text, mode)).warnings == []


# -- endpoints from the environment and choosing one -------------------------------------------

def test_env_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLAMA_TUI_BASE_URL", "https://x.inference.ai.azure.com ")
    monkeypatch.setenv("LLAMA_TUI_API_KEY", "sk-env")
    monkeypatch.setenv("LLAMA_TUI_AUTH", "raw")
    endpoint = Config().choose_endpoint()
    assert endpoint is not None
    assert (endpoint.name, endpoint.url, endpoint.api_key, endpoint.auth) == (
        "env", "https://x.inference.ai.azure.com", "sk-env", "raw")
    assert Config().endpoint_names() == ["env"]


def test_env_endpoint_bad_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLAMA_TUI_BASE_URL", "http://x")
    monkeypatch.setenv("LLAMA_TUI_AUTH", "basic")
    with pytest.raises(ConfigError, match=r"LLAMA_TUI_AUTH.*'basic'"):
        Config().choose_endpoint()


def two(default: str | None = None) -> Config:
    return Config(endpoints={"first": Endpoint("first", "http://1"),
                             "second": Endpoint("second", "http://2")},
                  default_endpoint=default)


def test_choose_endpoint_order(monkeypatch: pytest.MonkeyPatch) -> None:
    assert two().choose_endpoint().name == "first"  # type: ignore[union-attr]
    monkeypatch.setenv("LLAMA_TUI_BASE_URL", "http://env")
    assert two().choose_endpoint().name == "env"  # type: ignore[union-attr]
    assert two("second").choose_endpoint().name == "second"  # type: ignore[union-attr]
    assert two("second").choose_endpoint("first").name == "first"  # type: ignore[union-attr]
    assert two("second").choose_endpoint("env").url == "http://env"  # type: ignore[union-attr]


def test_unknown_endpoint_name_suggests() -> None:
    with pytest.raises(ConfigError) as info:
        two().choose_endpoint("secnd")
    assert "no such endpoint" in str(info.value) and "did you mean 'second'?" in str(info.value)


# -- keys -------------------------------------------------------------------------------------

def test_literal_key_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K", "from-env")
    endpoint = Endpoint("a", "u", api_key="literal", key_env="K")
    assert resolve_key(endpoint).api_key == "literal"


def test_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", "sk-env")
    resolved = resolve_key(Endpoint("a", "u", key_env="MY_KEY"))
    assert resolved.api_key == "sk-env" and resolved.key_env == "MY_KEY"
    monkeypatch.delenv("MY_KEY")
    with pytest.raises(ConfigError, match="MY_KEY is not set"):
        resolve_key(Endpoint("a", "u", key_env="MY_KEY"))


def test_key_cmd() -> None:
    assert resolve_key(Endpoint("a", "u", key_cmd="echo secret")).api_key == "secret"


@pytest.mark.parametrize("cmd", ["echo hunter2-partial; exit 3", "echo hunter2-partial >&2; exit 1",
                                 "true"])
def test_failing_key_cmd_does_not_echo_output(cmd: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_key(Endpoint("a", "u", key_cmd=cmd))
    assert info.value.key == "endpoints.a.key_cmd"
    assert "hunter2" not in str(info.value)


# -- saving -----------------------------------------------------------------------------------

def test_save_then_load_round_trip(tmp_path: Path) -> None:
    original = load_config(write(tmp_path, FULL))
    original.endpoints["keyed"] = Endpoint("keyed", "https://k.example", auth="api-key",
                                           api_key="sk-saved", key_cmd=None,
                                           verify=str(tmp_path / "ca.pem"))
    target = tmp_path / "sub" / "config.toml"
    assert save_config(original, target) == target
    again = load_config(target)
    assert again.endpoints == original.endpoints
    assert again.defaults == original.defaults
    for key in ("default_endpoint", "system_prompt", "memory_window", "theme", "keymap"):
        assert getattr(again, key) == getattr(original, key)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert again.warnings == []


def test_save_keeps_a_backup_of_the_previous_file(tmp_path: Path) -> None:
    path = write(tmp_path, FULL, mode=0o644)
    config = load_config(path)
    config.theme = "monokai"
    save_config(config)
    backup = tmp_path / "config.toml.bak.1"
    assert backup.read_text("utf-8") == FULL
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert load_config(path).theme == "monokai"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_a_default_endpoint_that_names_no_endpoint_is_said_not_fatal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLAMA_TUI_BASE_URL", raising=False)
    path = write(tmp_path, 'default_endpoint = "azur"\n[endpoints.azure]\nurl = "http://u"\n')
    config = load_config(path)
    assert len(config.warnings) == 1
    assert "'azur' names no endpoint" in config.warnings[0]
    assert "did you mean 'azure'?" in config.warnings[0]
    assert config.choose_endpoint().name == "azure"
    fine = write(tmp_path, 'default_endpoint = "azure"\n[endpoints.azure]\nurl = "http://u"\n')
    assert load_config(fine).warnings == []


# -- values that would crash later are refused at load ---------------------------------------

@pytest.mark.parametrize(
    ("url", "words"),
    [("http://[::1", "not a URL"), ("ftp://x.example", "http:// or https://"),
     ("x.example/v1", "http:// or https://"), ("https://", "no host"),
     ("http://my host/v1", "not a host name"), ("http://x.example:99999", "not a URL")],
)
def test_bad_urls_are_refused_at_load(tmp_path: Path, url: str, words: str) -> None:
    error = error_of(tmp_path, f'[endpoints.a]\nurl = "{url}"\n')
    assert error.key == "endpoints.a.url" and words in str(error) and url in str(error)
    assert error.line == 2


@pytest.mark.parametrize("url", ["http://[::1]:8080/v1", "https://x.inference.ai.azure.com",
                                 "http://127.0.0.1:11434", "https://gw.example/llama?api-version=1"])
def test_good_urls_load(tmp_path: Path, url: str) -> None:
    assert load_config(write(tmp_path, f'[endpoints.a]\nurl = "{url}"\n')).endpoints["a"].url == url


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "+nan"])
def test_non_finite_numbers_are_refused(tmp_path: Path, value: str) -> None:
    error = error_of(tmp_path, f"# comment\n[defaults]\ntemperature = {value}\n")
    assert error.key == "defaults.temperature" and "not a usable number" in str(error)
    assert error.line == 3
    error = error_of(tmp_path, f'[endpoints.a]\nurl = "http://a"\nread_timeout = {value}\n')
    assert error.key == "endpoints.a.read_timeout"


def test_finite_number_for_typed_values() -> None:
    from llama_tui.config import finite_number

    assert finite_number(" 0.5 ", float, "temperature") == 0.5
    for text in ("nan", "inf", "-Infinity", "hot"):
        with pytest.raises(ValueError, match="temperature"):
            finite_number(text, float, "temperature")


def test_a_keymap_value_that_is_not_a_string_is_a_warning(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[keymap]\nsettings = 5\nnew-chat = "ctrl+t"\n'))
    assert config.keymap == {"new-chat": "ctrl+t"}
    assert len(config.warnings) == 1 and "keymap.settings = 5" in config.warnings[0]


def test_the_line_of_a_toml_syntax_error(tmp_path: Path) -> None:
    error = error_of(tmp_path, 'theme = "a"\n\n[endpoints.a\nurl = "u"\n')
    assert error.line == 3 and ", line 3: not valid TOML" in str(error)


# -- secret headers ---------------------------------------------------------------------------

SECRET_HEADERS = {"X-API-Key": "sk-header-one", "Ocp-Apim-Subscription-Key": "sk-header-two",
                  "api-key": "sk-header-three", "X-Auth-Token": "sk-header-four",
                  "azureml-model-deployment": "visible-deployment"}


def test_secret_headers_are_hidden_like_the_key(tmp_path: Path) -> None:
    import logging

    from llama_tui.config import HideKeys
    from llama_tui.inspector import redacted_headers
    from llama_tui.model import is_secret_header

    assert [is_secret_header(n) for n in SECRET_HEADERS] == [True] * 4 + [False]
    assert is_secret_header("x-goog-api-key") and is_secret_header("Proxy-Authorization")
    headers = "\n".join(f'"{k}" = "{v}"' for k, v in SECRET_HEADERS.items())
    config = load_config(write(tmp_path, f'[endpoints.a]\nurl = "http://a"\nkey = "sk-main-key"\n'
                                         f"[endpoints.a.headers]\n{headers}\n"))
    endpoint = config.endpoints["a"]
    shown = repr(endpoint) + repr(config)
    assert "visible-deployment" in shown
    assert "sk-header" not in shown and "sk-main-key" not in shown
    inspected = redacted_headers(endpoint)
    assert "sk-header" not in repr(inspected) and "sk-main-key" not in repr(inspected)
    assert inspected["azureml-model-deployment"] == "visible-deployment"
    record = logging.LogRecord("llama_tui", logging.INFO, __file__, 1, "sent %s", (
        dict(SECRET_HEADERS),), None)
    HideKeys().filter(record)
    assert "sk-header" not in record.getMessage() and "visible-deployment" in record.getMessage()


def test_max_retries_is_bounded(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pytest as _pytest

    from llama_tui.config import ConfigError as _ConfigError
    from llama_tui.config import load_config as _load

    path = tmp_path / "config.toml"
    path.write_text('[endpoints.e]\nurl = "http://127.0.0.1:1/v1"\nmax_retries = 1000000000000\n')
    with _pytest.raises(_ConfigError, match="max_retries"):
        _load(path)


def test_max_tokens_field_and_reasoning_control_load_check_and_round_trip(
    tmp_path: Path,
) -> None:
    text = ('[endpoints.o]\nurl = "https://api.openai.com/v1"\n'
            'max_tokens_field = "max_completion_tokens"  # o-series models\n'
            '\n[endpoints.q]\nurl = "http://127.0.0.1:8000/v1"\n'
            'reasoning_control = "chat_template_kwargs"\n')
    path = tmp_path / "config.toml"
    path.write_text(text, "utf-8")
    config = load_config(path)
    o, q = config.endpoints["o"], config.endpoints["q"]
    assert (o.max_tokens_field, o.reasoning_control) == ("max_completion_tokens",
                                                         "reasoning_effort")
    assert (q.max_tokens_field, q.reasoning_control) == (None, "chat_template_kwargs")
    config.theme = "llama-light"
    save_config(config)
    assert path.read_text("utf-8").endswith(text)  # untouched by another key's change
    config.endpoints["q"].max_tokens_field = "max_tokens"
    config.endpoints["o"].reasoning_control = "chat_template_kwargs"
    save_config(config)
    again = load_config(path)
    assert again.endpoints["q"].max_tokens_field == "max_tokens"
    assert again.endpoints["o"].reasoning_control == "chat_template_kwargs"
    assert "# o-series models" in path.read_text("utf-8")


@pytest.mark.parametrize(("key", "value", "hint"), [
    ("max_tokens_field", '"max_token"', "max_tokens, max_completion_tokens"),
    ("reasoning_control", '"effort"', "reasoning_effort, chat_template_kwargs"),
    ("reasoning_control", "true", "expected str"),
])
def test_bad_max_tokens_field_or_reasoning_control_is_an_error(
    tmp_path: Path, key: str, value: str, hint: str,
) -> None:
    error = error_of(tmp_path, f'[endpoints.a]\nurl = "http://x"\n{key} = {value}\n')
    assert error.key == f"endpoints.a.{key}" and hint in str(error) and error.line == 3
