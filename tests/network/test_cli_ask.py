"""The real CLI (`python -m llama_tui ...`) in a subprocess against the fake server (docs/design.md §5).

What scripts rely on: the reply alone on stdout (plus one newline), every other word on stderr,
exit codes 0 / 1 request failed / 2 usage or config / 3 content filter, and never a traceback.
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from llama_tui.sanitize import sanitize
from tests.fakeserver import (
    FakeServer,
    azure_content_filter_400,
    chat_json,
    chat_stream,
    completion_stream,
    disconnect_after,
    error_response,
    sse_events,
    stall_after,
)

ROOT = Path(__file__).resolve().parents[2]
PIECES = ["Café ", "— ", "🙂", " appétit", "\n", "second line."]
TEXT = "".join(PIECES)
KEY = "sk-cli-secret"
TRANSLATOR = (
    "Translate the following content from English to French "
    "and reply with only the translated result.\nI love programming."
)


@dataclass
class Run:
    code: int
    stdout: bytes
    stderr: str

    @property
    def out(self) -> str:
        return self.stdout.decode("utf-8")


def child_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLAMA_TUI_")}
    env["LLAMA_TUI_HOME"] = str(home)
    env.update(extra or {})
    return env


def run_cli(
    home: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None,
    timeout: float = 30,
) -> Run:
    done = subprocess.run(
        [sys.executable, "-m", "llama_tui", *args],
        input=stdin.encode() if stdin is not None else None,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True, env=child_env(home, env), cwd=ROOT, timeout=timeout,
    )
    stderr = done.stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr, stderr
    assert "internal error" not in stderr, stderr
    return Run(done.returncode, done.stdout, stderr)


def ask(home: Path, url: str, *args: str, **kw: Any) -> Run:
    return run_cli(home, "ask", "--base-url", url, *args, **kw)


def write_config(home: Path, text: str) -> Path:
    path = home / "config" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


def sent(server: FakeServer, index: int = -1) -> dict[str, Any]:
    body = server.requests[index].json()
    assert isinstance(body, dict)
    return body


# -- success -----------------------------------------------------------------------------------

def test_stdout_is_exactly_the_reply(home: Path, fake_server: FakeServer, url: str) -> None:
    fake_server.enqueue(chat_stream(PIECES, delay=0.005))
    run = ask(home, url, "--api-key", KEY, "Hi there")
    assert run.code == 0
    assert run.stdout == (TEXT + "\n").encode("utf-8")
    assert run.stderr == ""
    body = sent(fake_server)
    assert body["messages"] == [{"role": "user", "content": "Hi there"}]
    assert body["stream"] is True and body["max_tokens"] > 0
    assert fake_server.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_no_stream(home: Path, fake_server: FakeServer, url: str) -> None:
    fake_server.enqueue(chat_json(TEXT))
    run = ask(home, url, "--no-stream", "Hi")
    assert (run.code, run.out, run.stderr) == (0, TEXT + "\n", "")
    assert sent(fake_server)["stream"] is False


def test_finish_length_is_success_with_a_note(home: Path, fake_server: FakeServer, url: str) -> None:
    fake_server.enqueue(chat_stream(PIECES, finish_reason="length"))
    run = ask(home, url, "--max-tokens", "6", "Hi")
    assert run.code == 0
    assert run.out == TEXT + "\n"
    assert "max_tokens" in run.stderr and "length" in run.stderr
    assert sent(fake_server)["max_tokens"] == 6


@pytest.mark.parametrize("how", ["dash", "absent"])
def test_prompt_from_stdin(home: Path, fake_server: FakeServer, url: str, how: str) -> None:
    fake_server.enqueue(chat_stream(PIECES))
    args = ["-"] if how == "dash" else []
    run = ask(home, url, *args, stdin="Question from stdin?\nSecond line.\n")
    assert (run.code, run.out, run.stderr) == (0, TEXT + "\n", "")
    assert sent(fake_server)["messages"][-1]["content"] == "Question from stdin?\nSecond line.\n"


def test_completion_mode(home: Path, fake_server: FakeServer, url: str) -> None:
    fake_server.enqueue(completion_stream([" one", " two", " three"]))
    run = ask(home, url, "--completion", "please count")
    assert (run.code, run.out, run.stderr) == (0, " one two three\n", "")
    request = fake_server.requests[0]
    assert request.path == "/v1/completions"
    body = request.json()
    assert body["prompt"] == "please count" and "messages" not in body
    assert body["stream"] is True


def test_completion_llama2_prompt_format(home: Path, fake_server: FakeServer, url: str) -> None:
    fake_server.enqueue(completion_stream([" Paris."]))
    run = ask(home, url, "--completion", "--prompt-format", "llama2", "--system", "S",
              "What is the capital of France?")
    assert (run.code, run.out) == (0, " Paris.\n")
    body = sent(fake_server)
    assert body["prompt"] == (
        "[INST] <<SYS>>\nS\n<</SYS>>\n\nWhat is the capital of France? [/INST]"
    )
    assert body["stop"] == ["</s>", "[INST]"]


@pytest.mark.parametrize(
    ("auth", "header", "value"),
    [("bearer", "authorization", f"Bearer {KEY}"), ("raw", "authorization", KEY),
     ("api-key", "api-key", KEY)],
)
def test_auth_schemes(
    home: Path, fake_server: FakeServer, url: str, auth: str, header: str, value: str
) -> None:
    fake_server.enqueue(chat_stream(PIECES))
    run = ask(home, url, "--api-key", KEY, "--auth", auth, "Hi")
    assert run.code == 0, run.stderr
    headers = fake_server.requests[0].headers
    assert headers[header] == value
    if auth == "api-key":
        assert "authorization" not in headers


def test_environment_endpoint(home: Path, fake_server: FakeServer, url: str) -> None:
    fake_server.enqueue(chat_stream(PIECES))
    run = run_cli(home, "ask", "Hi", env={"LLAMA_TUI_BASE_URL": url, "LLAMA_TUI_API_KEY": KEY})
    assert (run.code, run.out, run.stderr) == (0, TEXT + "\n", "")
    assert fake_server.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_translator_template(home: Path, fake_server: FakeServer, url: str) -> None:
    fake_server.enqueue(chat_stream(["J'adore la programmation."]))
    run = ask(home, url, "--template", "translator", "--var", "input_language=English",
              "--var", "output_language=French", "--var", "input_content=I love programming.")
    assert (run.code, run.out) == (0, "J'adore la programmation.\n")
    assert sent(fake_server)["messages"] == [{"role": "user", "content": TRANSLATOR}]


def test_template_missing_variable(home: Path, fake_server: FakeServer, url: str) -> None:
    run = ask(home, url, "--template", "translator", "--var", "input_language=English",
              "--var", "output_language=French")
    assert run.code == 2
    assert run.stdout == b""
    assert "input_content" in run.stderr
    assert fake_server.requests == []


# -- conversations -----------------------------------------------------------------------------

def test_save_continue_and_memory(home: Path, fake_server: FakeServer, url: str) -> None:
    env = {"LLAMA_TUI_BASE_URL": url}
    fake_server.enqueue(chat_stream(["Hello, Ada."]), chat_stream(["You are Ada."]),
                        chat_stream(["Who?"]))
    first = run_cli(home, "ask", "--save", "--system", "Be brief.", "My name is Ada.", env=env)
    assert (first.code, first.out) == (0, "Hello, Ada.\n")
    assert "saved to conversation" in first.stderr
    conv_id = first.stderr.split("saved to conversation")[1].split()[0]

    second = run_cli(home, "ask", "-c", "What is my name?", env=env)
    assert (second.code, second.out) == (0, "You are Ada.\n")
    assert conv_id in second.stderr
    assert sent(fake_server, 1)["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Hello, Ada."},
        {"role": "user", "content": "What is my name?"},
    ]

    third = run_cli(home, "ask", "-c", conv_id, "--memory", "0", "And now?", env=env)
    assert (third.code, third.out) == (0, "Who?\n")
    assert sent(fake_server, 2)["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "And now?"},
    ]

    listing = run_cli(home, "list")
    assert listing.code == 0 and listing.stderr == ""
    lines = listing.out.splitlines()
    assert len(lines) == 1
    got_id, updated, title = lines[0].split("\t")
    assert got_id == conv_id and title == "My name is Ada."
    assert time.strptime(updated, "%Y-%m-%d %H:%M")

    exported = run_cli(home, "export", conv_id, "--format", "json")
    assert exported.code == 0 and exported.stderr == ""
    data = json.loads(exported.out)
    assert data["id"] == conv_id and data["system"] == "Be brief."
    assert [(m["role"], m["content"]) for m in data["messages"]] == [
        ("user", "My name is Ada."), ("assistant", "Hello, Ada."),
        ("user", "What is my name?"), ("assistant", "You are Ada."),
        ("user", "And now?"), ("assistant", "Who?"),
    ]
    assert KEY not in exported.out

    markdown = run_cli(home, "export", conv_id[:10].lower(), "--format", "md")
    assert markdown.code == 0 and markdown.stderr == ""
    assert markdown.out.startswith("# My name is Ada.\n")
    for text in ("**System**", "Be brief.", "**User**", "What is my name?", "**Assistant**",
                 "You are Ada."):
        assert text in markdown.out


def test_continue_without_a_conversation(home: Path, url: str) -> None:
    run = ask(home, url, "-c", "Hello?")
    assert run.code == 2 and run.stdout == b""
    assert "no conversation to continue" in run.stderr


def test_locate(home: Path) -> None:
    run = run_cli(home, "locate")
    assert run.code == 0 and run.stderr == ""
    rows = dict(line.split(":", 1) for line in run.out.splitlines())
    assert {"config", "conversations", "log"} <= set(rows)
    for path in rows.values():
        assert Path(path.strip()).is_relative_to(home)
    assert rows["config"].strip().endswith("config.toml")


# -- faults ------------------------------------------------------------------------------------

def test_http_500_shows_status_request_id_and_date(
    home: Path, fake_server: FakeServer, url: str
) -> None:
    body = {"error": {"message": "The server had an error while processing your request.",
                      "type": "server_error"}}
    fake_server.route("POST", "/v1/chat/completions", error_response(
        500, body, headers={"x-request-id": "req-cli-500", "retry-after-ms": "5"}))
    run = ask(home, url, "Hi")
    assert run.code == 1
    assert run.stdout == b""
    assert "HTTP 500" in run.stderr and "The server had an error" in run.stderr
    assert "request id: req-cli-500" in run.stderr
    assert "date: " in run.stderr and " GMT" in run.stderr
    assert len(fake_server.requests) == 3  # retried twice, then reported


def test_content_filter_400_exits_3(home: Path, fake_server: FakeServer, url: str) -> None:
    fake_server.enqueue(azure_content_filter_400())
    run = ask(home, url, "Tell me something violent")
    assert run.code == 3
    assert run.stdout == b""
    assert "violence" in run.stderr and "medium" in run.stderr
    assert "3f2a9c1e-7b4d-4e8a-9f10-5c6d7e8f9a0b" in run.stderr
    assert "Tue, 14 Nov 2023 22:13:20 GMT" in run.stderr


def test_truncated_stream_keeps_the_partial_text(
    home: Path, fake_server: FakeServer, url: str
) -> None:
    fake_server.enqueue(disconnect_after(PIECES[:3]))
    run = ask(home, url, "Hi")
    assert run.code == 1
    assert run.out == "".join(PIECES[:3]) + "\n"
    assert "incomplete" in run.stderr


def test_stall_times_out(home: Path, fake_server: FakeServer, url: str) -> None:
    fake_server.enqueue(stall_after(["Let", " me"], 60))
    started = time.monotonic()
    run = ask(home, url, "--timeout", "0.5", "Hi")
    assert time.monotonic() - started < 20
    assert run.code == 1
    assert run.out == "Let me\n"
    assert "no data from the server" in run.stderr


def test_no_endpoint(home: Path) -> None:
    run = run_cli(home, "ask", "Hi")
    assert run.code == 2 and run.stdout == b""
    assert "no endpoint" in run.stderr and "--base-url" in run.stderr


def test_unknown_endpoint_suggests(home: Path, url: str) -> None:
    config = write_config(home, f'[endpoints.local-llama]\nurl = "{url}"\n')
    run = run_cli(home, "ask", "--endpoint", "local-lama", "Hi")
    assert run.code == 2 and run.stdout == b""
    assert "local-lama" in run.stderr and "did you mean 'local-llama'" in run.stderr
    assert str(config) in run.stderr


def test_bad_config_key(home: Path, url: str) -> None:
    config = write_config(home, f'[endpoints.local]\nurl = "{url}"\ntimeout = 5\n')
    run = run_cli(home, "ask", "Hi")
    assert run.code == 2 and run.stdout == b""
    assert str(config) in run.stderr
    assert "endpoints.local.timeout" in run.stderr and "unknown key" in run.stderr


def test_configured_endpoint_and_defaults(home: Path, fake_server: FakeServer, url: str) -> None:
    write_config(home, (
        'system_prompt = "You are terse."\n'
        "[defaults]\nmax_tokens = 77\ntemperature = 0.2\n"
        f'[endpoints.local]\nurl = "{url}"\nkey = "{KEY}"\nauth = "raw"\nmodel = "llama-2-7b"\n'
    ))
    fake_server.enqueue(chat_stream(PIECES), chat_stream(PIECES))
    run = run_cli(home, "ask", "--endpoint", "local", "Hi")
    assert (run.code, run.out, run.stderr) == (0, TEXT + "\n", "")
    assert fake_server.requests[0].headers["authorization"] == KEY
    body = sent(fake_server)
    assert body["model"] == "llama-2-7b"
    assert (body["max_tokens"], body["temperature"]) == (77, 0.2)
    assert body["messages"][0] == {"role": "system", "content": "You are terse."}
    # Flags win over the config's defaults.
    run = run_cli(home, "ask", "--max-tokens", "5", "--temperature", "0.9", "--system", "S", "Hi")
    assert run.code == 0, run.stderr
    body = sent(fake_server)
    assert (body["max_tokens"], body["temperature"]) == (5, 0.9)
    assert body["messages"][0] == {"role": "system", "content": "S"}


def test_connection_refused(home: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = run_cli(home, "ask", "--base-url", f"http://127.0.0.1:{port}/v1", "Hi")
    assert run.code == 1 and run.stdout == b""
    assert "could not connect" in run.stderr


# -- terminal safety ---------------------------------------------------------------------------

HOSTILE = ["Copy ", "this\x1b]52;c;cm0gLXJmIH4K\x07", " and \x1b[31mred\x1b[0m", " ok"]


def test_escape_sequences_are_neutralised_in_a_pipe_too(
    home: Path, fake_server: FakeServer, url: str
) -> None:
    """`ask | tee` or `| cat` hands the bytes to the next terminal: clean by default."""
    fake_server.enqueue(chat_stream(HOSTILE))
    run = ask(home, url, "Hi")
    assert run.code == 0
    assert b"\x1b" not in run.stdout and b"\x07" not in run.stdout
    assert run.stdout == (sanitize("".join(HOSTILE)) + "\n").encode()


def test_raw_keeps_the_bytes_in_a_pipe_and_still_stores_them_clean(
    home: Path, fake_server: FakeServer, url: str
) -> None:
    fake_server.enqueue(chat_stream(HOSTILE))
    run = ask(home, url, "--raw", "--save", "Hi")
    assert run.code == 0
    assert run.stdout == ("".join(HOSTILE) + "\n").encode()
    [saved] = (home / "data" / "conversations").glob("*.toml")
    assert "\x1b" not in saved.read_text("utf-8")


def test_escape_sequences_are_neutralised_on_a_terminal(
    home: Path, fake_server: FakeServer, url: str
) -> None:
    fake_server.enqueue(chat_stream(HOSTILE))
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llama_tui", "ask", "--base-url", url, "Hi"],
            stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE,
            env=child_env(home), cwd=ROOT,
        )
        os.close(slave)
        slave = -1
        received = _read_all(master, proc)
        assert proc.stderr is not None
        stderr = proc.stderr.read().decode()
        proc.stderr.close()
    finally:
        os.close(master)
        if slave != -1:
            os.close(slave)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert b"\x1b" not in received and b"\x07" not in received
    text = received.decode("utf-8")
    assert "Copy this" in text and "52;c;cm0gLXJmIH4K" in text and "red" in text
    assert "␛" in text  # shown, not acted on


def _read_all(master: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> bytes:
    """Everything the child wrote to the pty until it exited (EIO once the slave is closed)."""
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not select.select([master], [], [], 0.2)[0]:
            continue
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    return b"".join(chunks)


# -- the reader or the user stops early --------------------------------------------------------

def _start(home: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "llama_tui", *args], stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env(home), cwd=ROOT,
    )


def _wait_for_client_close(server: FakeServer, timeout: float = 10) -> int:
    deadline = time.monotonic() + timeout
    while server.connections_closed_by_client == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    return server.connections_closed_by_client


def test_ctrl_c_keeps_the_partial_reply_and_exits_130(
    home: Path, fake_server: FakeServer, url: str
) -> None:
    fake_server.enqueue(chat_stream([f" w{i}" for i in range(500)], delay=0.02))
    proc = _start(home, "ask", "--base-url", url, "--save", "Hi")
    assert proc.stdout is not None
    first = proc.stdout.read(6)  # the reply has started
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=20)
    stderr = err.decode()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    out = (first + rest).decode()
    assert out.startswith(" w0 w1") and out.endswith("\n") and " w499" not in out
    assert "interrupted" in stderr and "saved to conversation" in stderr
    assert _wait_for_client_close(fake_server) == 1
    conv_id = stderr.split("saved to conversation")[1].split()[0]
    data = json.loads(run_cli(home, "export", conv_id, "--format", "json").out)
    assert data["messages"][-1]["finish_reason"] == "cancelled"
    assert data["messages"][-1]["content"] == out[:-1]


def test_reader_going_away_is_not_an_internal_error(
    home: Path, fake_server: FakeServer, url: str
) -> None:
    """`llama-tui ask ... | head -c 6`: stop quietly, close the request, exit non-zero."""
    fake_server.enqueue(chat_stream([f" w{i}" for i in range(2000)], delay=0.002))
    proc = _start(home, "ask", "--base-url", url, "Hi")
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(6) == b" w0 w1"
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=20) == 1
    assert stderr == ""
    assert _wait_for_client_close(fake_server) == 1


def test_content_filter_after_some_text_exits_3(
    home: Path, fake_server: FakeServer, url: str
) -> None:
    fake_server.enqueue(chat_stream(["Once", " upon"], finish_reason="content_filter",
                                    headers={"x-request-id": "req-cf"}))
    run = ask(home, url, "Tell me a story")
    assert run.code == 3
    assert run.out == "Once upon\n"
    assert "content filter" in run.stderr and "req-cf" in run.stderr


def test_empty_event_stream_is_a_failure(home: Path, fake_server: FakeServer, url: str) -> None:
    fake_server.enqueue(sse_events([]))
    run = ask(home, url, "Hi")
    assert run.code == 1 and run.stdout == b""
    assert "no reply" in run.stderr


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_number_no_server_accepts_is_a_usage_error(home: Path, url: str, value: str) -> None:
    run = ask(home, url, f"--temperature={value}", "Hi")
    assert run.code == 2 and "finite" in run.stderr and "Traceback" not in run.stderr
