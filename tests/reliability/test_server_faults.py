"""Nothing lost when the server misbehaves mid-reply: it stalls, drops the connection, or sends
garbage. The partial reply is kept (on screen and on disk) and marked; the app stays usable
meanwhile: escape stops a stalled reply, and other conversations open while one is stuck.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llama_tui.storage.store import ConversationStore
from llama_tui.ui.app import make_app
from llama_tui.ui.widgets.chat_view import ChatView
from llama_tui.ui.widgets.message_view import AssistantMessage, UserMessage
from tests.fakeserver import FakeServer, Response, Send, chat_stream, disconnect_after, stall_after
from tests.fakeserver.scripts import SSE_TYPE
from tests.reliability.harness import write_config
from tests.ui.conftest import SIZE, main, type_and_send, wait_for, wait_replies

PIECES = ["Partial ", "answer ", "that ", "was ", "cut."]


def _chunk(text: str) -> bytes:
    return f"data: {json.dumps({'choices': [{'index': 0, 'delta': {'content': text}}]})}\n\n".encode()


def garbage_after(pieces: list[str], junk: bytes) -> Response:
    return Response(headers={"content-type": SSE_TYPE},
                    steps=[Send(_chunk(p)) for p in pieces] + [Send(junk)])


FAULTS = {
    "stall": (lambda: stall_after(PIECES, 30), "no data from the server for 1 s"),
    "drop": (lambda: disconnect_after(PIECES), "connection broke"),
    "garbage-json": (lambda: garbage_after(PIECES, b"data: {\"choices\": [{\"delta\n\n"),
                     "unreadable event"),
    "garbage-bytes": (lambda: garbage_after(PIECES, b"data: \xff\xfe\x00\x9b[31m\n\n"),
                      "unreadable event"),
    "html-mid-stream": (lambda: garbage_after(PIECES, b"<html><body>502 Bad Gateway</body>\n\n"),
                        "ended without"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_a_broken_reply_is_kept_and_marked(isolated_home: Path, fake_server: FakeServer,
                                                 fault: str) -> None:
    make_response, words = FAULTS[fault]
    fake_server.enqueue(make_response())
    write_config(isolated_home, fake_server, endpoint="read_timeout = 1\nmax_retries = 0")
    app = make_app(probe_servers=())
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "Tell me")
        await wait_replies(pilot)
        view = main(app).query(AssistantMessage).last()
        assert view.has_class("-failed")
        assert view.message.content == "".join(PIECES)
        said = [str(n.message) for n in app._notifications if n.severity == "error"]
        assert len(said) == 1 and words in said[0], said
        conv_id = main(app).current.id
    reply = ConversationStore().load(conv_id).messages[-1]
    assert (reply.content, reply.finish_reason) == ("".join(PIECES), "error")
    assert words in (reply.error or "")


async def test_while_a_reply_is_stalled_the_app_answers(isolated_home: Path,
                                                       fake_server: FakeServer) -> None:
    """A stalled reply (no timeout in sight) does not freeze anything: another conversation
    opens and can be used, the stalled one can be reopened, and escape stops it."""
    fake_server.enqueue(chat_stream(["other answer"]))
    fake_server.enqueue(stall_after(PIECES, 60))
    fake_server.enqueue(chat_stream(["still here"]))
    write_config(isolated_home, fake_server, endpoint="read_timeout = 120")
    app = make_app(probe_servers=())
    async with app.run_test(size=SIZE) as pilot:
        screen = main(app)
        await type_and_send(pilot, "Other conversation")
        await wait_replies(pilot)
        other_id = screen.current.id
        await pilot.press("ctrl+n")
        await type_and_send(pilot, "This one stalls")
        engine = app.services.engine
        await wait_for(pilot, lambda: engine.replies and len(engine.replies[0].parts) == len(PIECES))
        stalled_id = screen.current.id
        await screen.open_id(other_id)
        await pilot.pause()
        shown = [v.message.content for v in screen.query_one(ChatView).query(UserMessage)]
        assert shown == ["Other conversation"]
        await type_and_send(pilot, "and again")
        await wait_for(pilot, lambda: engine.reply_for(other_id) is None and len(engine.replies) == 1
                       and "still here" in [m.content for m in screen.current.messages])
        await screen.open_id(stalled_id)
        await pilot.pause()
        assert engine.reply_for(stalled_id) is not None  # still waiting for the server
        await pilot.press("escape")
        await wait_replies(pilot)
        view = screen.query(AssistantMessage).last()
        assert view.has_class("-partial") and view.message.content == "".join(PIECES)
    reply = ConversationStore().load(stalled_id).messages[-1]
    assert (reply.content, reply.finish_reason) == ("".join(PIECES), "cancelled")
