"""A hostile tester's conversation folder, through the real app and the real CLI: traversal ids
with delete and undo, sync-conflict copies sharing an id, FIFOs and /dev/zero under `.toml`
names, escape sequences in names, ids and titles, and file modes under the user's umask."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from llama_tui import paths
from llama_tui.export import slug
from llama_tui.model import Conversation, Message, Role
from llama_tui.storage import codec
from llama_tui.ui.app import make_app
from llama_tui.ui.widgets.conversation_list import ConversationList
from tests.fakeserver import FakeServer, chat_stream
from tests.reliability.harness import ROOT, child_env, write_config
from tests.ui.conftest import SIZE, main, type_and_send, wait_for, wait_replies


def conversation(conv_id: str, title: str) -> Conversation:
    return Conversation(id=conv_id, title=title, endpoint="fake", messages=[
        Message(Role.USER, f"question in {title}"),
        Message(Role.ASSISTANT, f"answer in {title}", finish_reason="stop")])


def write_with_id(path: Path, conv_id: str, title: str) -> Path:
    """A hand-written file: the `id` inside is whatever the attacker chose."""
    text = codec.dumps(conversation("PLACEHOLDER", title))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.replace('id = "PLACEHOLDER"', f"id = {json.dumps(conv_id)}"), "utf-8")
    return path


def sidebar_titles(app: object) -> list[str]:
    return [s.title for s in main(app).query_one(ConversationList).summaries]  # type: ignore[arg-type]


async def test_delete_then_undo_of_a_traversal_id_plants_nothing(isolated_home: Path,
                                                                  fake_server: FakeServer) -> None:
    folder = paths.conversations_dir()
    evil = write_with_id(folder / "evil.toml", "../../../../X", "Evil")
    data = evil.read_bytes()
    write_config(isolated_home, fake_server)
    app = make_app(probe_servers=())
    async with app.run_test(size=SIZE) as pilot:
        sidebar = main(app).query_one(ConversationList)
        await wait_for(pilot, lambda: "Evil" in sidebar_titles(app))
        sidebar.focus()
        sidebar.highlighted = sidebar_titles(app).index("Evil")
        await pilot.press("d")
        await wait_for(pilot, lambda: "Evil" not in sidebar_titles(app))
        assert not evil.exists()
        await pilot.press("ctrl+z")
        await wait_for(pilot, lambda: "Evil" in sidebar_titles(app))
    assert evil.read_bytes() == data  # back under the name it had, untouched
    for up in [folder, *folder.parents[:6]]:
        assert not (up / "X.toml").exists(), up


async def test_a_sync_conflict_copy_is_its_own_conversation(isolated_home: Path,
                                                             fake_server: FakeServer) -> None:
    folder = paths.conversations_dir()
    original = folder / "01SAMESAMESAMESAMESAMESAME.toml"
    copy = folder / "01SAMESAMESAMESAMESAMESAME.sync-conflict-20261201-101010.toml"
    write_with_id(original, "01SAMESAMESAMESAMESAMESAME", "Original")
    write_with_id(copy, "01SAMESAMESAMESAMESAMESAME", "Copy")
    original_bytes = original.read_bytes()
    fake_server.enqueue(chat_stream(["reply in the copy"]))
    write_config(isolated_home, fake_server)
    app = make_app(probe_servers=())
    async with app.run_test(size=SIZE) as pilot:
        screen = main(app)
        sidebar = screen.query_one(ConversationList)
        await wait_for(pilot, lambda: sorted(sidebar_titles(app)) == ["Copy", "Original"])
        copy_id = next(s.id for s in sidebar.summaries if s.title == "Copy")
        await screen.open_id(copy_id)
        assert screen.current is not None and screen.current.title == "Copy"  # B shows B
        await type_and_send(pilot, "sent in the copy")
        await wait_replies(pilot)
        await wait_for(pilot, lambda: sorted(sidebar_titles(app)) == ["Copy", "Original"])
    assert original.read_bytes() == original_bytes
    written = codec.loads(copy.read_text("utf-8"))
    assert [m.content for m in written.messages][-2:] == ["sent in the copy", "reply in the copy"]
    assert sorted(p.name for p in folder.glob("*.toml")) == sorted([original.name, copy.name])


def test_list_never_hangs_and_prints_no_escape(isolated_home: Path) -> None:
    folder = paths.conversations_dir()
    write_with_id(folder / "01GOODGOODGOODGOODGOODGOOD.toml", "01GOODGOODGOODGOODGOODGOOD",
                  "good \x1b]0;pwned\x07 title\x1b[2J")
    write_with_id(folder / "esc.toml", "\x1b[31mred", "id with an escape")
    write_with_id(folder / "bad\x1b[2Jname.toml", "\x1b]52;c;aGk=\x07", "skipped")
    os.mkfifo(folder / "fifo.toml")
    (folder / "zero.toml").symlink_to("/dev/zero")
    (folder / "dir.toml").mkdir()
    done = subprocess.run([sys.executable, "-m", "llama_tui", "list"], capture_output=True,
                          cwd=ROOT, env=child_env(isolated_home), timeout=60)
    out, err = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 0, err
    assert "\x1b" not in out and "\x1b" not in err and "\x07" not in out + err
    lines = out.splitlines()
    assert len(lines) == 2 and {line.split("\t")[0] for line in lines} == {
        "01GOODGOODGOODGOODGOODGOOD", "esc"}
    assert "good ␛]0;pwned␇ title␛[2J" in out
    for name in ("fifo.toml", "zero.toml", "dir.toml", "bad␛[2Jname.toml"):
        assert f"skipped {name}:" in err, err


@pytest.mark.parametrize("umask", [0o077, 0o022])
def test_conversations_exports_and_trash_are_private_under_any_umask(
        isolated_home: Path, umask: int) -> None:
    script = f"""
import json, os, stat
os.umask({umask:#o})
from pathlib import Path
from llama_tui import paths
from llama_tui.export import write_exports
from llama_tui.model import Conversation, Message, Role
from llama_tui.storage.store import ConversationStore
store = ConversationStore()
conv = Conversation(title="日本語の質問 / 답변", messages=[Message(Role.USER, "secret")])
path = store.save(conv).path
base = write_exports(conv, paths.data_dir() / "exports")
other = Conversation(title="to delete")
store.save(other)
trashed = store.delete(other.id)
mode = lambda p: stat.S_IMODE(os.stat(p).st_mode)
print(json.dumps({{"conv": mode(path), "md": mode(str(base) + ".md"),
                  "json": mode(str(base) + ".json"), "trashed": mode(trashed.path),
                  "trash": mode(trashed.path.parent), "name": base.name}}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=ROOT, env=child_env(isolated_home), timeout=60)
    assert done.returncode == 0, done.stderr
    modes = json.loads(done.stdout)
    name = modes.pop("name")
    assert name.startswith("日本語の質問-답변-")
    assert modes.pop("trash") & 0o077 == 0
    assert modes == {"conv": 0o600, "md": 0o600, "json": 0o600, "trashed": 0o600}


def test_a_read_only_folder_is_reported_and_nothing_is_written(isolated_home: Path) -> None:
    from llama_tui.storage.store import ConversationStore

    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    folder = paths.conversations_dir()
    write_with_id(folder / "A.toml", "A", "read only")
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        store = ConversationStore()
        assert [s.id for s in store.scan()[0]] == ["A"]
        conv = store.load("A")
        with pytest.raises(PermissionError):
            store.save(conv)
        assert sorted(p.name for p in folder.iterdir()) == ["A.toml"]
    finally:
        folder.chmod(0o700)


@pytest.mark.parametrize(("title", "expected"), [
    ("日本語の質問", "日本語の質問"), ("Привет, мир!", "привет-мир"), ("हिन्दी भाषा", "हिन्दी-भाषा"),
    ("../../etc/passwd", "etc-passwd"), ("a\x1b[31mb\x00c", "a-31mb-c"), ("", "conversation"),
    ("...", "conversation"), ("CON:<>|?*\"", "con"),
])
def test_export_names_keep_letters_of_any_script(title: str, expected: str) -> None:
    assert slug(title) == expected
    assert len(slug("語" * 200).encode()) <= 96
