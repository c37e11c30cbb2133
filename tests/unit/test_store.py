"""The conversations folder: fast listing through the index, other writers, corrupt files, saving."""

from __future__ import annotations

import os
import stat
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from llama_tui.model import Conversation, Message, Role
from llama_tui.storage import codec, store
from llama_tui.storage.store import ConversationStore, Problem, StoreError

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "data" / "conversations"


def new_store(folder: Path) -> ConversationStore:
    return ConversationStore(directory=folder, index_path=folder.parent.parent / "state" / "index.json")


def conv(conv_id: str, minutes: int = 0, *, title: str | None = None, pinned: bool = False,
         system: str | None = None) -> Conversation:
    c = Conversation(id=conv_id, title=title if title is not None else f"title {conv_id}",
                     created_at=T0, updated_at=T0 + timedelta(minutes=minutes), pinned=pinned,
                     system=system)
    c.messages = [Message(Role.USER, f"question {conv_id}", created_at=T0),
                  Message(Role.ASSISTANT, "answer", created_at=T0, finish_reason="stop")]
    return c


def write_elsewhere(folder: Path, c: Conversation) -> Path:
    """What another program (or another llama-tui) does: write the file directly."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{c.id}.toml"
    path.write_text(codec.dumps(c), "utf-8")
    return path


class Reads:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.paths: list[str] = []
        real = store.read_summary

        def counting(path: Path) -> store.Summary:
            self.paths.append(path.name)
            return real(path)

        monkeypatch.setattr(store, "read_summary", counting)


def test_scan_pinned_first_then_newest(folder: Path) -> None:
    s = new_store(folder)
    for c in (conv("A", 1), conv("B", 3), conv("C", 2), conv("D", 0, pinned=True)):
        s.save(c)
    summaries, problems = new_store(folder).scan()
    assert problems == []
    assert [x.id for x in summaries] == ["D", "B", "C", "A"]
    b = summaries[1]
    assert (b.title, b.created_at, b.updated_at, b.path, b.mode, b.pinned) == (
        "title B", T0, T0 + timedelta(minutes=3), folder / "B.toml", "chat", False)
    assert new_store(folder).latest().id == "B"  # type: ignore[union-attr]


def test_second_scan_reads_no_file(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(5):
        write_elsewhere(folder, conv(f"C{i}", i))
    reads = Reads(monkeypatch)
    first, _ = new_store(folder).scan()
    assert sorted(reads.paths) == [f"C{i}.toml" for i in range(5)]
    reads.paths.clear()
    second, _ = new_store(folder).scan()  # a fresh process: only the index on disk helps
    assert reads.paths == []
    assert second == first


def test_scan_sees_what_other_programs_did(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(3):
        write_elsewhere(folder, conv(f"C{i}", i))
    s = new_store(folder)
    s.scan()
    reads = Reads(monkeypatch)
    write_elsewhere(folder, conv("C0", 10, title="renamed by another program"))
    write_elsewhere(folder, conv("NEW", 5))
    (folder / "C1.toml").unlink()
    summaries, problems = s.scan()
    assert problems == []
    assert sorted(reads.paths) == ["C0.toml", "NEW.toml"]
    assert [(x.id, x.title) for x in summaries] == [
        ("C0", "renamed by another program"), ("NEW", "title NEW"), ("C2", "title C2")]


def test_same_size_change_is_seen_through_mtime(folder: Path) -> None:
    path = write_elsewhere(folder, conv("A", title="aaaa"))
    s = new_store(folder)
    s.scan()
    st = path.stat()
    write_elsewhere(folder, conv("A", title="bbbb"))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert path.stat().st_size == st.st_size
    assert [x.title for x in s.scan()[0]] == ["bbbb"]


CORRUPT = {
    "invalid-toml": b'schema_version = 1\nid = "X"\ntitle = "unterminated\n\n[[messages]]\n',
    "latin-1": 'schema_version = 1\nid = "X"\ntitle = "Caf\xe9 cr\xe8me"\n\n[[messages]]\n'
               'role = "user"\ncontent = "hi"\n'.encode("latin-1"),
    "future-schema": b'schema_version = 7\nid = "X"\ntitle = "from the future"\n',
    "wrong-type": b'schema_version = 1\nid = "X"\ntitle = 5\n\n[[messages]]\nrole = "user"\n',
    "no-table": b"just some text\n",
}


@pytest.mark.parametrize("name", list(CORRUPT))
def test_corrupt_file_is_a_problem_and_left_alone(folder: Path, name: str) -> None:
    write_elsewhere(folder, conv("GOOD"))
    bad = folder / f"{name}.toml"
    bad.write_bytes(CORRUPT[name])
    before = bad.stat()
    s = new_store(folder)
    for _ in range(2):  # never cached as good
        summaries, problems = s.scan()
        assert [x.id for x in summaries] == ["GOOD"]
        assert problems == [Problem(bad, problems[0].message)]
        assert str(problems[0]).startswith(f"{name}.toml: ")
    assert bad.read_bytes() == CORRUPT[name]
    assert bad.stat().st_mtime_ns == before.st_mtime_ns
    with pytest.raises(codec.CodecError, match=f"^{name}.toml: "):
        s.load_path(bad)
    assert sorted(p.name for p in folder.iterdir()) == ["GOOD.toml", f"{name}.toml"]


def test_problem_messages_say_why(folder: Path) -> None:
    for name, data in CORRUPT.items():
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.toml").write_bytes(data)
    messages = {p.path.stem: p.message for p in new_store(folder).scan()[1]}
    assert "not valid TOML" in messages["invalid-toml"]
    assert "UTF-8" in messages["latin-1"]
    assert "newer" in messages["future-schema"]
    assert messages["wrong-type"].startswith("title:")


@pytest.mark.parametrize(
    ("title", "system"),
    [
        ("two\nlines [with] brackets", None),
        ("[INST] starts with a bracket", "Rules:\n[1] be kind\n[2] be brief\n[[messages]]\n"),
        ('quote " and \\ backslash', "x\r\n[crlf] line"),
    ],
)
def test_header_only_parse_with_tricky_titles(folder: Path, title: str, system: str | None) -> None:
    c = conv("T", title=title, system=system)
    path = write_elsewhere(folder, c)
    summary = store.read_summary(path)
    assert (summary.id, summary.title) == ("T", title)
    assert new_store(folder).load("T") == c


def test_header_only_parse_does_not_read_the_whole_file(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = conv("BIG", title="Big one")
    c.messages.append(Message(Role.USER, "x" * 100_000, created_at=T0))
    path = write_elsewhere(folder, c)

    def no_full_read(self: Path) -> bytes:
        raise AssertionError(f"{self} read in full")

    monkeypatch.setattr(Path, "read_bytes", no_full_read)
    assert store.read_summary(path).title == "Big one"


@pytest.mark.parametrize("pad", ["", "x"])
def test_header_longer_than_the_first_read_with_a_character_cut_in_two(folder: Path, pad: str) -> None:
    c = conv("LONG", title="long" + pad, system="é" * 9000)  # 18 kB of two-byte characters
    path = write_elsewhere(folder, c)
    assert store.read_summary(path).title == "long" + pad
    assert new_store(folder).scan() == ([store.read_summary(path)], [])


def test_save_is_atomic_and_loads_back(folder: Path) -> None:
    s = new_store(folder)
    c = conv("A")
    result = s.save(c)
    assert result.path == folder / "A.toml" and result.conflict_with is None
    assert [p.name for p in folder.iterdir()] == ["A.toml"]  # no temp file left behind
    assert stat.S_IMODE(result.path.stat().st_mode) & 0o077 == 0  # private: see test_files
    assert new_store(folder).load("A") == c
    c.messages.append(Message(Role.USER, "more", created_at=T0))
    assert s.save(c).conflict_with is None  # our own earlier write is no conflict
    assert new_store(folder).load("A").messages[-1].content == "more"
    assert [p.name for p in folder.iterdir()] == ["A.toml"]


def test_save_after_another_writer_makes_a_conflict_copy(folder: Path) -> None:
    s = new_store(folder)
    s.save(conv("A", title="mine"))
    mine = s.load("A")
    theirs = conv("A", 9, title="theirs, edited in another window")
    path = write_elsewhere(folder, theirs)
    their_bytes = path.read_bytes()

    mine.messages.append(Message(Role.USER, "my new question", created_at=T0))
    before = (mine.id, mine.title)
    result = s.save(mine)
    assert (mine.id, mine.title) == before  # save never changes its argument
    assert result.conflict_with == "A" and result.renamed_to is not None
    mine.id, mine.title = result.renamed_to  # the caller applies it, on its own thread
    assert mine.id != "A" and result.path == folder / f"{mine.id}.toml"
    assert mine.title == "mine (conflict copy)"
    assert path.read_bytes() == their_bytes
    copy = new_store(folder).load(mine.id)
    assert copy.messages[-1].content == "my new question"
    assert s.save(mine).conflict_with is None  # later saves go to the copy
    ids = {x.id for x in new_store(folder).scan()[0]}
    assert ids == {"A", mine.id}


def test_save_after_the_file_was_deleted_elsewhere_writes_it_back(folder: Path) -> None:
    s = new_store(folder)
    c = conv("A")
    s.save(c)
    (folder / "A.toml").unlink()
    assert s.save(c).conflict_with is None
    assert new_store(folder).load("A") == c


def test_delete_moves_to_trash(folder: Path) -> None:
    s = new_store(folder)
    s.save(conv("A"))
    s.save(conv("B"))
    data = (folder / "A.toml").read_bytes()
    target = s.delete("A").path
    assert target == folder.parent / "trash" / "A.toml"
    assert target.read_bytes() == data
    assert not (folder / "A.toml").exists()
    assert [x.id for x in s.scan()[0]] == ["B"]
    with pytest.raises(StoreError, match="gone"):
        s.load("A")


def test_scan_removes_only_stale_temp_files(folder: Path) -> None:
    folder.mkdir(parents=True)
    stale, fresh = folder / ".A.toml.x1.tmp", folder / ".B.toml.x2.tmp"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"being written")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    assert new_store(folder).scan() == ([], [])
    assert not stale.exists() and fresh.exists()


def test_a_broken_index_is_rebuilt(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_elsewhere(folder, conv("A"))
    s = new_store(folder)
    s.scan()
    s.index_path.write_text("{not json", "utf-8")
    reads = Reads(monkeypatch)
    assert [x.id for x in new_store(folder).scan()[0]] == ["A"]
    assert reads.paths == ["A.toml"]
    reads.paths.clear()
    new_store(folder).scan()
    assert reads.paths == []
