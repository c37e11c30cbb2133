"""Nothing lost: `kill -9` of the real app (a process on a real pty) in the middle of a reply.

On restart the conversation holds the user message and the reply up to the last checkpoint,
no more than about a second behind what the server had sent, marked `interrupted`.
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

from llama_tui import paths
from llama_tui.storage.store import ConversationStore
from llama_tui.ui.widgets.message_view import AssistantMessage
from tests.fakeserver import chat_stream
from tests.reliability.harness import PtyApp, RecordingServer, write_config
from tests.ui.conftest import SIZE, main, wait_for

PIECES = [f"t{i:03d} " for i in range(400)]
#: The checkpoint interval (1 s) plus the save itself (a thread, fsync) and the kill.
MAX_BEHIND_S = 1.5


async def test_kill_9_mid_reply_keeps_the_reply_to_the_last_checkpoint(
    isolated_home: Path,
) -> None:
    with RecordingServer() as server:
        server.enqueue(chat_stream(PIECES, delay=0.02))  # 50 tokens/s for 8 s
        write_config(isolated_home, server)
        with PtyApp(isolated_home) as app:
            app.wait_for(b"New conversation")
            app.send(b"Count to four hundred\r")
            server.wait_for_requests(1, timeout=10)
            deadline = time.monotonic() + 10
            while not server.contents_sent() and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(random.uniform(2.0, 3.0))  # any phase of the 1 s checkpoint cycle
            killed_at = time.monotonic()
            app.kill(signal.SIGKILL)
            sent = [(when, text) for when, text in server.contents_sent() if when <= killed_at]

    store = ConversationStore()
    summaries, problems = store.scan()
    assert problems == [] and len(summaries) == 1
    assert not list(paths.conversations_dir().glob(".*.tmp"))  # the next scan cleaned up
    conv = store.load(summaries[0].id)
    user, reply = conv.messages
    assert user.content == "Count to four hundred"
    assert reply.finish_reason == "interrupted"
    full = "".join(text for _, text in sent)
    assert reply.content and full.startswith(reply.content), (reply.content, full)
    missing = [when for when, text in _after(sent, len(reply.content))]
    behind = killed_at - missing[0] if missing else 0.0
    print(f"kill -9: saved {len(reply.content)} of {len(full)} chars, {behind:.2f} s behind")
    assert behind <= MAX_BEHIND_S, f"saved reply was {behind:.2f} s behind the server"
    assert len(sent) < len(PIECES)  # killed mid-reply, not after it

    # The restarted app shows it as an interrupted reply.
    from llama_tui.ui.app import make_app

    restarted = make_app(probe_servers=())
    async with restarted.run_test(size=SIZE) as pilot:
        screen = main(restarted)
        await screen.open_id(conv.id)
        await wait_for(pilot, lambda: bool(screen.query(AssistantMessage)))
        view = screen.query(AssistantMessage).last()
        assert view.has_class("-partial")
        assert "interrupted" in str(view.query_one(".stats").render())


def _after(sent: list[tuple[float, str]], length: int) -> list[tuple[float, str]]:
    """The pieces (with send times) that begin at or after character `length`."""
    out, at = [], 0
    for when, text in sent:
        if at + len(text) > length:
            out.append((when, text))
        at += len(text)
    return out
