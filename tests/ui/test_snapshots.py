"""Snapshots of the key screens (120x36, cursor blink off). Each says what you should see.

Regenerate after an intended change with `pytest tests/ui/test_snapshots.py --snapshot-update`
and look at the report before committing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from llama_tui import paths
from llama_tui.model import Conversation, Message, Role, Stats
from llama_tui.reply import Reply
from llama_tui.storage.store import ConversationStore
from llama_tui.ui.app import make_app
from tests.fakeserver import stall_after
from tests.ui.conftest import SIZE, main, parts_streamed, type_and_send, wait_for

REPLY = """Clayton Christensen wrote *The Innovator's Dilemma* (1997).

## Key ideas

- **Disruptive innovation**: cheaper, simpler products start at the bottom of a market
- Incumbents rationally ignore them

| Book | Year |
|---|---|
| The Innovator's Dilemma | 1997 |
| The Innovator's Solution | 2003 |

```python
def disrupt(market: str) -> str:
    return f"cheaper {market}"
```"""


def write_fixed_config(url: str = "https://my-llama.eastus2.inference.ai.azure.com") -> None:
    path = paths.config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        'default_endpoint = "azure-llama2-7b-chat"\nmemory_window = 5\n'
        f'[endpoints.azure-llama2-7b-chat]\nurl = "{url}"\nkey = "sk-snapshot-9999"\n'
    )
    path.chmod(0o600)


def saved_conversation(title: str, messages: list[Message]) -> Conversation:
    now = datetime.now(UTC) - timedelta(seconds=5)
    conv = Conversation(title=title, created_at=now, updated_at=now, endpoint="azure-llama2-7b-chat")
    conv.messages = messages
    ConversationStore().save(conv)
    return conv


def no_blink(app) -> None:
    for widget in app.screen.query("TextArea, Input"):
        widget.cursor_blink = False


async def open_first(pilot) -> None:
    screen = main(pilot.app)
    await screen.open_id(screen.query_one("#sidebar").summaries[0].id)
    no_blink(pilot.app)
    await pilot.pause(0.2)


def test_first_run_settings(snap_compare):
    """No config, no env, no local server: the settings screen explains what to paste
    (an Azure endpoint URL and key, or a local server URL) above an empty endpoint form."""
    app = make_app(probe_servers=())

    async def run_before(pilot) -> None:
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "SettingsScreen")
        no_blink(pilot.app)
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_finished_markdown_reply(snap_compare):
    """A finished reply rendered as Markdown: heading, bullet list, a two-column table, a
    highlighted python code block, and its stats line (412 ms, 57 tokens, 38.5 tok/s)."""
    write_fixed_config()
    at = datetime(2026, 11, 23, 19, 55, 52, tzinfo=UTC)
    saved_conversation("Who wrote The Innovator's Dilemma", [
        Message(Role.USER, "Who wrote the book Innovators dilemma?", created_at=at),
        Message(Role.ASSISTANT, REPLY, created_at=at, finish_reason="stop",
                stats=Stats(ttft_ms=412, tokens=57, tokens_per_s=38.5)),
    ])
    assert snap_compare(make_app(probe_servers=()), terminal_size=SIZE, run_before=open_first)


def test_reply_mid_stream(snap_compare, fake_server, monkeypatch):
    """A reply mid-stream: the assistant box has the streaming border, shows the text so far
    ("The first part of a reply that is still") and the status line says streaming, 7 tokens."""
    write_fixed_config(f"{fake_server.base_url}/v1")
    pieces = ["The ", "first ", "part ", "of a ", "reply ", "that is ", "still"]
    fake_server.enqueue(stall_after(pieces, stall_seconds=20))
    monkeypatch.setattr(Reply, "live_rate", lambda self: 42.0)
    app = make_app(probe_servers=())

    async def run_before(pilot) -> None:
        await type_and_send(pilot, "Tell me something long")
        screen = main(pilot.app)
        await wait_for(pilot, lambda: parts_streamed(screen.app) == 7)
        screen.update_status()
        no_blink(pilot.app)
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_content_filter_error(snap_compare):
    """A prompt blocked by Azure's content filter: the reply box is red, says which category
    tripped (violence, severity medium), lists every category with its severity and
    filtered yes/no, then the request id and the date."""
    write_fixed_config()
    at = datetime(2026, 11, 23, 19, 55, 52, tzinfo=UTC)
    import json

    from llama_tui.client.dialects import error_from_body
    from tests.fakeserver import azure_content_filter_400

    response = azure_content_filter_400()
    body = b"".join(step.data for step in response.steps).decode()
    error = "\n".join(error_from_body(400, body, response.headers).details())
    assert json.loads(body)["error"]["code"] == "content_filter"
    saved_conversation("Something risky", [
        Message(Role.USER, "Tell me how to make something dangerous", created_at=at),
        Message(Role.ASSISTANT, "", created_at=at, finish_reason="content_filter", error=error,
                stats=Stats(request_id="3f2a9c1e-7b4d-4e8a-9f10-5c6d7e8f9a0b")),
    ])
    assert snap_compare(make_app(probe_servers=()), terminal_size=SIZE, run_before=open_first)


@pytest.mark.parametrize("theme", ["textual-dark"])
def test_settings_screen(snap_compare, theme):
    """Settings with one endpoint: labelled fields, the key masked as ••••9999 (never shown),
    the buttons, and the defaults section below."""
    write_fixed_config()

    async def run_before(pilot) -> None:
        await pilot.press("f2")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "SettingsScreen")
        no_blink(pilot.app)
        await pilot.pause(0.2)

    assert snap_compare(make_app(probe_servers=()), terminal_size=SIZE, run_before=run_before)


def test_reply_with_a_collapsed_thinking_block(snap_compare):
    """A reasoning model's reply: above the answer, one dim line "▸ Thought · 16 words ·
    t shows" aligned with the answer, the thinking folded away; the answer below it."""
    write_fixed_config()
    at = datetime(2026, 11, 23, 19, 55, 52, tzinfo=UTC)
    saved_conversation("What is 17 times 23?", [
        Message(Role.USER, "What is 17 times 23?", created_at=at),
        Message(Role.ASSISTANT, "17 × 23 = **391**.", created_at=at, finish_reason="stop",
                reasoning="17 times 20 is 340, and 17 times 3 is 51; 340 plus 51 is 391.",
                stats=Stats(ttft_ms=230, tokens=61, tokens_per_s=41.0)),
    ])
    assert snap_compare(make_app(probe_servers=()), terminal_size=SIZE, run_before=open_first)
