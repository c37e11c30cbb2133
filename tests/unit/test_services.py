"""`ui.services.Services`: what the screens use of the app, tried without an app."""

from __future__ import annotations

from pathlib import Path

from llama_tui import paths
from llama_tui.config import Config, ConfigError, load_config
from llama_tui.inspector import RequestLog, RequestRecord
from llama_tui.model import Conversation, Message, Role
from llama_tui.reply import Reply
from llama_tui.storage.store import ConversationStore
from llama_tui.ui.services import Services

TWO = """default_endpoint = "a"
[endpoints.a]
url = "http://127.0.0.1:1/v1"
model = "model-a"
[endpoints.b]
url = "http://127.0.0.1:2/v1"
"""


def services(text: str = TWO) -> Services:
    path = paths.config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return Services(load_config(path), ConversationStore())


def test_a_conversation_uses_its_endpoint_and_model_else_the_chosen_else_the_default() -> None:
    s = services()
    assert s.endpoint_of(None).name == "a"
    s.chosen_endpoint = "b"
    assert s.endpoint_of(Conversation()).name == "b"
    conv = Conversation(endpoint="a")
    assert (s.endpoint_of(conv).name, s.endpoint_of(conv).model) == ("a", "model-a")
    conv.model = "model-x"
    assert s.endpoint_of(conv).model == "model-x"
    gone = Conversation(endpoint="deleted-since", model="model-x")
    # an endpoint no longer configured: the chosen one, without a model meant for another
    assert (s.endpoint_of(gone).name, s.endpoint_of(gone).model) == ("b", None)


def test_the_status_word_names_the_endpoint_and_model_or_the_way_to_add_one() -> None:
    s = services()
    assert s.endpoint_label(None) == "a · model-a"
    empty = Services(Config(), ConversationStore())
    assert empty.endpoint_label(None) == "no endpoint (F2)"


def test_listeners_hear_every_change_of_settings_and_a_failed_reload_changes_nothing() -> None:
    s = services()
    heard: list[tuple[str | None, str | None]] = []
    s.on_config_changed(lambda before, after: heard.append((before.theme, after.theme)))
    assert s.remember_theme("llama-light") is None
    assert heard == [(None, "llama-light")]
    assert load_config(s.config.path).theme == "llama-light"
    assert s.config.path is not None
    s.config.path.write_text(TWO + "\ntheme = 'x'\n[oops\n")
    problem = s.reload_config()
    assert problem is not None and "config.toml" in problem
    assert s.config.theme == "llama-light" and len(heard) == 1
    s.config.path.write_text(TWO)
    assert s.reload_config() is None
    assert heard[-1] == ("llama-light", None)


def test_a_theme_on_a_config_that_failed_to_load_is_kept_for_the_session_only(
        tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[oops\n")
    before = path.read_bytes()
    config = Config(path=path, load_error=ConfigError(path, None, "bad", "fix it", line=1))
    s = Services(config, ConversationStore())
    problem = s.remember_theme("llama-light")
    assert problem is not None
    assert s.config.theme == "llama-light"
    assert path.read_bytes() == before


def test_the_request_log_keeps_the_latest_per_conversation_and_per_reply() -> None:
    log = RequestLog(keep=3)
    messages = [Message(Role.ASSISTANT, str(n)) for n in range(5)]
    for n, message in enumerate(messages):
        log.remember(f"c{n % 2}", message, RequestRecord("u", {"n": n}, {}))
    assert log.last("c0").body == {"n": 4} and log.last("c1").body == {"n": 3}
    assert log.behind(messages[4]).body == {"n": 4}
    assert log.behind(messages[1]) is None  # dropped: only the last 3 replies are kept
    assert len(log) == 3
    assert log.behind(Message(Role.ASSISTANT, "4")) is None  # an equal message is not it


def test_a_finished_reply_is_remembered_with_its_response_status() -> None:
    s = services()
    conv = Conversation()
    message = Message(Role.ASSISTANT, "hi")
    reply = Reply(conv, message, "q", record=RequestRecord("u", {"a": 1}, {}))
    s.remember_request(reply)
    record = s.request_for(message)
    assert record is not None and record.status is None and s.last_request(conv) is record
