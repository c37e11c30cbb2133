"""The benchmark stream: a fake OpenAI-compatible server in its own process that notes when it
put each content event on the socket.

    python tests/benchmarks/streamserver.py [--tokens 4000] [--rate 0|100] [--pause 0.5]

Prints `PORT <n>` once listening, then one JSON line per streamed reply:
`{"sent": [t0, t1, ...], "end": t}` with `time.monotonic()` stamps (CLOCK_MONOTONIC, the
same clock in every process on the machine) of the write of each content event.

The reply is `markdown_reply(tokens)` (tests/fakeserver): headings, lists, fenced code, a
table, quotes. The leading pieces up to the first letter ("#", " ", "Quic") travel as one
event so that the first event has visible text; then the server pauses `--pause` seconds (the client
is idle when the first event arrives, which is what "first character" latency measures),
then sends the rest, one SSE event per piece, as fast as the socket takes them (`--rate 0`)
or paced to `--rate` events per second on a fixed schedule (no drift), or in bursts of
`--burst` events at full speed, `--gap` seconds apart.

Every chat POST gets the same reply, so every client sees byte-identical streams. A separate
process keeps the server's work off the measuring process's GIL.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.fakeserver import FakeServer, Response, Send, Sleep, chat_stream  # noqa: E402
from tests.fakeserver.markdown import markdown_reply  # noqa: E402


def reply_pieces(tokens: int, seed: int = 0) -> list[str]:
    """The content events of the benchmark reply: the pieces of `markdown_reply`, except that
    the leading pieces up to the first letter travel as one event ("# Quic")."""
    pieces = markdown_reply(tokens, seed)
    first = 1
    while not any(c.isalnum() for c in "".join(pieces[:first])):
        first += 1
    return ["".join(pieces[:first]), *pieces[first:]]


def build_response(pieces: list[str], rate: float, pause: float, burst: int = 0,
                   gap: float = 1.5) -> Response:
    """One SSE event per piece; `Sleep(pause)` after the first content event, then pacing
    (`rate`), or bursts of `burst` events at full speed `gap` seconds apart."""
    stream = chat_stream(pieces, model="fake-model")
    sends = [step for step in stream.steps if isinstance(step, Send)]
    # sends: role chunk, one per piece, finish chunk, [DONE]
    head, contents, tail = sends[0], sends[1 : 1 + len(pieces)], sends[1 + len(pieces) :]
    # As OpenAI does: the role chunk carries `"content": ""` (Elia stops at a null content).
    head = Send(head.data.replace(b'{"role":"assistant"}', b'{"role":"assistant","content":""}'))
    steps: list[Any] = [head, Sleep(0.05), contents[0], Sleep(pause)]
    interval = 1.0 / rate if rate > 0 else 0.0
    for i, send in enumerate(contents[1:]):
        if interval and i:
            steps.append(Sleep(interval))
        elif burst and i and i % burst == 0:
            steps.append(Sleep(gap))
        steps.append(send)
    steps += tail
    return Response(headers=stream.headers, steps=steps)


class TimedServer(FakeServer):
    """Stamps the write of every content event; paces Sleeps against a fixed schedule."""

    def __init__(self, response: Response, n_contents: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.default = lambda request: response
        self._contents = {id(s) for s in response.steps if isinstance(s, Send)}
        self._n = n_contents
        self._sent: list[float] = []
        self._schedule: float | None = None

    async def _respond(self, reader: Any, writer: Any, request: Any, response: Response) -> bool:
        self._sent = []
        self._schedule = None
        keep = await super()._respond(reader, writer, request, response)
        if request.method == "POST":
            print(json.dumps({"sent": self._sent, "end": time.monotonic()}), flush=True)
        return keep

    async def _write(self, reader: Any, writer: Any, data: bytes) -> None:
        await super()._write(reader, writer, data)
        if b'"content":"' in data and b'"content":""' not in data:  # text (in chunked framing)
            self._sent.append(time.monotonic())

    async def _sleep(self, reader: Any, writer: Any, seconds: float) -> None:
        now = time.monotonic()
        if self._schedule is None or seconds >= 0.05:
            self._schedule = now  # a deliberate pause restarts the schedule
        self._schedule += seconds
        await super()._sleep(reader, writer, max(0.0, self._schedule - now))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tokens", type=int, default=4000)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--pause", type=float, default=0.5)
    parser.add_argument("--burst", type=int, default=0, help="events per burst (0: no bursts)")
    parser.add_argument("--gap", type=float, default=1.5, help="seconds between bursts")
    args = parser.parse_args(argv)
    pieces = reply_pieces(args.tokens)
    server = TimedServer(build_response(pieces, args.rate, args.pause, args.burst, args.gap), len(pieces),
                         port=args.port)
    server.start()
    print(f"PORT {server.port}", flush=True)
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    try:
        while not stopping.wait(0.2):
            pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
