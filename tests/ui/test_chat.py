"""The app as a user meets it: type, send, watch it stream, stop, switch, quit, reopen."""

from __future__ import annotations

import json
import time

from textual._styles_cache import StylesCache
from textual.widgets import Static

from llama_tui.ui.widgets.chat_view import ChatView
from llama_tui.ui.widgets.conversation_list import ConversationList
from llama_tui.ui.widgets.message_view import AssistantMessage, UserMessage
from llama_tui.ui.widgets.prompt_input import PromptInput
from tests.fakeserver import chat_stream, error_response, sse_events, stall_after
from tests.ui.conftest import (
    SIZE,
    conversation_files,
    load_toml,
    main,
    only_conversation,
    parts_streamed,
    type_and_send,
    wait_for,
    wait_replies,
)


def reply_views(app) -> list[AssistantMessage]:
    return list(main(app).query_one(ChatView).query(AssistantMessage))


async def test_send_streams_reply_and_saves_toml(app_factory, fake_server):
    fake_server.enqueue(chat_stream(["Hel", "lo ", "**world**", "\n\n```python\nprint(1)\n```"]))
    app = app_factory(extra='system_prompt = "Be brief."')
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "Who are you?")
        await wait_replies(pilot)
        views = reply_views(app)
        assert len(views) == 1
        assert views[0].source.startswith("Hello **world**")
        assert app.screen.query_one(PromptInput).text == ""
        sidebar = app.screen.query_one(ConversationList)
        assert [s.title for s in sidebar.summaries] == ["Who are you?"]
    sent = fake_server.requests[-1].json()
    assert sent["stream"] is True
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Who are you?"},
    ]
    assert fake_server.requests[-1].headers["authorization"] == "Bearer sk-test-secret-key-1234"
    data = only_conversation()
    assert data["title"] == "Who are you?"
    assert data["endpoint"] == "fake"
    assert data["system"] == "Be brief."
    user, reply = data["messages"]
    assert user == {"role": "user", "content": "Who are you?", "created_at": user["created_at"]}
    assert reply["content"] == "Hello **world**\n\n```python\nprint(1)\n```"
    assert reply["finish_reason"] == "stop"
    assert reply["stats"]["tokens"] == 4
    assert "sk-test" not in conversation_files()[0].read_text()


async def test_ctrl_j_inserts_newline_and_enter_sends_both_lines(app_factory, fake_server):
    fake_server.enqueue(chat_stream(["ok"]))
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        app.screen.query_one(PromptInput).focus()
        await pilot.press("a", "ctrl+j", "b")
        assert app.screen.query_one(PromptInput).text == "a\nb"
        await pilot.press("enter")
        await wait_replies(pilot)
    assert fake_server.requests[-1].json()["messages"][-1]["content"] == "a\nb"


async def test_escape_stops_and_keeps_partial_reply(app_factory, fake_server):
    fake_server.enqueue(chat_stream([f"w{i} " for i in range(200)], delay=0.05))
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "Count slowly")
        screen = main(app)
        await wait_for(pilot, lambda: parts_streamed(screen.app) >= 3)
        await pilot.press("escape")
        await wait_replies(pilot)
        view = reply_views(app)[0]
        assert view.has_class("-partial")
        assert "stopped by you" in str(view.query_one(".stats").render())
        assert not [n for n in app._notifications if n.severity == "error"]
    reply = only_conversation()["messages"][1]
    assert reply["finish_reason"] == "cancelled"
    assert reply["content"].startswith("w0 w1 w2")
    assert "w199" not in reply["content"]


async def test_switching_mid_stream_keeps_reply_in_its_conversation(app_factory, fake_server):
    fake_server.enqueue(chat_stream(["first answer"]))
    fake_server.enqueue(chat_stream([f"b{i} " for i in range(30)], delay=0.03))
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "Conversation A")
        await wait_replies(pilot)
        await pilot.press("ctrl+n")
        await type_and_send(pilot, "Conversation B")
        screen = main(app)
        await wait_for(pilot, lambda: parts_streamed(screen.app) >= 2)
        # open A while B streams
        sidebar = screen.query_one(ConversationList)
        a_id = next(s.id for s in sidebar.summaries if s.title == "Conversation A")
        assert screen.app.services.engine.replies and screen.app.services.engine.reply_for(a_id) is None
        await screen.open_id(a_id)
        await pilot.pause(0.3)
        shown = [v.message.content for v in screen.query_one(ChatView).query(UserMessage)]
        assert shown == ["Conversation A"]
        assert all("b1" not in v.source for v in reply_views(app))
        await wait_replies(pilot)
        assert [v.source for v in reply_views(app)] == ["first answer"]
    by_title = {load_toml(p)["title"]: load_toml(p) for p in conversation_files()}
    assert by_title["Conversation A"]["messages"][1]["content"] == "first answer"
    b_reply = by_title["Conversation B"]["messages"][1]
    assert b_reply["content"] == "".join(f"b{i} " for i in range(30))
    assert b_reply["finish_reason"] == "stop"


async def test_switching_back_shows_live_reply_without_duplicates(app_factory, fake_server):
    fake_server.enqueue(chat_stream([f"x{i} " for i in range(40)], delay=0.03))
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "Streaming one")
        screen = main(app)
        await wait_for(pilot, lambda: parts_streamed(screen.app) >= 5)
        conv = screen.current
        await pilot.press("ctrl+n")
        await pilot.pause(0.1)
        await screen.open_conversation(conv)
        await wait_replies(pilot)
        await pilot.pause(0.2)
        assert reply_views(app)[0].source == "".join(f"x{i} " for i in range(40))


async def test_quit_and_reload_finds_everything(app_factory, fake_server):
    fake_server.enqueue(chat_stream(["Paris."]))
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "Capital of France?")
        await wait_replies(pilot)
        await pilot.press("ctrl+q")
    again = app_factory(configure=False)
    async with again.run_test(size=SIZE) as pilot:
        sidebar = again.screen.query_one(ConversationList)
        assert [s.title for s in sidebar.summaries] == ["Capital of France?"]
        sidebar.focus()
        sidebar.highlighted = 0
        await pilot.press("enter")
        await pilot.pause(0.2)
        screen = main(again)
        assert screen.current is not None and screen.current.title == "Capital of France?"
        assert [v.source for v in reply_views(again)] == ["Paris."]


async def test_http_error_shows_request_id_and_restores_prompt(app_factory, fake_server):
    fake_server.enqueue(error_response(
        400, {"error": {"message": "model overloaded today", "code": "bad_thing"}},
        headers={"x-request-id": "req-abc-123", "date": "Mon, 23 Nov 2026 10:00:00 GMT"}))
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "Will this fail?")
        await wait_replies(pilot)
        view = reply_views(app)[0]
        assert view.has_class("-failed")
        details = str(view.query_one(".error-details").render())
        assert "HTTP 400" in details and "model overloaded today" in details
        assert "req-abc-123" in details and "Mon, 23 Nov 2026" in details
        assert app.screen.query_one(PromptInput).text == "Will this fail?"
    reply = only_conversation()["messages"][1]
    assert reply["finish_reason"] == "error"
    assert "req-abc-123" in reply["error"]


async def test_stall_times_out_keeps_partial_and_app_responsive(app_factory, fake_server):
    fake_server.enqueue(stall_after(["partial ", "text"], stall_seconds=30))
    app = app_factory()
    app.services.config.endpoints["fake"].read_timeout = 0.5
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "Hello?")
        await wait_replies(pilot)
        view = reply_views(app)[0]
        assert view.has_class("-failed")
        assert "no data from the server" in str(view.query_one(".error-details").render())
        assert view.source == "partial text"
    reply = only_conversation()["messages"][1]
    assert reply["content"] == "partial text"
    assert reply["finish_reason"] == "error"


async def test_model_markup_is_shown_literally(app_factory, fake_server):
    nasty = "[bold]not bold[/bold] [@click=app.quit]click[/] \x1b]52;c;aGk=\x07 done"
    fake_server.enqueue(chat_stream([nasty]))
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "Say markup")
        await wait_replies(pilot)
        assert app.is_running
        source = reply_views(app)[0].source
        assert "[bold]not bold[/bold]" in source
        assert "\x1b" not in source and "\x07" not in source
        assert "␛]52;c;aGk=␇" in source
    assert "\x1b" not in only_conversation()["messages"][1]["content"]


async def test_corrupt_file_is_skipped_named_and_untouched(app_factory, fake_server):
    from llama_tui import paths

    folder = paths.conversations_dir()
    folder.mkdir(parents=True)
    bad = folder / "broken.toml"
    bad.write_bytes(b"title = 'unterminated\n[[messages]\n\xff")
    before = bad.read_bytes()
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        texts = [str(n.message) for n in app._notifications]
        assert any("broken.toml" in t for t in texts), texts
        assert app.screen.query_one(ConversationList).summaries == []
    assert bad.read_bytes() == before


async def test_partial_reply_is_checkpointed_while_streaming(app_factory, fake_server):
    fake_server.enqueue(chat_stream([f"t{i} " for i in range(60)], delay=0.05))
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "Long one")
        await pilot.pause(1.8)
        reply = only_conversation()["messages"][1]
        assert reply["finish_reason"] == "interrupted"
        assert reply["content"].startswith("t0 t1 ")
        await pilot.press("escape")
        await wait_replies(pilot)


async def test_enter_right_as_a_reply_ends_sends_the_next_turn(app_factory, fake_server,
                                                              monkeypatch):
    """The reply is complete on screen while its last save still runs (a slow disk): Enter
    then waits for that save and sends; it is not refused as "still streaming"."""
    import threading

    from llama_tui.storage.store import ConversationStore

    fake_server.enqueue(chat_stream(["first ", "reply"]))
    fake_server.enqueue(chat_stream(["second reply"]))
    real_save, slow = ConversationStore.save, threading.Event()

    def save(store, conv):  # type: ignore[no-untyped-def]
        if slow.is_set() and conv.messages[-1].finish_reason == "stop":
            time.sleep(0.5)  # the final save of the first reply
            slow.clear()
        return real_save(store, conv)

    monkeypatch.setattr(ConversationStore, "save", save)
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        slow.set()
        await type_and_send(pilot, "one")
        await wait_for(pilot, lambda: "tokens" in str(reply_views(app)[0]._footer.render()))
        assert app.services.engine.replies  # still saving
        await type_and_send(pilot, "two")
        await wait_replies(pilot)
        said = [str(n.message) for n in app._notifications]
        assert [v.source for v in reply_views(app)] == ["first reply", "second reply"]
    assert not any("still streaming" in s for s in said), said
    assert len(fake_server.requests) == 2
    data = only_conversation()
    assert [m["content"] for m in data["messages"]] == ["one", "first reply", "two",
                                                         "second reply"]


async def test_switching_conversations_frees_what_the_old_messages_drew(app_factory,
                                                                        fake_server):
    """Textual keeps the render caches of removed widgets (Textualize/textual#6665): the chat
    empties them when it lets its messages go, so switching back and forth stays flat."""
    fake_server.enqueue(chat_stream(["a reply with\n\n", "several lines\n\n", "of text"]))
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "first")
        await wait_replies(pilot)
        await pilot.pause()
        chat = main(app).query_one(ChatView)
        await chat.mount_all([Static(f"line {i}") for i in range(60)])
        await pilot.pause()
        chat.scroll_home(animate=False)  # every one drawn once
        await pilot.pause()
        old = list(chat.walk_children())
        assert any(w._styles_cache._cache for w in old)  # drawn, so cached
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert all(not w._styles_cache._cache for w in old)
        assert not any(w in old for w in chat.walk_children())
        kept = StylesCache.get_inner_outer.cache_info().currsize
        assert kept < 30, kept  # what was drawn since the switch, not the 60+ widgets removed


async def test_textual_memo_caches_are_emptied_once_big(app_factory, fake_server, monkeypatch):
    """Textual's and Rich's lru caches fill with one-off values over a long session (the
    soak's slow memory growth): over the limit, they are emptied after a reply is saved and
    when the chat lets a conversation go."""
    from rich.cells import cached_cell_len

    from llama_tui.ui import caches

    monkeypatch.setattr(caches, "ENTRY_LIMIT", 4_000)
    fake_server.enqueue(chat_stream(["a reply", " in two parts"]))
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for i in range(4_000):  # one-off widths, as a long session's text leaves them
            cached_cell_len(f"line {i} 中文")
        assert caches.entries() > 4_000
        await type_and_send(pilot, "hello")
        await wait_replies(pilot)
        await wait_for(pilot, lambda: cached_cell_len.cache_info().currsize < 100)
        assert caches.entries() < 4_000

        for i in range(4_000):
            cached_cell_len(f"line {i} 中文")
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert cached_cell_len.cache_info().currsize < 100
        assert not main(app).query(AssistantMessage)

        for i in range(1_000):  # under the limit: kept (they are what the screen uses)
            cached_cell_len(f"line {i} 中文")
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert cached_cell_len.cache_info().currsize >= 1_000


async def test_a_reply_that_failed_after_only_newlines_gives_the_prompt_back(
        app_factory, fake_server):
    """Models often start with newlines; when the stream fails right after them, nothing was
    said: the prompt comes back to be sent again, as when nothing came at all."""
    def chunk(delta: dict) -> str:
        return "data: " + json.dumps({"id": "x", "object": "chat.completion.chunk",
                                      "created": 1, "model": "m",
                                      "choices": [{"index": 0, "delta": delta,
                                                   "finish_reason": None}]})

    fake_server.enqueue(sse_events([
        chunk({"role": "assistant"}), chunk({"content": "\n\n"}),
        'event: error\ndata: {"error": {"message": "the server is overloaded", '
        '"type": "server_error"}}']))
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "Tell me a story")
        await wait_replies(pilot)
        await wait_for(pilot, lambda: main(app).query_one(PromptInput).text == "Tell me a story")
