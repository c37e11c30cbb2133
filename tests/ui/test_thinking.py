"""A reasoning model's thinking in the app: live while it thinks, folded when the answer
starts, opened and closed with t or a click, saved apart, never sent back."""

from __future__ import annotations

import tomllib
from typing import Any

from llama_tui.ui.widgets.message_view import AssistantMessage
from llama_tui.ui.widgets.thinking import ThinkingBlock
from tests.fakeserver import FakeServer
from tests.fakeserver.scripts import reasoning_stream, stall_after
from tests.ui.conftest import (
    SIZE,
    conversation_files,
    main,
    type_and_send,
    wait_for,
    wait_replies,
)

THOUGHTS = ["The user asks for a sum. ", "2 plus 2 ", "is 4."]


def block(app: Any) -> ThinkingBlock:
    return main(app).query(AssistantMessage).last().query_one(ThinkingBlock)


def shown(widget: ThinkingBlock) -> str:
    return str(widget.render())


async def test_thinking_folds_when_the_answer_starts_and_opens_with_t_or_a_click(
    app_factory: Any, fake_server: FakeServer,
) -> None:
    fake_server.enqueue(reasoning_stream(THOUGHTS, ["It is ", "**4**."]))
    fake_server.enqueue(reasoning_stream(["Again."], ["Still 4."], shape="reasoning"))
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "2+2?")
        await wait_replies(pilot)
        thinking = block(app)
        assert not thinking.live and not thinking.expanded
        assert shown(thinking).startswith("▸ Thought") and "is 4." not in shown(thinking)
        assert main(app).query(AssistantMessage).last().source == "It is **4**."
        main(app).action_focus_messages()
        await wait_for(pilot, lambda: isinstance(app.focused, AssistantMessage))
        await pilot.press("t")
        await wait_for(pilot, lambda: "2 plus 2 is 4." in shown(thinking))
        await pilot.click(ThinkingBlock)
        await wait_for(pilot, lambda: "is 4." not in shown(thinking))
        await type_and_send(pilot, "and again?")
        await wait_replies(pilot)
    data = tomllib.loads(conversation_files()[0].read_text("utf-8"))
    reply = data["messages"][1]
    assert (reply["content"], reply["reasoning"]) == ("It is **4**.", "".join(THOUGHTS))
    second = fake_server.requests[-1].json()["messages"]
    assert [m.get("content") for m in second] == ["2+2?", "It is **4**.", "and again?"]
    assert all("reasoning" not in m for m in second)


async def test_thinking_streams_live_and_is_kept_when_stopped(
    app_factory: Any, fake_server: FakeServer,
) -> None:
    before = [{"reasoning_content": t, "content": None} for t in THOUGHTS]
    fake_server.enqueue(stall_after([], 30, before=before))
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "2+2?")
        await wait_for(pilot, lambda: bool(main(app).query(ThinkingBlock))
                       and "is 4." in shown(block(app)))
        assert block(app).live and shown(block(app)).startswith("Thinking · ")
        main(app).update_status()
        assert "thinking · " in str(main(app).query_one("#status").render())
        await pilot.press("escape")
        await wait_replies(pilot)
        assert shown(block(app)).startswith("▸ Thought")
    reply = tomllib.loads(conversation_files()[0].read_text("utf-8"))["messages"][1]
    assert (reply["content"], reply["reasoning"], reply["finish_reason"]) == \
        ("", "".join(THOUGHTS), "cancelled")
