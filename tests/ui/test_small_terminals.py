"""Narrow terminals: below 100 columns the conversation list gives the chat the whole width
and comes back over the chat (ctrl+b), not beside it."""

from __future__ import annotations

import pytest

from llama_tui.ui.widgets.conversation_list import ConversationList
from llama_tui.ui.widgets.prompt_input import PromptInput
from tests.ui.conftest import main, wait_for
from tests.ui.test_browse_manage import make_conversations


@pytest.mark.parametrize("size", [(80, 24), (60, 20)])
async def test_narrow_hides_the_list_and_ctrl_b_lays_it_over_the_chat(app_factory, size):
    make_conversations([("Alpha", ["q", "a"]), ("Beta", ["q", "b"])])
    app = app_factory()
    async with app.run_test(size=size) as pilot:
        screen = main(app)
        pane, chat = screen.query_one("#sidebar-pane"), screen.query_one("#chat")
        await wait_for(pilot, lambda: chat.region.width == size[0])
        assert not pane.display and chat.region.x == 0
        await pilot.press("ctrl+b")
        await wait_for(pilot, lambda: pane.region.width > 0)
        assert pane.region.x == 0 and pane.region.width < size[0]
        assert chat.region.width == size[0]  # over the chat, not squeezing it
        sidebar = screen.query_one(ConversationList)
        assert sidebar.has_focus  # ready to pick one
        await pilot.press("down", "enter")  # picking one puts the list away
        await wait_for(pilot, lambda: screen.current is not None and not pane.region.width)
        assert isinstance(app.focused, PromptInput)
        await pilot.press("ctrl+b")
        await wait_for(pilot, lambda: pane.region.width > 0)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not pane.region.width)
        assert isinstance(app.focused, PromptInput)


async def test_wide_keeps_the_list_as_a_column(app_factory):
    make_conversations([("Alpha", ["q", "a"])])
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = main(app)
        pane, chat = screen.query_one("#sidebar-pane"), screen.query_one("#chat")
        await wait_for(pilot, lambda: pane.region.width == 34)
        assert chat.region.x == 34 and chat.region.width == 100 - 34
        await pilot.press("ctrl+b")
        await wait_for(pilot, lambda: chat.region.width == 100)
        await pilot.press("ctrl+b")
        await wait_for(pilot, lambda: chat.region.x == 34)
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: chat.region.width == 80 and not pane.region.width)
