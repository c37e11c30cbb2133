"""A conversation writer to be killed: `python -m tests.reliability.writer DIR --kills N`.

This process imports the store once, then N times: forks a child that saves conversations
through `ConversationStore` in a tight loop, SIGKILLs it after a random 0-15 ms, and checks
every `*.toml` in DIR at once (before a later save could overwrite a torn file): it must parse
and be internally consistent (its title says how many messages of which generation it holds).
Prints one JSON line of counts. `--naive` writes in place instead (open, write in pieces), to
show that the check catches torn files.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import time
from pathlib import Path

from llama_tui.model import Conversation, Message, Role
from llama_tui.storage import codec
from llama_tui.storage.store import ConversationStore

IDS = [f"01KILLTEST{n:016d}" for n in range(6)]
_TITLE = re.compile(r"gen (\d+) of (\d+) messages")


def conversation(conv_id: str, generation: int, rng: random.Random) -> Conversation:
    count = rng.randint(1, 40)
    conv = Conversation(id=conv_id, title=f"gen {generation} of {count} messages")
    for i in range(count):
        role = Role.USER if i % 2 == 0 else Role.ASSISTANT
        conv.messages.append(Message(role, f"{conv_id} g{generation} m{i} " + "é🙂x" * (i * 7)))
    return conv


def child(directory: Path, naive: bool, seed: int) -> None:
    rng = random.Random(seed)
    store = ConversationStore(directory, directory / "index.json")
    generation = 0
    while True:
        generation += 1
        conv = conversation(rng.choice(IDS), generation, rng)
        if naive:
            data = codec.dumps(conv).encode("utf-8")
            with open(directory / f"{conv.id}.toml", "wb") as handle:
                for at in range(0, len(data), 512):
                    handle.write(data[at:at + 512])
                    handle.flush()
        else:
            # Each child is a new "instance": it has not read the files, so no conflict copies.
            store.save(conv)


def check(directory: Path) -> list[str]:
    """Every conversation file parses and is whole; returns what is wrong."""
    wrong = []
    store = ConversationStore(directory, directory / "index.json")
    for path in sorted(directory.glob("*.toml")):
        try:
            conv = store.load_path(path)
        except Exception as exc:
            wrong.append(f"{path.name}: {type(exc).__name__}: {exc}"[:300])
            continue
        match = _TITLE.fullmatch(conv.title)
        if match is None or len(conv.messages) != int(match[2]):
            wrong.append(f"{path.name}: torn: title {conv.title!r}, {len(conv.messages)} messages")
            continue
        generation = match[1]
        for i, message in enumerate(conv.messages):
            if not message.content.startswith(f"{conv.id} g{generation} m{i} "):
                wrong.append(f"{path.name}: message {i} from another write")
                break
    return wrong


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("directory", type=Path)
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-delay", type=float, default=0.015)
    parser.add_argument("--naive", action="store_true")
    args = parser.parse_args()
    args.directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    counts = {"kills": 0, "checks": 0, "wrong": 0, "kills_mid_write": 0, "files": 0,
              "examples": []}
    temps: set[Path] = set()
    for n in range(args.kills):
        pid = os.fork()
        if pid == 0:
            try:
                child(args.directory, args.naive, args.seed * 100_000 + n)
            finally:
                os._exit(0)
        time.sleep(rng.uniform(0.0, args.max_delay))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        counts["kills"] += 1
        now = set(args.directory.glob(".*.tmp"))
        counts["kills_mid_write"] += bool(now - temps)  # this kill left a temp file behind
        temps = now
        wrong = check(args.directory)
        counts["checks"] += 1
        counts["wrong"] += len(wrong)
        if wrong and len(counts["examples"]) < 5:
            counts["examples"].extend(wrong[:2])
    counts["files"] = len(list(args.directory.glob("*.toml")))
    print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    main()
