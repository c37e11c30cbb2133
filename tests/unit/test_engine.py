"""The reply engine without any UI: checkpoints, endings, one writer per conversation."""

from __future__ import annotations

import asyncio
import time
import tomllib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from llama_tui import engine as engine_module
from llama_tui.client.dialects import GenerationRequest
from llama_tui.client.events import ConnectionFailed, Finished, StreamEvent, TextDelta
from llama_tui.engine import ReplyEngine, snapshot
from llama_tui.model import Conversation, Message, Role, Stats
from llama_tui.reply import EngineEvent, ReplyEnded, Saved, SaveFailed, TextGrew
from llama_tui.session import add_prompt, begin_reply
from llama_tui.storage.store import ConversationStore

REQUEST = GenerationRequest("chat", messages=[{"role": "user", "content": "hi"}])


class Script:
    """A stream the test feeds: text, Finished, an exception, or None (end)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.closed = False

    def send(self, *items: Any) -> None:
        for item in items:
            self.queue.put_nowait(TextDelta(item) if isinstance(item, str) else item)

    async def stream(self, request: GenerationRequest) -> AsyncIterator[StreamEvent]:
        try:
            while True:
                item = await self.queue.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.closed = True


def done(reason: str = "stop") -> Finished:
    return Finished(reason, None, Stats(tokens=3))


async def until(condition: Callable[[], Any], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def on_disk(store: ConversationStore, conv: Conversation) -> dict[str, Any]:
    return tomllib.loads(store.path_for(conv.id).read_text("utf-8"))


def last_reply(store: ConversationStore, conv: Conversation) -> tuple[str, str]:
    message = on_disk(store, conv)["messages"][-1]
    return message["content"], message["finish_reason"]


@pytest.fixture
def store(tmp_path: Path) -> ConversationStore:
    return ConversationStore(tmp_path / "conversations", tmp_path / "index.json")


def started(engine: ReplyEngine, script: Script, prompt: str = "hi") -> tuple[Conversation, Any]:
    conv = Conversation()
    add_prompt(conv, prompt)
    return conv, engine.start(conv, begin_reply(conv), script, REQUEST, prompt=prompt)


async def test_text_before_a_stall_is_checkpointed(store: ConversationStore) -> None:
    engine = ReplyEngine(store, checkpoint_seconds=0.05)
    script = Script()
    conv, reply = started(engine, script)
    script.send("Four ", "words ", "then ", "silence")
    await until(lambda: store.path_for(conv.id).exists()
                and last_reply(store, conv)[0] == "Four words then silence")
    assert last_reply(store, conv) == ("Four words then silence", "interrupted")
    assert reply.streaming  # the stream itself is still waiting
    engine.stop(conv)
    await engine.wait(reply)


async def test_every_ending_is_saved_with_its_reason(store: ConversationStore) -> None:
    engine = ReplyEngine(store)
    events: list[EngineEvent] = []
    engine.subscribe(events.append)
    # finished
    script = Script()
    conv, reply = started(engine, script)
    script.send("Hello", " there", done())
    await engine.wait(reply)
    assert last_reply(store, conv) == ("Hello there", "stop")
    kinds = [type(e) for e in events]
    assert kinds == [TextGrew, TextGrew, ReplyEnded, Saved]
    # stopped by the user
    script = Script()
    conv, reply = started(engine, script)
    script.send("partial")
    await until(lambda: reply.parts)
    assert engine.stop(conv)
    await engine.wait(reply)
    assert last_reply(store, conv) == ("partial", "cancelled")
    assert script.closed  # the response was closed
    # failed after some text
    script = Script()
    conv, reply = started(engine, script)
    script.send("some", ConnectionFailed("the server went away"))
    await engine.wait(reply)
    text, reason = last_reply(store, conv)
    assert (text, reason) == ("some", "error")
    assert "went away" in on_disk(store, conv)["messages"][-1]["error"]
    assert engine.replies == []


async def test_a_bug_in_the_stream_keeps_the_text(store: ConversationStore) -> None:
    engine = ReplyEngine(store)
    script = Script()
    conv, reply = started(engine, script)
    script.send("kept", ZeroDivisionError("oops"))
    await engine.wait(reply)
    assert isinstance(reply.crash, ZeroDivisionError)
    assert last_reply(store, conv) == ("kept", "error")


async def test_a_listener_that_fails_stops_nothing(store: ConversationStore) -> None:
    engine = ReplyEngine(store)

    def broken(event: EngineEvent) -> None:
        raise RuntimeError("listener bug")

    engine.subscribe(broken)
    script = Script()
    conv, reply = started(engine, script)
    script.send("fine", done())
    await engine.wait(reply)
    assert last_reply(store, conv) == ("fine", "stop")


async def test_shutdown_marks_a_stalled_reply_interrupted_and_returns(
    store: ConversationStore,
) -> None:
    engine = ReplyEngine(store, checkpoint_seconds=30)
    script = Script()
    conv, reply = started(engine, script)
    script.send("waiting ", "for more")
    await until(lambda: len(reply.parts) == 2)
    began = time.monotonic()
    await engine.shutdown()
    assert time.monotonic() - began < 2
    assert last_reply(store, conv) == ("waiting for more", "interrupted")


async def test_save_all_now_writes_from_the_calling_thread(store: ConversationStore) -> None:
    """What a signal handler calls: no await, the file is written when it returns."""
    engine = ReplyEngine(store, checkpoint_seconds=30)
    script = Script()
    conv, reply = started(engine, script)
    script.send("the words ", "so far")
    await until(lambda: len(reply.parts) == 2)
    assert engine.save_all_now() == 1
    assert last_reply(store, conv) == ("the words so far", "interrupted")
    engine.stop(conv)
    await engine.wait(reply)


async def test_saves_of_one_conversation_are_written_in_order_newest_last(
    store: ConversationStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = ReplyEngine(store)
    conv = Conversation()
    add_prompt(conv, "start")
    real = ConversationStore.save
    active: list[int] = []
    overlaps: list[int] = []

    def slow_save(self: ConversationStore, snap: Conversation) -> Any:
        active.append(1)
        if len(active) > 1:
            overlaps.append(len(active))
        time.sleep(0.01)
        try:
            return real(self, snap)
        finally:
            active.pop()

    monkeypatch.setattr(ConversationStore, "save", slow_save)
    saves = []
    for n in range(20):
        conv.messages[0].content = f"version {n}"
        saves.append(asyncio.create_task(engine.save(conv)))
    assert all(await asyncio.gather(*saves))
    assert not overlaps
    assert on_disk(store, conv)["messages"][0]["content"] == "version 19"


async def test_a_failed_save_is_said_once_and_retried_until_it_works(
    store: ConversationStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(engine_module, "SAVE_RETRY_SECONDS", 0.05)
    engine = ReplyEngine(store)
    events: list[EngineEvent] = []
    engine.subscribe(events.append)
    real = ConversationStore.save
    broken = {"on": True}

    def save(self: ConversationStore, snap: Conversation) -> Any:
        if broken["on"]:
            raise OSError(28, "No space left on device")
        return real(self, snap)

    monkeypatch.setattr(ConversationStore, "save", save)
    conv = Conversation()
    add_prompt(conv, "keep me")
    assert not await engine.save(conv)
    await until(lambda: sum(isinstance(e, SaveFailed) for e in events) >= 3)
    assert [e.first for e in events if isinstance(e, SaveFailed)][:3] == [True, False, False]
    assert engine.unsaved == [conv]
    broken["on"] = False
    await until(lambda: any(isinstance(e, Saved) and e.recovered for e in events))
    assert engine.unsaved == []
    assert on_disk(store, conv)["messages"][0]["content"] == "keep me"


async def test_a_conflict_copy_renames_the_live_conversation_on_the_loop(
    store: ConversationStore,
) -> None:
    engine = ReplyEngine(store)
    events: list[EngineEvent] = []
    engine.subscribe(events.append)
    conv = Conversation()
    add_prompt(conv, "mine")
    await engine.save(conv)
    path, first_id = store.path_for(conv.id), conv.id
    path.write_text(path.read_text("utf-8").replace("mine", "theirs"), "utf-8")
    conv.messages[0].content = "mine, edited"
    await engine.save(conv)
    assert conv.id != first_id and conv.title.endswith("(conflict copy)")
    assert [e.conflict_with for e in events if isinstance(e, Saved)] == [None, first_id]
    assert "theirs" in path.read_text("utf-8")


def test_a_snapshot_does_not_change_with_the_conversation() -> None:
    conv = Conversation()
    add_prompt(conv, "one")
    conv.messages[0].extra["k"] = 1
    snap = snapshot(conv)
    conv.messages.append(Message(Role.ASSISTANT, "two"))
    conv.messages[0].content = "changed"
    conv.messages[0].extra["k"] = 2
    conv.params.temperature = 0.1
    assert [m.content for m in snap.messages] == ["one"]
    assert snap.messages[0].extra == {"k": 1}
    assert snap.params.temperature is None


async def test_without_a_store_nothing_is_written(tmp_path: Path) -> None:
    engine = ReplyEngine(None)
    script = Script()
    _conv, reply = started(engine, script)
    script.send("only printed", done())
    await engine.wait(reply)
    assert reply.outcome == "stop" and reply.text == "only printed"
    assert engine.save_all_now() == 0


async def test_the_engine_lets_go_of_conversations_it_is_done_with(
    store: ConversationStore,
) -> None:
    """A long session opens and replies in many conversations: none stays held by the engine."""
    engine = ReplyEngine(store)
    for _ in range(3):
        script = Script()
        _, reply = started(engine, script)
        script.send("done", done())
        await engine.wait(reply)
    other = Conversation()
    add_prompt(other, "saved, no reply")
    await engine.save(other)
    assert engine.replies == [] and engine._writers == {}


async def test_a_save_asked_for_while_a_conflict_copy_is_written_goes_to_the_copy(
    store: ConversationStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The second save's snapshot is taken when its turn comes: by then the conversation is
    the conflict copy, so there is one copy, not a second one conflicting with the original."""
    engine = ReplyEngine(store)
    conv = Conversation()
    add_prompt(conv, "mine")
    await engine.save(conv)
    path = store.path_for(conv.id)
    path.write_text(path.read_text("utf-8").replace("mine", "theirs"), "utf-8")
    real = ConversationStore.save

    def slow(self: ConversationStore, snap: Conversation) -> Any:
        time.sleep(0.2)
        return real(self, snap)

    monkeypatch.setattr(ConversationStore, "save", slow)
    conv.messages[0].content = "mine, edited"
    first = asyncio.create_task(engine.save(conv))
    await asyncio.sleep(0.05)  # the first write is under way (slow), the second waits
    conv.messages[0].content = "mine, edited again"
    assert await engine.save(conv) and await first
    files = sorted(p.name for p in store.directory.glob("*.toml"))
    assert len(files) == 2, files  # the original (theirs) and one copy
    assert on_disk(store, conv)["messages"][0]["content"] == "mine, edited again"


async def test_a_reply_past_its_size_limit_is_stopped_kept_and_says_why(
    store: ConversationStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A runaway server cannot make the conversation file too big to open again."""
    from llama_tui.client.events import ReasoningDelta

    monkeypatch.setattr(engine_module, "ANSWER_LIMIT", 20)
    monkeypatch.setattr(engine_module, "REASONING_LIMIT", 10)
    engine = ReplyEngine(store)
    script = Script()
    conv, reply = started(engine, script)
    script.send(*["0123456789"] * 5)  # never finishes by itself
    await engine.wait(reply)
    assert script.closed and reply.outcome == "length"
    assert on_disk(store, conv)["messages"][-1]["content"] == "0123456789" * 3
    assert "limit of 20 characters" in on_disk(store, conv)["messages"][-1]["note"]
    script = Script()
    conv, reply = started(engine, script)
    script.send(ReasoningDelta("thinking "), ReasoningDelta("and thinking"))
    await engine.wait(reply)
    message = on_disk(store, conv)["messages"][-1]
    assert message["reasoning"] == "thinking " and "its thinking passed" in message["note"]


async def test_a_tool_call_no_parser_can_read_is_noted_not_a_crash(
    store: ConversationStore,
) -> None:
    from llama_tui.client.events import ToolCall

    engine = ReplyEngine(store)
    script = Script()
    conv, reply = started(engine, script)
    deep = ToolCall("nest", "[" * 200_000)
    script.send("an answer", Finished("tool_calls", None, Stats(), tool_calls=(deep,)))
    await engine.wait(reply)
    message = on_disk(store, conv)["messages"][-1]
    assert message["content"] == "an answer" and reply.crash is None
    assert "The model asked to call nest([[[" in message["note"] and len(message["note"]) < 3000
