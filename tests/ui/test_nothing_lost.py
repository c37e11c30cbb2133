"""Nothing lost, as the user meets it in the app: quitting with a conversation that cannot be
saved asks first; copy and fork of a reply still streaming take all the text received."""

from __future__ import annotations

from typing import Any

import pytest

from llama_tui import engine as engine_module
from llama_tui.storage.store import ConversationStore
from llama_tui.ui.screens.dialogs import PickScreen
from llama_tui.ui.widgets.message_view import AssistantMessage
from tests.fakeserver import FakeServer, chat_stream, stall_after
from tests.ui.conftest import (
    SIZE,
    main,
    parts_streamed,
    type_and_send,
    wait_for,
    wait_replies,
)

PIECES = ["Four ", "words ", "then ", "silence"]


async def test_quitting_with_an_unsaved_conversation_asks_first(
    app_factory: Any, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_server.enqueue(chat_stream(["kept ", "on screen"]))
    real, broken = ConversationStore.save, {"on": True}

    def save(self: ConversationStore, conv: Any) -> Any:
        if broken["on"]:
            raise OSError(28, "No space left on device")
        return real(self, conv)

    monkeypatch.setattr(ConversationStore, "save", save)
    monkeypatch.setattr(engine_module, "SAVE_RETRY_SECONDS", 0.2)
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "write this down")
        await wait_replies(pilot)
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: isinstance(app.screen, PickScreen))
        assert "Could not save 'write this down'" in app.screen.title_text
        assert app.is_running
        await pilot.press("enter")  # the first choice: stay
        await wait_for(pilot, lambda: not isinstance(app.screen, PickScreen))
        assert app.is_running
        broken["on"] = False  # space freed: the retry saves it
        await wait_for(pilot, lambda: not app.services.engine.unsaved, timeout=10)
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: not app.is_running)
    assert app.return_code in (0, None)
    [summary] = ConversationStore().scan()[0]
    saved = ConversationStore().load(summary.id)
    assert [m.content for m in saved.messages] == ["write this down", "kept on screen"]


async def test_quit_anyway_is_a_choice_and_says_so_in_the_exit_code(
    app_factory: Any, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_server.enqueue(chat_stream(["lost"]))

    def save(self: ConversationStore, conv: Any) -> Any:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(ConversationStore, "save", save)
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "nowhere to go")
        await wait_replies(pilot)
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: isinstance(app.screen, PickScreen))
        await pilot.press("down", "enter")  # quit anyway
        await wait_for(pilot, lambda: not app.is_running)
    assert app.return_code == 1


async def test_copy_and_fork_of_a_streaming_reply_take_all_it_received(
    app_factory: Any, fake_server: FakeServer,
) -> None:
    fake_server.enqueue(stall_after(PIECES, 30))
    app = app_factory(extra="")
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "Say four words")
        await wait_for(pilot, lambda: parts_streamed(app) == len(PIECES))
        screen = main(app)
        screen.action_focus_messages()
        await wait_for(pilot, lambda: isinstance(app.focused, AssistantMessage))
        await pilot.press("c")
        await wait_for(pilot, lambda: app.clipboard == "".join(PIECES))
        await pilot.press("f")
        await wait_for(pilot, lambda: screen.current is not None
                       and screen.current.title.startswith("⑂ "))
        forked = screen.current
        assert forked.messages[-1].content == "".join(PIECES)
        await screen.open_id(app.services.engine.replies[0].conversation.id)
        await pilot.press("escape")
        await wait_replies(pilot)
