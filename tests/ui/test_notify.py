"""A terminal notification when a long reply ends in the background (notify_when_done)."""

from __future__ import annotations

import pytest
from textual import events

from llama_tui.ui import notify
from tests.fakeserver import chat_stream
from tests.ui.conftest import SIZE, parts_streamed, type_and_send, wait_for, wait_replies


def test_only_long_replies_in_the_background_when_asked_for() -> None:
    assert notify.worth_notifying(True, 11.0, False, "stop")
    assert notify.worth_notifying(True, 11.0, False, "error")
    assert not notify.worth_notifying(None or False, 11.0, False, "stop")
    assert not notify.worth_notifying(True, 9.0, False, "stop")
    assert not notify.worth_notifying(True, 11.0, True, "stop")
    assert not notify.worth_notifying(True, 11.0, False, "cancelled")
    assert notify.SEQUENCE == "\x1b]9;llama-tui: reply finished\x07"


@pytest.mark.parametrize(("setting", "blurred", "sent"), [
    ("notify_when_done = true", True, True),
    ("notify_when_done = true", False, False),
    ("", True, False),
])
async def test_a_reply_ending_in_the_background_notifies(
        app_factory, fake_server, monkeypatch, setting, blurred, sent):
    monkeypatch.setattr(notify, "NOTIFY_AFTER", 0.0)  # every reply counts as a long one
    written: list[str] = []
    monkeypatch.setattr(notify, "write_sequence", lambda app, text: written.append(text) or True)
    fake_server.enqueue(chat_stream(["the model's ", "words", " at last"], delay=0.2))
    app = app_factory(extra=setting)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "take your time")
        await wait_for(pilot, lambda: parts_streamed(app) > 0)
        if blurred:  # the user went to another window while it streams
            app.post_message(events.AppBlur())
            await wait_for(pilot, lambda: not app.app_focus)
        await wait_replies(pilot)
    assert written == ([notify.SEQUENCE] if sent else [])
