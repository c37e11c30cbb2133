"""Nothing lost: a conversation file is never half-written. A writer process saving through
`ConversationStore` is SIGKILLed at random moments 200 times; after every kill every file
parses and is whole. Temp files are only of the `.<name>.<pid>.<random>.tmp` kind, and the
next scan removes those of dead writers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from llama_tui.storage.store import ConversationStore
from tests.reliability.harness import ROOT


def run_writer(directory: Path, *args: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-m", "tests.reliability.writer", str(directory),
                           *args], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_200_kills_mid_save_leave_every_file_whole(tmp_path: Path) -> None:
    folder = tmp_path / "conversations"
    counts = run_writer(folder, "--kills", "200", "--seed", "7")
    assert counts["kills"] == 200 and counts["checks"] == 200
    assert counts["wrong"] == 0, counts["examples"]
    assert counts["files"] >= 1
    # The kills really landed mid-write: many left their temp file behind.
    assert counts["kills_mid_write"] >= 20, counts
    leftovers = [p.name for p in folder.iterdir() if not p.name.endswith(".toml")]
    assert leftovers and all(n.startswith(".") and n.endswith(".tmp") for n in leftovers)
    summaries, problems = ConversationStore(folder, tmp_path / "index.json").scan()
    assert problems == [] and len(summaries) == counts["files"]
    assert [p.name for p in folder.iterdir() if not p.name.endswith(".toml")] == []


def test_the_check_catches_a_writer_that_writes_in_place(tmp_path: Path) -> None:
    """The same kills against open-write-in-place tear files, so the test above has teeth."""
    counts = run_writer(tmp_path / "conversations", "--kills", "100", "--seed", "7", "--naive")
    assert counts["wrong"] > 0, counts


def test_normal_use_leaves_no_temp_files(tmp_path: Path) -> None:
    from llama_tui.model import Conversation, Message, Role

    folder = tmp_path / "conversations"
    store = ConversationStore(folder, tmp_path / "index.json")
    conv = Conversation(title="t")
    for i in range(30):
        conv.add(Message(Role.USER, f"m{i}"))
        store.save(conv)
    store.scan()
    assert sorted(p.name for p in folder.iterdir()) == [f"{conv.id}.toml"]


def test_scan_keeps_a_live_writers_temp_file_and_removes_a_dead_ones(tmp_path: Path) -> None:
    folder = tmp_path / "conversations"
    folder.mkdir()
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # a pid that is gone now
    live = folder / f".A.toml.{os.getpid()}.abc123.tmp"  # this process: maybe mid-write
    dead = folder / f".B.toml.{child.pid}.def456.tmp"
    for path in (live, dead):
        path.write_bytes(b"half a conversa")
    ConversationStore(folder, tmp_path / "index.json").scan()
    assert live.exists() and not dead.exists()
