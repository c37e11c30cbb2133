"""Hostile conversation folders, with real files: ids that are paths or escapes, two files with
one id, FIFOs, devices, symlinks, huge files, folders named like files, and threads."""

from __future__ import annotations

import os
import stat
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from llama_tui.model import Message, Role
from llama_tui.storage import codec, ids
from llama_tui.storage.files import MAX_CONVERSATION_BYTES
from llama_tui.storage.store import StoreError
from tests.unit.test_store import T0, conv, new_store


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "conversations"
    path.mkdir(parents=True)
    return path


def write_raw(folder: Path, name: str, conv_id: str, title: str = "t") -> Path:
    """A hand-written file whose `id` is whatever the attacker chose."""
    c = conv("PLACEHOLDER", title=title)
    text = codec.dumps(c).replace('id = "PLACEHOLDER"', f"id = {_toml_str(conv_id)}")
    path = folder / name
    path.write_text(text, "utf-8")
    return path


def _toml_str(value: str) -> str:
    return '"' + "".join(c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}"
                         for c in value) + '"'


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


BAD_IDS = ["../../../../X", "..", "a/b", "/etc/passwd", "x\x00y", "x\ny", "\x1b]0;pwned\x07",
           "A" * 65, "", " ", "-rf", "a.b", "日本"]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_an_unsafe_id_takes_the_file_stem(folder: Path, bad: str) -> None:
    write_raw(folder, "evil.toml", bad)
    summaries, problems = new_store(folder).scan()
    assert problems == []
    assert [(s.id, s.path) for s in summaries] == [("evil", folder / "evil.toml")]
    s = new_store(folder)
    loaded = s.load("evil")
    assert loaded.id == "evil"
    loaded.messages.append(Message(Role.USER, "more", created_at=T0))
    assert s.save(loaded).path == folder / "evil.toml"
    assert [p.name for p in folder.iterdir()] == ["evil.toml"]
    assert codec.loads((folder / "evil.toml").read_text("utf-8")).id == "evil"


@pytest.mark.parametrize("bad", ["../../../../X", "x\x1b[2Jy"])
def test_an_unsafe_id_in_an_unsafe_name_is_skipped_with_a_problem(folder: Path, bad: str) -> None:
    write_raw(folder, "my conversation.toml", bad)
    summaries, problems = new_store(folder).scan()
    assert summaries == []
    assert [p.path.name for p in problems] == ["my conversation.toml"]
    assert "cannot be used" in problems[0].message and "\x1b" not in problems[0].message
    with pytest.raises(codec.CodecError, match="cannot be used"):
        new_store(folder).load_path(folder / "my conversation.toml")


def test_delete_and_restore_of_a_traversal_id_stay_in_the_folder(tmp_path: Path,
                                                                  folder: Path) -> None:
    write_raw(folder, "evil.toml", "../../../../X")
    s = new_store(folder)
    (summary,) = s.scan()[0]
    before = files_under(tmp_path)
    trashed = s.delete(summary.id)
    assert trashed.path.parent == s.trash_directory and trashed.name == "evil.toml"
    assert s.restore(trashed) == folder / "evil.toml"
    assert files_under(tmp_path) == before  # nothing planted four folders up
    assert s.load(summary.id).title == "t"


def test_restore_refuses_a_name_that_is_not_a_file_in_the_folder(folder: Path) -> None:
    s = new_store(folder)
    s.save(conv("A"))
    trashed = s.delete("A")
    for name in ("../A.toml", "/tmp/A.toml", "..", ".A.toml", "A.txt"):
        with pytest.raises(StoreError):
            s.restore(type(trashed)(trashed.path, name, "A"))
    assert trashed.path.exists()


def test_two_files_with_one_id_are_two_conversations(folder: Path) -> None:
    a = conv("A", 1, title="original")
    (folder / "A.toml").write_text(codec.dumps(a), "utf-8")
    b = conv("A", 2, title="sync conflict copy")
    copy_name = "A.sync-conflict-20261201-101010-XYZ.toml"
    (folder / copy_name).write_text(codec.dumps(b), "utf-8")
    s = new_store(folder)
    listed = {x.title: x for x in s.scan()[0]}
    assert listed["original"].id == "A"
    b_id = listed["sync conflict copy"].id
    assert b_id == "A-sync-conflict-20261201-101010-XYZ" and ids.is_safe_id(b_id)
    assert s.load(b_id).title == "sync conflict copy"  # opening B shows B
    assert s.load("A").title == "original"
    opened = s.load(b_id)
    opened.messages.append(Message(Role.USER, "sent in B", created_at=T0))
    assert s.save(opened).path == folder / copy_name  # saved to its own file
    again = new_store(folder).scan()[0]
    assert sorted(x.title for x in again) == ["original", "sync conflict copy"]
    assert new_store(folder).load("A").messages[-1].content == "answer"
    trashed = s.delete(b_id)  # `d` on B trashes B
    assert trashed.name == copy_name and (folder / "A.toml").exists()


def test_duplicate_ids_without_the_named_file_stay_distinct_and_stable(folder: Path) -> None:
    for name in ("Q.toml", "R.toml", "x y.toml", "x-y.toml"):
        write_raw(folder, name, "SAME", title=name)
    first = {x.path.name: x.id for x in new_store(folder).scan()[0]}
    assert len(set(first.values())) == 4
    assert first["Q.toml"] == "SAME" and first["R.toml"] == "R"
    assert first == {x.path.name: x.id for x in new_store(folder).scan()[0]}  # from the index
    s = new_store(folder)
    s.scan()
    for name, conv_id in first.items():
        assert s.load(conv_id).title == name


def test_a_new_conversation_never_overwrites_a_file_it_never_read(folder: Path) -> None:
    write_raw(folder, "01NEW.toml", "OTHER", title="someone else's")  # id OTHER, name 01NEW
    s = new_store(folder)
    s.scan()
    mine = conv("01NEW", title="mine")
    result = s.save(mine)
    assert result.conflict_with == "01NEW" and result.renamed_to is not None
    assert codec.loads((folder / "01NEW.toml").read_text("utf-8")).title == "someone else's"
    assert (folder / f"{result.renamed_to[0]}.toml").exists()


def test_another_instances_copy_of_the_same_conversation_may_be_replaced(folder: Path) -> None:
    write_raw(folder, "01SAME.toml", "01SAME", title="theirs")
    result = new_store(folder).save(conv("01SAME", title="mine"))  # never read it, same id
    assert result.conflict_with is None
    assert codec.loads((folder / "01SAME.toml").read_text("utf-8")).title == "mine"


def test_a_conversation_is_saved_to_its_own_file_after_a_rescan_moves_its_id(
        folder: Path) -> None:
    write_raw(folder, "Y.toml", "X", title="from Y")  # id X, and no X.toml: it keeps X
    s = new_store(folder)
    assert [(x.id, x.path.name) for x in s.scan()[0]] == [("X", "Y.toml")]
    mine = s.load("X")
    write_raw(folder, "X.toml", "X", title="a new X.toml")  # now the id belongs to X.toml
    assert {x.path.name: x.id for x in s.scan()[0]} == {"X.toml": "X", "Y.toml": "Y"}
    mine.messages.append(Message(Role.USER, "still mine", created_at=T0))
    assert s.save(mine).path == folder / "Y.toml"
    assert codec.loads((folder / "X.toml").read_text("utf-8")).title == "a new X.toml"
    assert codec.loads((folder / "Y.toml").read_text("utf-8")).messages[-1].content == \
        "still mine"


# -- files that are not conversation files -------------------------------------------------

def hostile_folder(folder: Path) -> dict[str, str]:
    """Every kind of non-file under a .toml name, and what its Problem says."""
    os.mkfifo(folder / "fifo.toml")
    (folder / "zero.toml").symlink_to("/dev/zero")
    (folder / "loop.toml").symlink_to(folder / "loop.toml")
    (folder / "dangling.toml").symlink_to(folder / "nowhere.toml")
    (folder / "dir.toml").mkdir()
    with (folder / "huge.toml").open("wb") as handle:
        handle.write(codec.dumps(conv("HUGE")).encode())
        handle.truncate(MAX_CONVERSATION_BYTES + 1)
    return {"fifo.toml": "FIFO", "zero.toml": "character device", "loop.toml": "symbolic",
            "dangling.toml": "does not exist", "dir.toml": "folder", "huge.toml": "too large"}


def test_fifos_devices_loops_folders_and_huge_files_are_problems(folder: Path) -> None:
    expected = hostile_folder(folder)
    new_store(folder).save(conv("GOOD"))
    result: list[object] = []
    worker = threading.Thread(target=lambda: result.append(new_store(folder).scan()),
                              daemon=True)
    worker.start()
    worker.join(timeout=30)  # a blocking open of the FIFO would never return
    assert not worker.is_alive(), "scan hung"
    summaries, problems = result[0]  # type: ignore[misc]
    assert [x.id for x in summaries] == ["GOOD"]
    said = {p.path.name: p.message for p in problems}
    assert set(said) == set(expected)
    for name, words in expected.items():
        assert words in said[name], (name, said[name])
    assert "MiB" in said["huge.toml"]


@pytest.mark.parametrize("name", ["fifo.toml", "zero.toml", "dir.toml", "huge.toml", "loop.toml"])
def test_opening_a_hostile_file_is_refused_quickly(folder: Path, name: str) -> None:
    hostile_folder(folder)
    with pytest.raises(StoreError) as caught:
        new_store(folder).load_path(folder / name)
    assert name in str(caught.value)


def test_search_skips_a_file_swapped_for_a_fifo(folder: Path) -> None:
    from llama_tui.search import search

    s = new_store(folder)
    s.save(conv("A"))
    summaries = s.scan()[0]
    (folder / "A.toml").unlink()
    os.mkfifo(folder / "A.toml")
    assert search(summaries, "question") == []


def test_a_symlinked_conversation_is_read_and_saved_through_its_link(tmp_path: Path,
                                                                     folder: Path) -> None:
    elsewhere = tmp_path / "synced" / "A.toml"
    elsewhere.parent.mkdir()
    elsewhere.write_text(codec.dumps(conv("A")), "utf-8")
    link = folder / "A.toml"
    link.symlink_to(elsewhere)
    s = new_store(folder)
    assert [x.id for x in s.scan()[0]] == ["A"]
    loaded = s.load("A")
    loaded.messages.append(Message(Role.USER, "through the link", created_at=T0))
    assert s.save(loaded).path == link
    assert link.is_symlink() and os.readlink(link) == str(elsewhere)
    assert codec.loads(elsewhere.read_text("utf-8")).messages[-1].content == "through the link"
    assert sorted(p.name for p in elsewhere.parent.iterdir()) == ["A.toml"]  # no temp left
    assert s.save(loaded).conflict_with is None


# -- permissions -----------------------------------------------------------------------------

def test_files_and_trash_are_private(folder: Path) -> None:
    s = new_store(folder)
    s.save(conv("A"))
    assert stat.S_IMODE((folder / "A.toml").stat().st_mode) & 0o077 == 0
    (folder / "B.toml").write_text(codec.dumps(conv("B")), "utf-8")
    os.chmod(folder / "B.toml", 0o644)  # written by another tool, readable by everybody
    s.scan()
    trashed = s.delete("B")
    assert stat.S_IMODE(trashed.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(s.trash_directory.stat().st_mode) & 0o077 == 0


# -- threads -----------------------------------------------------------------------------------

def test_scans_saves_and_loads_from_threads_at_once(folder: Path) -> None:
    s = new_store(folder)
    convs = [conv(f"T{i}", i) for i in range(8)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(convs) + 2)

    def saver(c: object) -> None:
        try:
            start.wait()
            for n in range(15):
                c.updated_at = T0 + timedelta(seconds=n)  # type: ignore[attr-defined]
                result = s.save(c)  # type: ignore[arg-type]
                assert result.conflict_with is None
                s.load(c.id)  # type: ignore[attr-defined]
        except BaseException as exc:
            errors.append(exc)

    def scanner() -> None:
        try:
            start.wait()
            for _ in range(15):
                s.scan()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=saver, args=(c,)) for c in convs]
    threads += [threading.Thread(target=scanner), threading.Thread(target=scanner)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads) and errors == []
    assert sorted(x.id for x in new_store(folder).scan()[0]) == sorted(c.id for c in convs)
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{c.id}.toml" for c in convs)


def test_save_never_changes_its_argument(folder: Path) -> None:
    s = new_store(folder)
    mine = conv("A", title="mine")
    s.save(mine)
    (folder / "A.toml").write_text(codec.dumps(conv("A", 5, title="theirs")), "utf-8")
    snapshot = codec.dumps(mine)
    result = s.save(mine)
    assert codec.dumps(mine) == snapshot
    assert result.conflict_with == "A"
    assert result.renamed_to is not None and result.renamed_to[1] == "mine (conflict copy)"
    assert result.path == folder / f"{result.renamed_to[0]}.toml"
