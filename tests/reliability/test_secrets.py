"""Nothing leaked: after a full session with a recognisable key, the key is in no file but
config.toml (conversations, exports, the log), no notification, no screenshot, not in the
request inspector or copy-as-curl, not in `ask`'s output, even when the server echoes it
back. `key_cmd` output is never logged. config.toml is 0600. TLS is checked by default; a CA
bundle can be given; turning checks off is possible and loudly visible.
"""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from llama_tui import paths
from llama_tui.config import Config, hide_keys_in_logs, load_config
from llama_tui.inspector import as_curl, describe
from llama_tui.model import Endpoint
from llama_tui.ui.app import make_app
from tests.fakeserver import FakeServer, Response, chat_stream, error_response
from tests.reliability.harness import KEY, ROOT, child_env, write_config
from tests.reliability.tls import TlsProxy, make_certificate
from tests.ui.conftest import SIZE, main, type_and_send, wait_replies

ECHO_401 = {"error": {"message": f"Incorrect API key provided: {KEY}. You can find your API "
                                 "key at https://example.invalid/keys.", "code": "invalid_api_key"}}


@pytest.fixture
def log_file(isolated_home: Path) -> Iterator[Path]:
    """The log file as the CLI sets it up (under the state dir), removed afterwards."""
    from llama_tui.cli import setup_logging

    logger = logging.getLogger("llama_tui")
    before, level, propagate = list(logger.handlers), logger.level, logger.propagate
    setup_logging()
    hide_keys_in_logs()
    yield paths.log_file()
    for handler in [h for h in logger.handlers if h not in before]:
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(level)
    logger.propagate = propagate


def files_holding(folder: Path, secret: str, skip: tuple[str, ...] = ()) -> list[str]:
    return [str(p.relative_to(folder)) for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name not in skip and secret.encode() in p.read_bytes()]


def run_cli(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "llama_tui", *args], capture_output=True,
                          text=True, cwd=ROOT, env=child_env(home, **env), timeout=30)


async def test_a_full_session_leaves_the_key_nowhere(isolated_home: Path, fake_server: FakeServer,
                                                     log_file: Path) -> None:
    with FakeServer() as elsewhere:
        fake_server.enqueue(chat_stream(["Hello"]))
        fake_server.enqueue(error_response(429, {"error": {"message": "slow down"}},
                                           headers={"retry-after-ms": "10"}))
        fake_server.enqueue(chat_stream(["after a retry"]))
        fake_server.enqueue(Response(307, {"location": elsewhere.url("/v1/chat/completions")},
                                     [], chunked=False))
        elsewhere.enqueue(chat_stream(["from another origin"]))
        fake_server.enqueue(error_response(401, ECHO_401))
        write_config(isolated_home, fake_server, endpoint="max_retries = 1")
        app = make_app(probe_servers=())
        async with app.run_test(size=SIZE) as pilot:
            for prompt in ("one", "two", "three", "four"):
                await type_and_send(pilot, prompt)
                await wait_replies(pilot)
            screen = main(app)
            conv = screen.current
            assert conv is not None
            record = app.services.last_request(conv)
            assert record is not None
            inspector_text, curl = describe(record), as_curl(record)
            screen.action_inspect()
            await pilot.pause()
            await pilot.press("c")  # copy as curl
            await pilot.pause()
            shots = [app.export_screenshot()]
            clipboard = app.clipboard
            await pilot.press("escape")
            app.action_settings()
            await pilot.pause(0.3)
            shots.append(app.export_screenshot())
            notes = [f"{n.title} {n.message}" for n in app._notifications]
        assert "authorization" not in {k.lower() for k in elsewhere.requests[0].headers}
    assert fake_server.requests[0].headers["authorization"] == f"Bearer {KEY}"
    logging.getLogger("llama_tui.test").error("a library quoted %s", KEY,
                                              exc_info=ValueError(f"bad header: Bearer {KEY}"))
    conv_id = conv.id
    outputs = [run_cli(isolated_home, "export", conv_id, "--format", fmt) for fmt in ("md", "json")]
    outputs.append(run_cli(isolated_home, "list"))
    fake_server.enqueue(error_response(401, ECHO_401))
    outputs.append(run_cli(isolated_home, "ask", "-c", conv_id, "five"))

    for text in [inspector_text, curl, clipboard, *shots, *notes]:
        assert KEY not in text
    assert "$LLAMA_TUI_API_KEY" in curl and "$LLAMA_TUI_API_KEY" in clipboard
    assert any("Incorrect API key provided: [key hidden]" in n for n in notes)
    for done in outputs:
        assert KEY not in done.stdout and KEY not in done.stderr, done
    assert "[key hidden]" in outputs[-1].stderr
    log = log_file.read_text("utf-8")
    assert "redirected to" in log and "retry 1" in log  # the log did record the session
    assert "a library quoted [key hidden]" in log and "bad header: Bearer [key hidden]" in log
    assert files_holding(isolated_home, KEY, skip=("config.toml", "config.toml.bak.1")) == []
    assert "Incorrect API key provided: [key hidden]" in (
        paths.conversations_dir() / f"{conv_id}.toml").read_text("utf-8")


KEY_CMD_KEY = "sk-from-key-cmd-55e1b0"


def test_key_cmd_output_is_never_logged_or_shown(isolated_home: Path,
                                                 fake_server: FakeServer) -> None:
    command = (f"echo 'KEYCMD-NOISE {KEY_CMD_KEY}' >&2; echo '{KEY_CMD_KEY}'")
    fake_server.enqueue(chat_stream(["ok"]))
    fake_server.enqueue(error_response(401, {"error": {"message": f"bad key {KEY_CMD_KEY}"}}))
    write_config(isolated_home, None, extra=(
        f'[endpoints.cmd]\nurl = "{fake_server.base_url}/v1"\nkey_cmd = "{command}"\n'
        "max_retries = 0\n"))
    good = run_cli(isolated_home, "ask", "--endpoint", "cmd", "--save", "hi")
    bad = run_cli(isolated_home, "ask", "--endpoint", "cmd", "hi")
    assert good.returncode == 0 and bad.returncode == 1, (good, bad)
    assert fake_server.requests[0].headers["authorization"] == f"Bearer {KEY_CMD_KEY}"
    for done in (good, bad):
        assert KEY_CMD_KEY not in done.stdout + done.stderr
        assert "KEYCMD-NOISE" not in done.stdout + done.stderr
    assert files_holding(isolated_home, KEY_CMD_KEY, skip=("config.toml",)) == []
    assert files_holding(isolated_home, "KEYCMD-NOISE", skip=("config.toml",)) == []
    assert paths.log_file().exists()

    write_config(isolated_home, None, extra=(
        f'[endpoints.cmd]\nurl = "{fake_server.base_url}/v1"\n'
        f"key_cmd = \"echo 'sk-leaky-{KEY_CMD_KEY}'; exit 3\"\n"))
    failed = run_cli(isolated_home, "ask", "--endpoint", "cmd", "hi")
    assert failed.returncode == 2
    assert "endpoints.cmd.key_cmd" in failed.stderr and "exited with 3" in failed.stderr
    assert KEY_CMD_KEY not in failed.stderr + failed.stdout


# -- config.toml permissions -------------------------------------------------------------------

async def test_config_written_by_the_app_is_0600(isolated_home: Path) -> None:
    old = os.umask(0o022)
    try:
        app = make_app(probe_servers=())
        async with app.run_test(size=SIZE) as pilot:
            config = Config(path=paths.config_file(), endpoints={
                "e": Endpoint("e", "https://llama.example/v1", api_key=KEY)})
            app.services.update_config(config)
            config.theme = "llama-light"
            app.services.update_config(config)  # the second write keeps a backup
            await pilot.pause()
    finally:
        os.umask(old)
    for path in (paths.config_file(), paths.config_file().with_name("config.toml.bak.1")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert load_config().endpoints["e"].api_key == KEY


async def test_a_config_others_can_read_is_warned_about(isolated_home: Path,
                                                        fake_server: FakeServer) -> None:
    path = write_config(isolated_home, fake_server, mode=0o644)
    fake_server.enqueue(chat_stream(["ok"]))
    app = make_app(probe_servers=())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        notes = [str(n.message) for n in app._notifications if n.severity == "warning"]
    assert any("readable by others" in n and f"chmod 600 {path}" in n for n in notes), notes
    done = run_cli(isolated_home, "ask", "hi")
    assert done.returncode == 0 and f"chmod 600 {path}" in done.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # warned, not changed behind the user's back


# -- TLS ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    made = make_certificate(tmp_path_factory.mktemp("tls"))
    if made is None:
        pytest.skip("no openssl command to make a test certificate")
    return made


@pytest.fixture
def tls(fake_server: FakeServer, certificate: tuple[Path, Path]) -> Iterator[TlsProxy]:
    with TlsProxy(fake_server.port, *certificate) as proxy:
        yield proxy


def _tls_config(home: Path, proxy: TlsProxy, lines: str) -> None:
    write_config(home, None, extra=(
        f'default_endpoint = "tls"\n[endpoints.tls]\nurl = "{proxy.base_url}/v1"\n'
        f'key = "{KEY}"\nmax_retries = 0\n{lines}\n'))


def test_tls_is_verified_by_default_and_the_key_is_not_sent(
    isolated_home: Path, fake_server: FakeServer, tls: TlsProxy
) -> None:
    _tls_config(isolated_home, tls, "")
    done = run_cli(isolated_home, "ask", "hi")
    assert done.returncode == 1
    assert "CERTIFICATE_VERIFY_FAILED" in done.stderr and "ca_bundle" in done.stderr
    assert fake_server.requests == []


def test_a_ca_bundle_is_trusted(isolated_home: Path, fake_server: FakeServer, tls: TlsProxy,
                                certificate: tuple[Path, Path]) -> None:
    fake_server.enqueue(chat_stream(["over TLS"]))
    _tls_config(isolated_home, tls, f'ca_bundle = "{certificate[0]}"')
    done = run_cli(isolated_home, "ask", "hi")
    assert (done.returncode, done.stdout) == (0, "over TLS\n"), done.stderr
    assert "insecure" not in done.stderr.lower()
    _tls_config(isolated_home, tls, 'ca_bundle = "nowhere/ca.pem"')
    done = run_cli(isolated_home, "ask", "hi")
    assert done.returncode == 1
    assert "cannot use the CA bundle" in done.stderr and "nowhere/ca.pem" in done.stderr


async def test_insecure_works_and_is_loudly_visible(isolated_home: Path, fake_server: FakeServer,
                                                    tls: TlsProxy) -> None:
    fake_server.enqueue(chat_stream(["unchecked"]))
    fake_server.enqueue(chat_stream(["unchecked too"]))
    _tls_config(isolated_home, tls, "insecure = true")
    done = run_cli(isolated_home, "ask", "hi")
    assert (done.returncode, done.stdout) == (0, "unchecked\n"), done.stderr
    assert "warning: TLS certificate checks are OFF for endpoint 'tls'" in done.stderr
    app = make_app(probe_servers=())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        notes = [(n.severity, str(n.message)) for n in app._notifications]
        await type_and_send(pilot, "hi")
        await wait_replies(pilot)
        assert main(app).current.messages[-1].content == "unchecked too"
    assert ("warning", "TLS certificate checks are OFF for endpoint 'tls' (insecure = true): "
            "anyone on the network path can read your key and conversations.") in notes


def test_a_password_in_the_url_is_not_repeated_in_errors(isolated_home: Path) -> None:
    done = run_cli(isolated_home, "ask", "--base-url", "http://me:pw-in-url-91c2@127.0.0.1:9/v1",
                   "hi")
    assert done.returncode == 1 and "could not connect to http://127.0.0.1:9" in done.stderr
    assert "pw-in-url-91c2" not in done.stderr + done.stdout


@pytest.mark.parametrize("auth", ["bearer", "raw", "api-key"])
def test_inspector_and_curl_never_hold_the_key_whatever_the_auth_scheme(auth: str) -> None:
    from llama_tui.client.dialects import GenerationRequest
    from llama_tui.session import request_record

    endpoint = Endpoint("e", "https://llama.example/v1", auth=auth,  # type: ignore[arg-type]
                        api_key=KEY)
    record = request_record(endpoint, GenerationRequest(messages=[{"role": "user", "content": "x"}]))
    for text in (describe(record), as_curl(record), repr(record)):
        assert KEY not in text
    assert "$LLAMA_TUI_API_KEY" in as_curl(record)


async def test_a_key_the_server_echoes_in_the_reply_is_not_stored_or_left_on_screen(
    isolated_home: Path, fake_server: FakeServer,
) -> None:
    """The key split across two chunks of the reply: hidden in the file and, once the reply
    ends, on screen (while streaming it may show: a split key cannot be seen in one piece)."""
    from llama_tui.client.events import KEY_HIDDEN
    from llama_tui.ui.widgets.message_view import AssistantMessage

    fake_server.enqueue(chat_stream(["Your key is ", KEY[:9], KEY[9:], ", keep it safe."]))
    write_config(isolated_home, fake_server)
    app = make_app(probe_servers=())
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "what is my key?")
        await wait_replies(pilot)
        shown = main(app).query(AssistantMessage).last().source
    assert KEY not in shown and KEY_HIDDEN in shown
    assert files_holding(isolated_home / "data", KEY) == []
    assert files_holding(isolated_home / "data", KEY_HIDDEN) != []
