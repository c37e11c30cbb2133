"""A reasoning reply in the app: CPU per token of the thinking block against the answer's.

    .venv/bin/python tests/benchmarks/bench_thinking.py [--tokens 2000] [--rate 200] [--runs 3]

The real app, headless (120x36), against the fake server on a real socket: a reply whose
first `--tokens` pieces are thinking (`delta.reasoning_content`) and whose next `--tokens`
pieces are the answer, paced at `--rate` pieces per second (a fast local server). The
process CPU time is read when the first thinking arrives, when the first answer piece
arrives and when the reply ends: CPU per token of each phase (client, engine, widgets,
frames: everything the app does per token), and the share of a core. Median of `--runs`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def pieces(count: int, word: str) -> list[str]:
    text = "the model weighs one idea then another and checks the sum again".split()
    return [f"{text[i % len(text)]}{'.' if i % 17 == 16 else ''}"
            f"{chr(10) if i % 40 == 39 else ' '}" if word == "think" else
            f"{text[i % len(text)]}{chr(10) + chr(10) if i % 60 == 59 else ' '}"
            for i in range(count)]


async def one_run(count: int, rate: float) -> tuple[float, float]:
    import os

    os.environ["LLAMA_TUI_HOME"] = tempfile.mkdtemp(prefix="bench-thinking-")
    from llama_tui.reply import ReasoningGrew, ReplyEnded, TextGrew
    from llama_tui.ui.app import make_app
    from tests.fakeserver import FakeServer
    from tests.fakeserver.scripts import reasoning_stream
    from tests.ui.conftest import type_and_send, write_config

    marks: dict[str, float] = {}
    with FakeServer() as server:
        server.enqueue(reasoning_stream(pieces(count, "think"), pieces(count, "answer"),
                                        delay=1 / rate))
        write_config(server)
        app = make_app(probe_servers=())

        def on_event(event: object) -> None:
            now = time.process_time()
            if isinstance(event, ReasoningGrew):
                marks.setdefault("think", now)
            elif isinstance(event, TextGrew):
                marks.setdefault("answer", now)
            elif isinstance(event, ReplyEnded):
                marks.setdefault("end", now)

        async with app.run_test(size=(120, 36)) as pilot:
            app.services.engine.subscribe(on_event)
            await type_and_send(pilot, "Think, then answer")
            while "end" not in marks:
                await pilot.pause(0.05)
            await pilot.pause(0.3)
    thinking = (marks["answer"] - marks["think"]) / count * 1000
    answer = (marks["end"] - marks["answer"]) / count * 1000
    return thinking, answer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results = [asyncio.run(one_run(args.tokens, args.rate)) for _ in range(args.runs)]
    thinking = statistics.median(r[0] for r in results)
    answer = statistics.median(r[1] for r in results)
    print(f"{args.tokens} thinking then {args.tokens} answer tokens at {args.rate:g}/s, "
          f"median of {args.runs}")
    print(f"  thinking block  {thinking:6.3f} ms CPU per token  "
          f"({thinking * args.rate / 10:4.1f} % of a core)")
    print(f"  answer          {answer:6.3f} ms CPU per token  "
          f"({answer * args.rate / 10:4.1f} % of a core)")


if __name__ == "__main__":
    main()
