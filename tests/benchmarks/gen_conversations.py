"""Write N realistic conversations (docs/design.md §4 TOML, through the real codec) for benchmarks.

    python tests/benchmarks/gen_conversations.py --home /tmp/llama-tui-10k --count 10000

2-60 messages each (user prompts of a sentence or a few; replies of a paragraph to a few
hundred words with Markdown lists and code), updated times spread over a year, a few pinned,
one 1,000-message conversation. Deterministic for a seed.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from llama_tui.model import Conversation, Message, Role, Stats
from llama_tui.storage import codec
from llama_tui.storage.atomic import atomic_write

WORDS = ("the a model stream token client server request response latency buffer render "
         "terminal widget table header event loop socket chunk retry timeout context prompt "
         "reply cache layout scroll cursor theme endpoint history session markdown output "
         "and of to in with for when while each every first then after quickly café naïve").split()
BASE = datetime(2026, 11, 1, tzinfo=UTC)
BIG_TITLE = "The 1,000-message conversation"


def sentence(rng: random.Random, lo: int, hi: int) -> str:
    words = rng.choices(WORDS, k=rng.randint(lo, hi))
    return " ".join(words).capitalize() + rng.choice([".", "?", "!"])


def reply(rng: random.Random) -> str:
    parts = [" ".join(sentence(rng, 6, 18) for _ in range(rng.randint(1, 5)))]
    if rng.random() < 0.4:
        parts.append("\n".join(f"- {sentence(rng, 3, 10)}" for _ in range(rng.randint(2, 6))))
    if rng.random() < 0.3:
        body = "\n".join(f"    value_{i} = compute({i})" for i in range(rng.randint(2, 12)))
        parts.append(f"```python\ndef handler():\n{body}\n```")
    if rng.random() < 0.3:
        parts.append(" ".join(sentence(rng, 8, 20) for _ in range(rng.randint(2, 8))))
    return "\n\n".join(parts)


def conversation(rng: random.Random, index: int, messages: int | None = None) -> Conversation:
    updated = BASE - timedelta(minutes=index * 50 + rng.randint(0, 40))
    conv = Conversation(title=sentence(rng, 3, 9).rstrip(".?!"), created_at=updated,
                        updated_at=updated, endpoint="azure-llama2-7b-chat",
                        system="You are a helpful assistant." if rng.random() < 0.5 else None,
                        pinned=rng.random() < 0.002)
    count = messages or rng.randint(1, 30) * 2
    for i in range(count):
        if i % 2 == 0:
            conv.messages.append(Message(Role.USER, sentence(rng, 4, 30), created_at=updated))
        else:
            conv.messages.append(Message(
                Role.ASSISTANT, reply(rng), created_at=updated, finish_reason="stop",
                stats=Stats(ttft_ms=rng.randint(80, 900), tokens=rng.randint(20, 600),
                            tokens_per_s=round(rng.uniform(15, 90), 1), request_id=f"req-{i}")))
    return conv


def generate(folder: Path, count: int, seed: int = 0) -> float:
    """Write `count` conversations (one of them with 1,000 messages); returns seconds taken."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for index in range(count):
        conv = conversation(rng, index, 1000 if index == count // 2 else None)
        if index == count // 2:
            conv.title = BIG_TITLE
        conv.id = f"{int(conv.created_at.timestamp()):010d}{index:06d}BENCH"
        path = folder / f"{conv.id}.toml"
        atomic_write(path, codec.dumps(conv).encode("utf-8"), mode=0o644)
        # As when llama-tui wrote it: the file was last written when it was last updated.
        stamp = conv.updated_at.timestamp()
        os.utime(path, (stamp, stamp))
    return time.perf_counter() - started


def ensure(home: Path, count: int, seed: int = 0) -> Path:
    """The conversations folder of `home`, generated once (reused when the count matches)."""
    folder = home / "data" / "conversations"
    marker = home / f".generated-{count}-{seed}-v2"
    if not marker.exists():
        for old in folder.glob("*.toml") if folder.exists() else ():
            old.unlink()
        generate(folder, count, seed)
        marker.write_text("ok")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "llama-tui-10k")
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    seconds = generate(args.home / "data" / "conversations", args.count, args.seed)
    print(f"wrote {args.count} conversations to {args.home}/data/conversations in {seconds:.1f} s")


if __name__ == "__main__":
    main()
