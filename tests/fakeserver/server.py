"""A scripted, OpenAI-compatible fake HTTP/1.1 server on a real socket.

Built on plain ``asyncio.start_server`` with hand-written HTTP so that tests
control every byte and every chunk boundary the client sees.  The server runs
its own event loop in a daemon thread, so it can be used from sync tests, from
CLI subprocess tests and from async (Textual ``run_test``) tests alike.
"""

from __future__ import annotations

import asyncio
import collections
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import http11


@dataclass
class Send:
    """Write ``data`` as one socket write (one HTTP chunk when chunked), then drain."""

    data: bytes


@dataclass
class Sleep:
    """Pause the response for ``seconds`` (slow streams, stalls); interrupted by ``stop()``."""

    seconds: float


@dataclass
class Repeat:
    """Write ``data`` ``times`` times (``None``: until the client hangs up), ``pause`` seconds
    apart: an endless body, a flood, a slow drip. Each write is one HTTP chunk when chunked."""

    data: bytes
    times: int | None = None
    pause: float = 0.0


@dataclass
class Close:
    """Abort the connection at this point: no chunked terminator, no flush of later steps."""


Step = Send | Sleep | Repeat | Close


@dataclass
class Response:
    """One scripted HTTP response.

    With ``chunked=True`` each ``Send`` becomes exactly one HTTP chunk; with
    ``chunked=False`` a ``Content-Length`` of all ``Send`` data is announced
    (even data after a ``Close``, so a ``Close`` truncates the body).  Headers
    given here override the computed ones (``date``, framing, ``connection``).
    ``head_delay`` holds back the status line too (a server slow to answer at all).
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    chunked: bool = True
    reason: str | None = None
    head_delay: float = 0.0


@dataclass
class ReceivedRequest:
    """A request as the server received it (header names lower-cased)."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """Decode the body as JSON."""
        return json.loads(self.body)


Handler = Response | Callable[[ReceivedRequest], Response]
Reader = asyncio.StreamReader
Writer = asyncio.StreamWriter

MODELS_BODY = {"object": "list", "data": [{"id": "fake-model", "object": "model"}]}
_POLL = 0.02  # how often a Sleep step checks whether the client went away


class _ClientGone(Exception):
    """The client closed the connection while we were still responding."""


def _json_response(obj: Any, status: int = 200) -> Response:
    data = json.dumps(obj).encode()
    return Response(status, {"content-type": "application/json"}, [Send(data)], chunked=False)


def _length(steps: list[Step]) -> int:
    """The Content-Length of a response that is not chunked."""
    total = 0
    for step in steps:
        if isinstance(step, Send):
            total += len(step.data)
        elif isinstance(step, Repeat):
            if step.times is None:
                raise ValueError("an endless Repeat needs chunked=True")
            total += len(step.data) * step.times
    return total


def _no_script(request: ReceivedRequest) -> Response:
    message = f"fake server: no scripted response for {request.method} {request.path}"
    return _json_response({"error": {"message": message, "type": "fake_server"}}, 500)


class FakeServer:
    """Replays scripted ``Response`` objects to whoever connects.

    Lookup order per request: ``route()`` entries (including the built-in
    ``GET /v1/models`` and ``GET /models``), then the FIFO ``enqueue()`` queue,
    then ``default`` (a callable gets the request), else a 500 JSON error.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, default: Handler | None = None):
        self.host = host
        self.port = port
        self.default = default
        self.requests: list[ReceivedRequest] = []
        self.connections_closed_by_client = 0
        models = _json_response(MODELS_BODY)
        self._routes: dict[tuple[str, str], Handler] = {
            ("GET", "/v1/models"): models,
            ("GET", "/models"): models,
        }
        self._queue: collections.deque[Response] = collections.deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- public API ---------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Origin of the server, e.g. ``http://127.0.0.1:54321`` (no ``/v1``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def url(self, path: str) -> str:
        """Absolute URL for ``path`` on this server."""
        return self.base_url + ("" if path.startswith("/") else "/") + path

    def enqueue(self, *responses: Response) -> None:
        """Queue responses; each request (other than routed ones) takes the next."""
        with self._cond:
            self._queue.extend(responses)

    def route(self, method: str, path: str, response: Handler) -> None:
        """Answer every ``method path`` request with ``response`` (before the queue)."""
        with self._cond:
            self._routes[(method.upper(), path)] = response

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> list[ReceivedRequest]:
        """Block until at least ``n`` requests arrived; return a copy of all of them."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.requests) >= n, timeout):
                raise TimeoutError(f"expected {n} requests, got {len(self.requests)}")
            return list(self.requests)

    def start(self) -> FakeServer:
        """Bind the socket and start serving in a daemon thread."""
        if self._thread is not None:
            raise RuntimeError("FakeServer already started")
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name="FakeServer", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            self._thread.join(1)
            raise self._error
        return self

    def stop(self) -> None:
        """Abort all connections (even stalled streams) and stop the loop thread."""
        loop, event, thread = self._loop, self._stop_event, self._thread
        if thread is None:
            return
        if loop is not None and event is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # loop already closed
                pass
        thread.join(2)
        self._thread = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- loop thread --------------------------------------------------------

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to start() if it happened during bind
            if not self._ready.is_set():
                self._error = exc
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        await self._stop_event.wait()
        server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=0.5)

    def _pick(self, request: ReceivedRequest) -> Response:
        with self._cond:
            handler = self._routes.get((request.method, request.path))
            if handler is None and self._queue:
                handler = self._queue.popleft()
        if handler is None:
            handler = self.default if self.default is not None else _no_script
        if isinstance(handler, Response):
            return handler
        try:
            return handler(request)
        except Exception as exc:  # a broken script must not kill the connection silently
            return _json_response({"error": {"message": f"fake server handler: {exc!r}"}}, 500)

    async def _handle(self, reader: Reader, writer: Writer) -> None:
        """Serve requests on one connection until it closes (keep-alive aware)."""
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            while True:
                parsed = await http11.read_request(reader)
                if parsed is None:
                    break
                method, target, headers, body = parsed
                path, _, query = target.partition("?")
                request = ReceivedRequest(method, path, query, headers, body)
                with self._cond:
                    self.requests.append(request)
                    self._cond.notify_all()
                keep_alive = await self._respond(reader, writer, request, self._pick(request))
                if not keep_alive:
                    break
        except _ClientGone:
            with self._cond:
                self.connections_closed_by_client += 1
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        except (ValueError, asyncio.LimitOverrunError):
            writer.write(http11.BAD_REQUEST)
        finally:
            writer.transport.abort()
            self._writers.discard(writer)
            self._tasks.discard(task)

    async def _respond(
        self, reader: Reader, writer: Writer, request: ReceivedRequest, response: Response
    ) -> bool:
        """Play ``response``; return whether the connection may be reused."""
        if response.head_delay > 0:
            await self._sleep(reader, writer, response.head_delay)
        aborts = any(isinstance(step, Close) for step in response.steps)
        keep_alive = not aborts and request.headers.get("connection", "").lower() != "close"
        length = None
        if not response.chunked:
            length = _length(response.steps)
        head = http11.response_head(
            response.status, response.reason, response.headers,
            content_length=length, keep_alive=keep_alive,
        )
        await self._write(reader, writer, head)
        for step in response.steps:
            if isinstance(step, Close):
                writer.transport.abort()
                return False
            if isinstance(step, Sleep):
                await self._sleep(reader, writer, step.seconds)
            elif isinstance(step, Repeat):
                await self._repeat(reader, writer, step, response.chunked)
            elif step.data:
                data = step.data
                if response.chunked:
                    data = http11.chunk(data)
                await self._write(reader, writer, data)
        if response.chunked:
            await self._write(reader, writer, http11.LAST_CHUNK)
        return keep_alive

    async def _repeat(self, reader: Reader, writer: Writer, step: Repeat, chunked: bool) -> None:
        data = http11.chunk(step.data) if chunked else step.data
        done = 0
        while step.times is None or done < step.times:
            if step.pause and done:
                await self._sleep(reader, writer, step.pause)
            await self._write(reader, writer, data)
            done += 1

    @staticmethod
    def _client_gone(reader: Reader, writer: Writer) -> bool:
        return reader.at_eof() or writer.transport.is_closing()

    async def _write(self, reader: Reader, writer: Writer, data: bytes) -> None:
        if self._client_gone(reader, writer):
            raise _ClientGone
        try:
            writer.write(data)
            await writer.drain()
        except ConnectionError as exc:
            raise _ClientGone from exc

    async def _sleep(self, reader: Reader, writer: Writer, seconds: float) -> None:
        """Sleep, but notice promptly when the client hangs up meanwhile."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (left := deadline - loop.time()) > 0:
            if self._client_gone(reader, writer):
                raise _ClientGone
            await asyncio.sleep(min(_POLL, left))
