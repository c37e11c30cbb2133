"""Nothing lost, on disk: bad files are skipped and named and never touched; config mistakes
name file, key and a fix; a second instance's changes are never overwritten (a conflict copy
instead); a full or read-only disk keeps the reply on screen, tells the user, and retries.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llama_tui import engine as engine_module
from llama_tui import paths
from llama_tui.model import Conversation, Message, Role
from llama_tui.storage import codec
from llama_tui.storage.store import ConversationStore
from llama_tui.ui.app import make_app
from llama_tui.ui.widgets.message_view import AssistantMessage
from tests.fakeserver import FakeServer, chat_stream
from tests.reliability.harness import ROOT, child_env, write_config
from tests.ui.conftest import SIZE, main, parts_streamed, type_and_send, wait_for, wait_replies

GOOD = Conversation(id="01GOODGOODGOODGOODGOODGOOD", title="A good one",
                    messages=[Message(Role.USER, "hello"), Message(Role.ASSISTANT, "hi there " * 50,
                                                                   finish_reason="stop")])


def _bad_files() -> dict[str, bytes]:
    good = codec.dumps(GOOD).encode("utf-8")
    return {
        "corrupt.toml": b'title = "unterminated\n[[messages]\n',
        "truncated-head.toml": good[:40],
        "truncated-body.toml": good[: len(good) * 2 // 3],
        "empty.toml": b"",
        "latin1.toml": 'title = "caf\xe9"\n'.encode("latin-1"),
        "wrong-schema.toml": b'id = "W"\ntitle = 5\n',
        "wrong-stats.toml": good.replace(b"finish_reason", b'stats = { tokens_per_s = "fast" }\n'
                                                           b"finish_reason"),
        "future.toml": good.replace(b"schema_version = 1", b"schema_version = 2"),
        "not-a-table.toml": b'messages = "none"\nid = "N"\n',
    }


def _state(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


async def test_bad_files_are_skipped_named_and_never_touched(isolated_home: Path,
                                                             fake_server: FakeServer) -> None:
    folder = paths.conversations_dir()
    folder.mkdir(parents=True)
    for name, data in _bad_files().items():
        (folder / name).write_bytes(data)
    ConversationStore().save(GOOD)
    before = _state(folder)
    fake_server.enqueue(chat_stream(["fine"]))
    write_config(isolated_home, fake_server)
    app = make_app(probe_servers=())
    async with app.run_test(size=SIZE) as pilot:
        screen = main(app)
        listed = {s.path.name for s in screen.query_one("#sidebar").summaries}
        # Files whose header reads fine are listed; opening them is refused, by name. The
        # truncated copy of GOOD declares GOOD's id: it is a conversation of its own, under
        # its file name's stem, and opening it never opens GOOD's file instead.
        assert "truncated-body.toml" in listed
        for name in sorted(listed - {f"{GOOD.id}.toml"}):
            await screen.open_id(Path(name).stem)
        for summary in list(screen.query_one("#sidebar").summaries):
            await screen.open_id(summary.id)
            await pilot.pause()
        await screen.open_conversation(None)  # a new one: GOOD's file must stay as it is
        await type_and_send(pilot, "still works")
        await wait_replies(pilot)
        said = "\n".join(str(n.message) for n in app._notifications)
    assert app.return_code in (None, 0)
    for name in _bad_files():
        assert name in said, f"{name} was not named:\n{said}"
    assert "schema_version 2" in said and "upgrade" in said
    assert "stats.tokens_per_s" in said and "not UTF-8" in said and "empty" in said
    after = _state(folder)
    assert {k: v for k, v in after.items() if k in before} == before  # not one byte, not mtime
    assert len(after) == len(before) + 1  # the new conversation


def test_list_names_every_skipped_file_on_stderr(isolated_home: Path) -> None:
    folder = paths.conversations_dir()
    folder.mkdir(parents=True)
    for name, data in _bad_files().items():
        (folder / name).write_bytes(data)
    done = subprocess.run([sys.executable, "-m", "llama_tui", "list"], capture_output=True,
                          text=True, cwd=ROOT, env=child_env(isolated_home), timeout=30)
    assert done.returncode == 0, done.stderr
    for name in ("corrupt.toml", "truncated-head.toml", "empty.toml", "latin1.toml",
                 "wrong-schema.toml", "future.toml"):  # the others fail when opened
        assert f"skipped {name}:" in done.stderr
    assert "Traceback" not in done.stderr


CONFIG_MISTAKES = [
    ("[defaults]\ntemprature = 0.5\n", "defaults.temprature", "did you mean 'temperature'?"),
    ('memory_widow = 3\n', "memory_widow", "did you mean 'memory_window'?"),
    ('[endpoints.x]\nurl = "http://h"\nraed_timeout = 3\n', "endpoints.x.raed_timeout",
     "did you mean 'read_timeout'?"),
    ('[endpoints.x]\nurl = "http://h"\nauth = "basic"\n', "endpoints.x.auth", "use one of bearer"),
    ('[endpoints.x]\nurl = "http://h"\ninsecure = "yes"\n', "endpoints.x.insecure", "expected bool"),
    ('memory_window = -1\n', "memory_window", "must be 0 or more"),
]


@pytest.mark.parametrize(("text", "key", "hint"), CONFIG_MISTAKES)
async def test_config_mistakes_name_file_key_and_hint(isolated_home: Path, text: str, key: str,
                                                      hint: str) -> None:
    path = write_config(isolated_home, None, extra=text)
    app = make_app(probe_servers=())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        said = [str(n.message) for n in app._notifications if n.severity == "error"]
    assert any(str(path) in m and key in m and hint in m for m in said), said
    done = subprocess.run([sys.executable, "-m", "llama_tui", "ask", "hi"], capture_output=True,
                          text=True, cwd=ROOT, env=child_env(isolated_home), timeout=30)
    assert done.returncode == 2
    assert str(path) in done.stderr and key in done.stderr and hint in done.stderr


async def test_another_instance_changed_the_file_so_we_save_a_copy(isolated_home: Path,
                                                                   fake_server: FakeServer) -> None:
    """This app opened conversation X; another llama-tui process (`ask -c X`) then added to X;
    the app's next save writes a conflict copy and says so, and X keeps the other's turn."""
    fake_server.enqueue(chat_stream(["first reply"]))
    fake_server.enqueue(chat_stream(["reply to the other instance"]))
    fake_server.enqueue(chat_stream(["second reply"]))
    write_config(isolated_home, fake_server)
    app = make_app(probe_servers=())
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "first")
        await wait_replies(pilot)
        screen = main(app)
        assert screen.current is not None
        conv_id = screen.current.id
        done = subprocess.run(
            [sys.executable, "-m", "llama_tui", "ask", "-c", conv_id, "from the other instance"],
            capture_output=True, text=True, cwd=ROOT, env=child_env(isolated_home), timeout=30)
        assert done.returncode == 0, done.stderr
        theirs = (paths.conversations_dir() / f"{conv_id}.toml").read_bytes()
        await type_and_send(pilot, "second")
        await wait_replies(pilot)
        said = "\n".join(str(n.message) for n in app._notifications)
        copy_id = screen.current.id
    assert f"{conv_id}.toml was changed by another program" in said
    assert copy_id != conv_id
    assert (paths.conversations_dir() / f"{conv_id}.toml").read_bytes() == theirs
    other = ConversationStore().load(conv_id)
    assert [m.content for m in other.messages] == ["first", "first reply",
                                                   "from the other instance",
                                                   "reply to the other instance"]
    mine = ConversationStore().load(copy_id)
    assert mine.title.endswith("(conflict copy)")
    assert [m.content for m in mine.messages] == ["first", "first reply", "second", "second reply"]


def test_a_touch_or_an_identical_rewrite_is_not_a_conflict(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "c", tmp_path / "index.json")
    conv = Conversation(title="t", messages=[Message(Role.USER, "x")])
    path = store.save(conv).path
    os.utime(path, ns=(1, 1))  # a sync tool, `touch`
    path.write_bytes(path.read_bytes())
    assert store.save(conv).conflict_with is None
    path.write_bytes(path.read_bytes() + b"\n# someone else\n")
    assert store.save(conv).conflict_with is not None


# -- a full or read-only disk -------------------------------------------------------------------

class LimitedDisk:
    """The data folder on its own small tmpfs (root only) that can fill up or turn read-only;
    elsewhere a read-only folder by permissions, or the OS error injected at the write."""

    def __init__(self, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.folder, self.monkeypatch = folder, monkeypatch
        self.mounted = False
        folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0 and shutil.which("mount"):
            done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(folder)],
                                  capture_output=True)
            self.mounted = done.returncode == 0

    def break_it(self, how: str) -> None:
        if self.mounted and how == "full":
            with contextlib.suppress(OSError), open(self.folder / "filler", "wb") as handle:
                while True:
                    handle.write(b"\0" * 65536)
                    handle.flush()
        elif self.mounted:
            subprocess.run(["mount", "-o", "remount,ro", str(self.folder)], check=True)
        elif how == "read-only" and os.geteuid() != 0:
            for path in (self.folder, self.folder / "conversations"):
                path.chmod(0o555)
        else:
            code = errno.ENOSPC if how == "full" else errno.EROFS

            def refuse(*args: object, **kwargs: object) -> None:
                raise OSError(code, os.strerror(code))

            self.monkeypatch.setattr("llama_tui.storage.atomic.tempfile.mkstemp", refuse)

    def repair(self) -> None:
        if self.mounted:
            subprocess.run(["mount", "-o", "remount,rw", str(self.folder)], check=True)
            (self.folder / "filler").unlink(missing_ok=True)
        else:
            for path in (self.folder, self.folder / "conversations"):
                path.chmod(0o755)
            self.monkeypatch.undo()

    def close(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.folder)], check=False)


@pytest.fixture
def disk(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LimitedDisk]:
    limited = LimitedDisk(isolated_home / "data", monkeypatch)
    yield limited
    limited.close()


@pytest.mark.parametrize("how", ["full", "read-only"])
async def test_disk_full_or_read_only_keeps_the_reply_tells_the_user_and_retries(
    isolated_home: Path, fake_server: FakeServer, disk: LimitedDisk,
    monkeypatch: pytest.MonkeyPatch, how: str,
) -> None:
    monkeypatch.setattr(engine_module, "SAVE_RETRY_SECONDS", 0.3)
    pieces = [f"p{i} " for i in range(60)]
    fake_server.enqueue(chat_stream(pieces, delay=0.04))
    write_config(isolated_home, fake_server)
    app = make_app(probe_servers=())
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "write this down")
        screen = main(app)
        await wait_for(pilot, lambda: parts_streamed(screen.app) > 5)
        disk.break_it(how)
        await wait_replies(pilot)
        await pilot.pause(0.8)  # a few retries fail too
        errors = [str(n.message) for n in app._notifications if n.severity == "error"]
        assert len(errors) == 1, errors  # told once, not once per checkpoint
        assert "Could not save 'write this down'" in errors[0] and "retried" in errors[0]
        view = screen.query(AssistantMessage).last()
        assert view.message.content == "".join(pieces)  # still on screen, whole
        on_disk = ConversationStore().load(screen.current.id).messages[-1]
        assert on_disk.finish_reason == "interrupted"  # the last good checkpoint
        disk.repair()
        await wait_for(pilot, lambda: any("after all" in str(n.message)
                                          for n in app._notifications), timeout=5)
    saved = ConversationStore().load(screen.current.id)
    assert [m.content for m in saved.messages] == ["write this down", "".join(pieces)]
    assert saved.messages[-1].finish_reason == "stop"
    assert not list(paths.conversations_dir().glob(".*.tmp"))


async def test_text_a_file_cannot_hold_is_reported_not_a_crash(isolated_home: Path,
                                                               fake_server: FakeServer) -> None:
    """A lone surrogate (what `surrogateescape` makes of bytes that are not UTF-8) can be
    neither sent nor stored: both say so in words; nothing crashes, nothing is half-written."""
    write_config(isolated_home, fake_server)
    app = make_app(probe_servers=())
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "bad \udcff text")
        await wait_replies(pilot)
        notes = [str(n.message) for n in app._notifications]
    assert app.return_code in (None, 0)
    assert not any("internal error" in n for n in notes), notes
    assert any("lone surrogate, which is not text a file can store" in n for n in notes), notes
    assert any("not valid Unicode" in n for n in notes), notes
    assert fake_server.requests == []
    assert not list(paths.conversations_dir().glob("*"))
    for args, stdin in ((["ask", "--base-url", fake_server.base_url, b"caf\xe9"], None),
                        (["ask", "--base-url", fake_server.base_url], b"caf\xe9")):
        done = subprocess.run([sys.executable, "-m", "llama_tui", *args], input=stdin,
                              capture_output=True, cwd=ROOT, env=child_env(isolated_home),
                              timeout=30)
        assert done.returncode == 2 and b"not UTF-8 text" in done.stderr, done.stderr


async def test_a_read_only_data_folder_at_start_is_reported_and_replies_still_work(
    isolated_home: Path, fake_server: FakeServer, disk: LimitedDisk
) -> None:
    disk.break_it("read-only")
    fake_server.enqueue(chat_stream(["answered anyway"]))
    write_config(isolated_home, fake_server)
    app = make_app(probe_servers=())
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "hello")
        await wait_replies(pilot)
        notes = [str(n.message) for n in app._notifications]
        assert main(app).current.messages[-1].content == "answered anyway"
    assert app.return_code in (None, 0)
    assert any("Could not save 'hello'" in n for n in notes), notes
    if disk.mounted:  # the folder itself could not be made: named
        assert any("conversations" in n and "cannot use this folder" in n for n in notes), notes


def test_two_app_instances_never_overwrite_each_other(isolated_home: Path,
                                                      fake_server: FakeServer) -> None:
    """Two real app processes on one data folder, both on conversation X: B adds a turn, then
    A (whose copy is now stale) sends: A writes a conflict copy and says so; B's turn stays."""
    from tests.reliability.harness import PtyApp

    for text in ("first-reply", "reply-to-b", "second-reply"):
        fake_server.enqueue(chat_stream([text]))
    write_config(isolated_home, fake_server)
    with PtyApp(isolated_home, size=(140, 40)) as a:
        a.wait_for(b"New conversation")
        a.send(b"first\r")
        a.wait_for(b"tokens", start=a.wait_for(b"first-reply"))
        with PtyApp(isolated_home, size=(140, 40)) as b:
            b.wait_for(b"New conversation")
            for key in (b"\x0c", b"\x1b[B", b"\r"):  # ctrl+l (the list), down, enter: open X
                b.send(key)
                time.sleep(0.4)
            b.wait_for(b"first-reply")
            b.send(b"from b\r")
            b.wait_for(b"tokens", start=b.wait_for(b"reply-to-b"))
            b.quit()
        mark = len(a.output)
        a.send(b"second\r")
        a.wait_for(b"second-reply", start=mark)
        a.wait_for(b".toml was changed by another", start=mark)  # the notification
        time.sleep(0.5)
        a.quit()
    convs = [ConversationStore().load(s.id) for s in ConversationStore().scan()[0]]
    by_title = {c.title: [m.content for m in c.messages] for c in convs}
    assert by_title == {
        "first": ["first", "first-reply", "from b", "reply-to-b"],
        "first (conflict copy)": ["first", "first-reply", "second", "second-reply"],
    }


async def test_a_save_cancelled_mid_write_is_not_a_conflict_with_the_next(
        isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Quitting (or escape) cancels a reply while its final save is still writing in a thread.
    The next save of that conversation must wait for that write, not run beside it: else the
    older write lands last (the newer text is lost) or our own file looks like another
    program's (a spurious conflict copy, seen when quitting right as a reply ended)."""
    import asyncio
    import threading

    app = make_app(probe_servers=())
    conv = Conversation(id="01SLOWSLOWSLOWSLOWSLOWSLOW", title="slow disk",
                        messages=[Message(Role.USER, "hello")])
    writing, release, written = threading.Event(), threading.Event(), threading.Event()
    real_write = ConversationStore._write

    def slow_write(store: ConversationStore, c: Conversation, path: Path, data: bytes) -> None:
        if not writing.is_set():  # only the first write is slow
            writing.set()
            release.wait(5)
            real_write(store, c, path, data)
            written.set()
            return
        real_write(store, c, path, data)

    monkeypatch.setattr(ConversationStore, "_write", slow_write)
    async with app.run_test(size=SIZE) as pilot:
        first = asyncio.create_task(app.services.save(conv))
        await asyncio.to_thread(writing.wait, 5)
        first.cancel()
        conv.messages.append(Message(Role.ASSISTANT, "the reply", finish_reason="stop"))
        second = asyncio.create_task(app.services.save(conv))
        await pilot.pause(0.1)
        release.set()
        await asyncio.wait([first, second], timeout=5)
        await asyncio.to_thread(written.wait, 5)  # the cancelled save's write is over too
        after_two = ConversationStore().load(conv.id)
        await app.services.save(conv)  # and a third save is no conflict either
        said = [str(n.message) for n in app._notifications]
    assert first.cancelled() and second.done() and second.exception() is None
    assert not any("changed by another program" in s for s in said), said
    files = sorted(paths.conversations_dir().glob("*.toml"))
    assert [f.name for f in files] == [f"{conv.id}.toml"]
    for saved in (after_two, ConversationStore().load(conv.id)):
        assert [m.content for m in saved.messages] == ["hello", "the reply"]
