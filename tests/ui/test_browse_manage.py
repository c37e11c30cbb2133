"""Browsing and managing conversations, and message actions, as a user does them."""

from __future__ import annotations

import json
import tomllib

from textual.widgets import Input, OptionList, TextArea

from llama_tui import paths
from llama_tui.model import Conversation, Message, Role
from llama_tui.storage.store import ConversationStore
from llama_tui.ui.screens.dialogs import AskScreen, PickScreen
from llama_tui.ui.screens.search import SearchScreen
from llama_tui.ui.widgets.chat_view import ChatView
from llama_tui.ui.widgets.conversation_list import ConversationList
from llama_tui.ui.widgets.message_view import AssistantMessage, UserMessage
from llama_tui.ui.widgets.prompt_input import PromptInput
from tests.fakeserver import chat_stream
from tests.ui.conftest import (
    SIZE,
    conversation_files,
    load_toml,
    main,
    only_conversation,
    type_and_send,
    wait_for,
    wait_replies,
)
from tests.ui.screen_cells import screen_cells, screen_text


def make_conversations(titles_and_texts: list[tuple[str, list[str]]]) -> list[Conversation]:
    store = ConversationStore()
    out = []
    for title, texts in titles_and_texts:
        conv = Conversation(title=title, endpoint="fake")
        for i, text in enumerate(texts):
            conv.messages.append(Message(Role.USER if i % 2 == 0 else Role.ASSISTANT, text,
                                         finish_reason=None if i % 2 == 0 else "stop"))
        store.save(conv)
        out.append(conv)
    return out


def titles(app) -> list[str]:
    return [s.title for s in main(app).query_one(ConversationList).summaries]


async def test_filter_titles_as_you_type(app_factory):
    make_conversations([("Rust lifetimes", ["q", "a"]), ("Python asyncio", ["q", "a"]),
                        ("Baking bread", ["q", "a"])])
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        main(app).query_one("#filter", Input).focus()
        await pilot.press("p", "y")
        await pilot.pause()
        assert titles(app) == ["Python asyncio"]
        await pilot.press("backspace", "backspace")
        await pilot.pause()
        assert sorted(titles(app)) == ["Baking bread", "Python asyncio", "Rust lifetimes"]


async def test_full_text_search_opens_conversation_at_the_match(app_factory):
    filler = [f"filler message number {i}" for i in range(99)]
    texts = ["the needle: a purple giraffe", *filler]  # the match is the oldest of 100 messages
    make_conversations([("Long one", texts), ("Other", ["nothing here", "nor here"])])
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+f")
        await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen))
        await pilot.press(*"purple giraffe".replace(" ", "_"))
        app.screen.query_one("#search-input", Input).value = "purple giraffe"
        hits = app.screen.query_one("#search-hits", OptionList)
        # "purple" alone had this one hit too: wait for the last query's search to end
        await wait_for(pilot, lambda: hits.option_count == 1 and not any(
            w.is_running for w in app.workers if w.group == "search"))
        assert "purple giraffe" in str(hits.get_option_at_index(0).prompt)
        await pilot.press("enter")
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, SearchScreen))
        await pilot.pause(0.3)
        screen = main(app)
        assert screen.current.title == "Long one"
        focused = app.focused
        assert isinstance(focused, UserMessage) and "purple giraffe" in focused.message.content
        assert focused.has_class("-match")


async def search_for(pilot, words: str) -> OptionList:
    app = pilot.app
    await pilot.press("ctrl+f")
    await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen))
    app.screen.query_one("#search-input", Input).value = words
    hits = app.screen.query_one("#search-hits", OptionList)
    await wait_for(pilot, lambda: hits.option_count and not any(
        w.is_running for w in app.workers if w.group == "search"))
    return hits


async def test_search_lists_conversations_and_scrolls_a_long_reply_to_the_match(app_factory):
    """One row per conversation (its number of matches, the first in context, the words
    marked); Enter shows the line of a long reply that has the words, marked."""
    long_reply = "\n\n".join([f"Paragraph {i} says nothing much." for i in range(40)]
                              + ["Here is the purple giraffe at last.", "The end."])
    make_conversations([("Zoo", ["where is it?", long_reply, "purple giraffe again?", "yes"]),
                        ("Other", ["a purple giraffe", "ok"])])
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        hits = await search_for(pilot, "Purple Giraffe")
        rows = {str(hits.get_option_at_index(i).prompt) for i in range(hits.option_count)}
        assert hits.option_count == 2, rows
        assert any(row.startswith("Zoo  2×  ") for row in rows), rows
        zoo = next(i for i in range(2) if str(hits.get_option_at_index(i).prompt)
                   .startswith("Zoo"))
        prompt = hits.get_option_at_index(zoo).prompt
        marked = [prompt.plain[s.start:s.end] for s in prompt.spans if "reverse" in str(s.style)]
        assert marked == ["purple giraffe"], prompt.spans
        hits.focus()
        hits.highlighted = zoo
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, SearchScreen))
        await wait_for(pilot, lambda: isinstance(app.focused, AssistantMessage))
        assert app.focused.has_class("-match")
        await wait_for(pilot, lambda: any("purple giraffe at last" in line
                                          for line in screen_text(app)))
        # the words are drawn marked (reversed) where they show
        line = next(i for i, text in enumerate(screen_text(app)) if "giraffe at last" in text)
        at = screen_text(app)[line].index("purple")
        row = {c.x: c for c in screen_cells(app) if c.y == line}
        after = row[at + len("purple giraffe") + 1]
        assert row[at].bg != after.bg


async def test_rename_delete_undo_and_pin(app_factory):
    a, b = make_conversations([("Alpha", ["q", "a"]), ("Beta", ["q", "a"])])
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        sidebar = main(app).query_one(ConversationList)
        sidebar.focus()
        sidebar.highlighted = [s.id for s in sidebar.summaries].index(a.id)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, AskScreen))
        app.screen.query_one(Input).value = "Alpha renamed"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Alpha renamed" in titles(app))
        sidebar.focus()
        sidebar.highlighted = [s.id for s in sidebar.summaries].index(b.id)
        await pilot.press("p")
        await pilot.pause(0.2)
        assert titles(app)[0] == "Beta"  # pinned first
        sidebar.highlighted = [s.id for s in sidebar.summaries].index(a.id)
        await pilot.press("d")
        await wait_for(pilot, lambda: "Alpha renamed" not in titles(app))
        assert not (paths.conversations_dir() / f"{a.id}.toml").exists()
        assert (paths.trash_dir() / f"{a.id}.toml").exists()
        await pilot.press("ctrl+z")
        await wait_for(pilot, lambda: "Alpha renamed" in titles(app))
    restored = tomllib.loads((paths.conversations_dir() / f"{a.id}.toml").read_text())
    assert restored["title"] == "Alpha renamed"
    assert tomllib.loads((paths.conversations_dir() / f"{b.id}.toml").read_text())["pinned"] is True


async def test_export_then_import_round_trip(app_factory):
    (conv,) = make_conversations([("Exported", ["question?", "answer with `code`"])])
    app = app_factory()
    copied: list[str] = []
    app.copy_to_clipboard = copied.append  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        screen = main(app)
        await screen.open_id(conv.id)
        await screen.action_export()
        exports = sorted((paths.data_dir() / "exports").glob("*"))
        assert [p.suffix for p in exports] == [".json", ".md"]
        assert copied and copied[0].startswith("# Exported")
        screen.action_import()
        await wait_for(pilot, lambda: isinstance(app.screen, AskScreen))
        await pilot.pause()
        app.screen.query_one(Input).value = str(exports[0])
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(conversation_files()) == 2)
        await pilot.pause(0.2)
        assert screen.current.title == "Exported" and screen.current.id != conv.id
    data = [load_toml(p) for p in conversation_files()]
    first, second = (d["messages"] for d in data)
    assert first == second
    assert json.loads(exports[0].read_text())["title"] == "Exported"


async def test_fork_at_a_message_and_copy_actions(app_factory):
    reply = "Here:\n\n```python\nprint('one')\n```\n\nand\n\n```bash\necho two\n```"
    (conv,) = make_conversations([("Forkable", ["first q", "first a", "second q", reply])])
    app = app_factory()
    copied: list[str] = []
    app.copy_to_clipboard = copied.append  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        screen = main(app)
        await screen.open_id(conv.id)
        await pilot.press("ctrl+up")
        assert isinstance(app.focused, AssistantMessage)
        await pilot.press("c")
        assert copied[-1] == reply
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, PickScreen))
        assert app.screen.items == ["1. python · 1 line · print('one')",
                                    "2. bash · 1 line · echo two"]
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, PickScreen))
        assert copied[-1] == "echo two\n"
        await pilot.press("up", "up")  # to "first a"
        assert isinstance(app.focused, AssistantMessage) and app.focused.message.content == "first a"
        await pilot.press("f")
        await wait_for(pilot, lambda: screen.current.id != conv.id)
    forked = [load_toml(p) for p in conversation_files() if p.stem != conv.id]
    assert [m["content"] for m in forked[0]["messages"]] == ["first q", "first a"]
    assert forked[0]["title"] == "⑂ Forkable"


async def test_fork_at_a_user_message_puts_it_in_the_prompt(app_factory, fake_server):
    """The fork ends before the message; the message waits in the prompt, and Enter sends
    it there (the original stays as it was)."""
    fake_server.enqueue(chat_stream(["a new answer"]))
    (conv,) = make_conversations([("Forkable", ["first q", "first a", "second q", "second a"])])
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        screen = main(app)
        await screen.open_id(conv.id)
        await pilot.press("ctrl+up", "up")
        assert isinstance(app.focused, UserMessage) and app.focused.message.content == "second q"
        await pilot.press("f")
        await wait_for(pilot, lambda: screen.current.id != conv.id)
        prompt = screen.query_one(PromptInput)
        await wait_for(pilot, lambda: prompt.text == "second q")
        assert isinstance(app.focused, PromptInput)
        assert [m.content for m in screen.current.messages] == ["first q", "first a"]
        assert screen.current.title == "⑂ Forkable"
        rows = [str(screen.query_one(ConversationList).render_line(y).text) for y in range(4)]
        assert any("⑂ Forkable" in row for row in rows), rows
        await pilot.press("end", "!", "enter")
        await wait_replies(pilot)
        assert [m.content for m in screen.current.messages] == [
            "first q", "first a", "second q!", "a new answer"]
        # forking at the first message: an empty fork, its text in the prompt
        await screen.open_id(conv.id)
        await pilot.press("ctrl+up", "up", "up", "up")
        assert app.focused.message.content == "first q"
        await pilot.press("f")
        await wait_for(pilot, lambda: prompt.text == "first q" and not screen.current.messages)
    assert len(conversation_files()) == 2


async def test_regenerate_keeps_the_previous_reply(app_factory, fake_server):
    fake_server.enqueue(chat_stream(["first version"]))
    fake_server.enqueue(chat_stream(["second version"]))
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "Tell me a joke")
        await wait_replies(pilot)
        await pilot.press("ctrl+up")
        await pilot.press("r")
        await wait_replies(pilot)
        views = list(main(app).query_one(ChatView).query(AssistantMessage))
        assert [v.has_class("-superseded") for v in views] == [True, False]
    assert fake_server.requests[-1].json()["messages"] == [
        {"role": "user", "content": "Tell me a joke"}]
    (saved,) = [load_toml(p) for p in conversation_files()]
    assert [m["content"] for m in saved["messages"]] == ["Tell me a joke", "first version",
                                                          "second version"]
    assert saved["messages"][1]["superseded"] is True


async def test_edit_and_resend_forks_and_sends(app_factory, fake_server):
    fake_server.enqueue(chat_stream(["answer one"]))
    fake_server.enqueue(chat_stream(["answer two"]))
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "Original question")
        await wait_replies(pilot)
        await pilot.press("ctrl+up", "up")
        assert isinstance(app.focused, UserMessage)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, AskScreen))
        await pilot.pause()
        app.screen.query_one(TextArea).text = "Better question"
        app.screen.query_one("#ask-ok").press()
        await wait_for(pilot, lambda: len(conversation_files()) == 2)
        await wait_replies(pilot)
    assert fake_server.requests[-1].json()["messages"] == [
        {"role": "user", "content": "Better question"}]
    contents = sorted([m["content"] for m in load_toml(p)["messages"]]
                      for p in conversation_files())
    assert contents == [["Better question", "answer two"], ["Original question", "answer one"]]


async def test_keymap_override_from_config(app_factory):
    app = app_factory(extra='[keymap]\nnew-chat = "ctrl+t"\nsettings = "f9"')
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f9")
        await pilot.pause(0.2)
        assert type(app.screen).__name__ == "SettingsScreen"


async def test_broken_theme_file_is_reported_and_not_fatal(app_factory):
    folder = paths.themes_dir()
    folder.mkdir(parents=True)
    (folder / "broken.toml").write_text('name = "broken"\nprimary = "not-a-colour"\n')
    (folder / "typo.toml").write_text('name = "typo"\nprimry = "#ffffff"\n')
    (folder / "mine.toml").write_text('name = "mine"\nprimary = "#ff8800"\n')
    app = app_factory(extra='theme = "mine"')
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.1)
        assert app.theme == "mine"
        messages = " ".join(str(n.message) for n in app._notifications)
        assert "broken.toml" in messages and "typo.toml" in messages and "primary" in messages
        assert {"llama-dark", "llama-light", "llama-16"} <= set(app.available_themes)


async def test_title_generate_asks_the_model_once_and_saves_its_answer(app_factory, fake_server):
    """ctrl+p 'title: generate': one short request (not a turn of the conversation); the
    answer, cleaned, becomes the title on screen, in the list and in the file."""
    from tests.fakeserver import chat_json

    fake_server.enqueue(chat_stream(["TOML is a config format."]))
    fake_server.enqueue(chat_json('"Config \x1b]0;X\x07Formats Explained."'))
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "What is TOML?")
        await wait_replies(pilot)
        screen = main(app)
        screen.action_generate_title()
        await wait_for(pilot, lambda: screen.current.title.startswith("Config"))
        await wait_for(pilot, lambda: "Config" in str(screen.query_one("#chat-title").render()))
        await wait_for(pilot, lambda: only_conversation()["title"] == screen.current.title)
    assert screen.current.title == "Config ␛]0;X␇Formats Explained"
    sent = fake_server.requests[-1].json()
    assert "title of at most six words" in sent["messages"][0]["content"]
    assert len(only_conversation()["messages"]) == 2  # the title request is not a turn


async def test_a_remapped_message_key_acts_and_the_old_letter_is_typed(app_factory):
    """`[keymap]` moves a message's single-letter key: the new key acts on the focused
    message, the old letter goes to the prompt as typing."""
    (conv,) = make_conversations([("Mapped", ["q", "the answer"])])
    app = app_factory(extra='[keymap]\ncopy-message = "x"')
    copied: list[str] = []
    app.copy_to_clipboard = copied.append  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        screen = main(app)
        await screen.open_id(conv.id)
        await pilot.press("ctrl+up")
        await wait_for(pilot, lambda: isinstance(app.focused, AssistantMessage))
        await pilot.press("x")
        await wait_for(pilot, lambda: copied == ["the answer"])
        await pilot.press("ctrl+up", "c")
        await wait_for(pilot, lambda: screen.query_one(PromptInput).text == "c")
        assert copied == ["the answer"]


async def test_a_remapped_list_key_acts_on_the_highlighted_row(app_factory):
    make_conversations([("Pinnable", ["q", "a"])])
    app = app_factory(extra='[keymap]\npin = "b"')
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+l", "down")
        await wait_for(pilot, lambda: isinstance(app.focused, ConversationList))
        await pilot.press("b")
        await wait_for(pilot, lambda: load_toml(conversation_files()[0]).get("pinned") is True)
        assert main(app).query_one(PromptInput).text == ""
