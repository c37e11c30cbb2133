"""The async streaming client: httpx plumbing, SSE decoding, retries, timeouts, redirects.

`Client.stream()` turns one `GenerationRequest` into `StreamEvent`s (docs/design.md §3). It knows
nothing about conversations or files; its callers (the CLI, the app's worker) do.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import re
import ssl
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from llama_tui.client.body import (
    ACCEPT_ENCODING,
    MAX_BODY_BYTES,
    MAX_STREAM_BYTES,
    BadEncoding,
    BodyError,
    BodyTooLarge,
    counted,
    read_capped,
    size_text,
)
from llama_tui.client.dialects import (
    GenerationRequest,
    auth_headers,
    build_payload,
    error_from_body,
    models_url,
    request_id_of,
    resolve_url,
)
from llama_tui.client.events import (
    ApiError,
    ConnectionFailed,
    EmptyStream,
    EndpointError,
    Finished,
    ModelInfo,
    ProtocolError,
    ReasoningDelta,
    ResponseStarted,
    StreamEvent,
    StreamTimeout,
    TextDelta,
    TooLarge,
    TruncatedStream,
    excerpt,
    hide_secret_at_end,
    hide_secrets,
)
from llama_tui.client.negotiate import learn_from_error, parse_models
from llama_tui.client.reply_parts import ReplyState
from llama_tui.client.sse_decode import EventTooLarge, ServerSentEvent, SSEDecoder
from llama_tui.model import Endpoint
from llama_tui.sanitize import sanitize

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
#: A server asking us to wait longer than this gets its error shown instead of a frozen UI.
MAX_RETRY_WAIT = 20.0
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass
class Reply:
    """A whole reply, collected by `Client.complete()`."""

    text: str
    finished: Finished
    started: ResponseStarted
    #: A reasoning model's thinking, apart from `text`.
    reasoning: str = ""


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()


def _tls(verify: bool | str) -> bool | ssl.SSLContext:
    """httpx's `verify`: True (the system's CAs via certifi), False (`insecure = true`), or a
    context trusting the PEM bundle at `verify` (`ca_bundle`). Raises OSError / SSLError."""
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    return verify


class Client:
    """Streams chat and text completions from one endpoint.

    Use as `async with Client(endpoint) as client:`; `transport` is for tests.

    `learned` holds what the client found out about the server from its refusals, so later
    requests do not repeat them (the app may save it with the endpoint):
    `"max_tokens_field"`: `"max_tokens"` or `"max_completion_tokens"`, the field it accepts;
    `"stream_options"`: False when it refused `stream_options` (no usage chunk then).
    Pass a saved one back as `learned=`.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        learned: Mapping[str, Any] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.learned: dict[str, Any] = dict(learned or {})
        self._sleep = sleep
        #: A setup problem (an unreadable CA bundle, a URL or proxy httpx refuses) reported as
        #: an `ApiError` by the first request: constructing a client never raises.
        self._setup_error: ApiError | None = None
        try:
            verify = _tls(endpoint.verify)
        except (OSError, ssl.SSLError) as exc:
            verify = True
            self._setup_error = ConnectionFailed(
                f"cannot use the CA bundle {endpoint.verify} of endpoint {endpoint.name!r}: "
                f"{getattr(exc, 'strerror', None) or exc}")
        timeout = httpx.Timeout(
            connect=endpoint.connect_timeout,
            read=endpoint.read_timeout,
            write=max(endpoint.connect_timeout, 30.0),
            pool=endpoint.connect_timeout,
        )
        try:
            self._http = httpx.AsyncClient(
                timeout=timeout, verify=verify, transport=transport, follow_redirects=False
            )
        except (ImportError, ValueError, TypeError, OSError, httpx.InvalidURL) as exc:
            # httpx reads the environment here: ALL_PROXY=socks5://... without socksio is an
            # ImportError, a proxy URL it cannot parse an InvalidURL or ValueError, a missing
            # SSL_CERT_FILE an OSError. All of them the user's setup, none worth a traceback.
            self._setup_error = EndpointError(
                f"cannot set up HTTP for endpoint {endpoint.name!r}: "
                f"{_hide_userinfo(_reason(exc))} (httpx reads *_PROXY and SSL_CERT_* from "
                f"the environment)")
            self._http = httpx.AsyncClient(trust_env=False, transport=transport)

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- public API -------------------------------------------------------------------------

    async def stream(self, request: GenerationRequest) -> AsyncIterator[StreamEvent]:
        """Yield `ResponseStarted`, then `ReasoningDelta`s and `TextDelta`s, then one
        `Finished`; raise `ApiError`s (events.py says how to consume them).

        Retries happen only before the response starts, so never after a token was shown.
        Closing the iterator (or cancelling its task) closes the HTTP response. Errors never
        hold the key, even when the server (or a library) repeats it.
        """
        response: httpx.Response | None = None
        try:
            started, response, reader = await self._open(request)
            yield started
            # The reader's events are passed straight on: each generator between the network
            # and the caller costs every event a hop (thousands a second at full speed).
            async with contextlib.aclosing(reader):
                async for event in reader:
                    yield event
        except ApiError as exc:
            raise exc.hide(self._secrets()) from None
        finally:
            if response is not None:
                await response.aclose()

    def _secrets(self) -> list[str]:
        return self.endpoint.secrets()

    async def _open(self, request: GenerationRequest
                    ) -> tuple[ResponseStarted, httpx.Response, AsyncGenerator[StreamEvent, None]]:
        """Send (with retries); the response, its `ResponseStarted` and the reader of its body."""
        if self._setup_error is not None:
            raise self._setup_error
        url = _checked_url(self.endpoint, lambda: resolve_url(self.endpoint.url, request.mode))
        accept = "text/event-stream" if request.stream else "application/json"
        headers = {"Accept": accept, "Accept-Encoding": ACCEPT_ENCODING,
                   **auth_headers(self.endpoint)}
        sent_at, response, body = await self._send_adapting(url, request, headers)
        # Sanitised: header values reach the request inspector and error lines on a terminal.
        secrets = self._secrets()
        resp_headers = {k.lower(): hide_secrets(sanitize(v), secrets)
                        for k, v in response.headers.items()}
        started = ResponseStarted(
            status=response.status_code,
            headers=resp_headers,
            request_id=request_id_of(resp_headers),
            url=str(response.url),
            body=body,
        )
        content_type = resp_headers.get("content-type", "").lower()
        if "text/event-stream" in content_type:
            reader = self._read_sse(response, started, sent_at, secrets)
        elif "json" in content_type:
            reader = self._read_json(response, started, sent_at)
        else:
            reader = self._read_unexpected(response, started, content_type)
        return started, response, reader

    async def _read_unexpected(
        self, response: httpx.Response, started: ResponseStarted, content_type: str
    ) -> AsyncGenerator[StreamEvent, None]:
        text = await self._error_text(response)
        raise ProtocolError(
            f"unexpected content type {content_type or '(none)'}: "
            f"{error_from_body(None, text, started.headers, secrets=self._secrets()).message}",
            **_ids(started),
        )
        yield  # an async generator, like the other readers

    async def complete(self, request: GenerationRequest) -> Reply:
        """The whole reply at once (streamed underneath unless `request.stream` is False)."""
        parts: list[str] = []
        thinking: list[str] = []
        started: ResponseStarted | None = None
        async for event in self.stream(request):
            if isinstance(event, ResponseStarted):
                started = event
            elif isinstance(event, TextDelta):
                parts.append(event.text)
            elif isinstance(event, ReasoningDelta):
                thinking.append(event.text)
            else:
                assert started is not None
                return Reply("".join(parts), event, started, "".join(thinking))
        raise TruncatedStream("the reply ended without a finish")  # pragma: no cover

    async def list_models(self) -> list[str]:
        """Model ids from `GET /v1/models`, the cheapest "does this endpoint answer" probe."""
        return [model.id for model in await self.models()]

    async def models(self) -> list[ModelInfo]:
        """The models `GET /v1/models` lists, with their context length when the server
        says it."""
        try:
            return await self._list_models()
        except ApiError as exc:
            raise exc.hide(self._secrets()) from None

    async def _list_models(self) -> list[ModelInfo]:
        if self._setup_error is not None:
            raise self._setup_error
        url = _checked_url(self.endpoint, lambda: models_url(self.endpoint.url))
        headers = {"Accept-Encoding": ACCEPT_ENCODING, **auth_headers(self.endpoint)}
        try:
            request = self._http.build_request("GET", url, headers=headers)
        except httpx.InvalidURL as exc:
            raise _bad_url(self.endpoint, exc) from None
        try:
            response = await self._http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise _transport_error(exc, self.endpoint, url) from None
        try:
            resp_headers = {k.lower(): v for k, v in response.headers.items()}
            if response.status_code >= 400:
                raise error_from_body(response.status_code, await self._error_text(response),
                                      resp_headers, secrets=self._secrets())
            try:
                raw, cut = await read_capped(response)
            except (httpx.HTTPError, BodyError) as exc:
                raise ProtocolError(f"{url} did not answer in full: {_reason(exc)}") from None
        finally:
            await response.aclose()
        if cut:
            raise TooLarge(f"the model list from {url} is over {size_text(MAX_BODY_BYTES)}")
        try:
            data = json.loads(raw)
        except ValueError:
            raise ProtocolError(f"{url} did not answer with JSON") from None
        return parse_models(data)

    # -- sending ---------------------------------------------------------------------------

    async def _send_adapting(
        self, url: str, request: GenerationRequest, headers: dict[str, str]
    ) -> tuple[float, httpx.Response, dict[str, Any]]:
        """Send; when the server refuses a field it can do without (`stream_options`) or wants
        under another name (`max_completion_tokens`), learn that and send again, once per
        field. Returns the body actually sent."""
        tried: set[str] = set()
        while True:
            body = build_payload(self.endpoint, request, self.learned)
            try:
                sent_at, response = await self._send_with_retries(url, body, headers)
            except ApiError as exc:
                fix = learn_from_error(exc, body)
                if fix is None or fix[0] in tried:
                    raise
                tried.add(fix[0])
                self.learned[fix[0]] = fix[1]
                log.info("%s refused the request (%s); sending again with %s = %r",
                         self.endpoint.name,
                         excerpt(exc.message, 200, self._secrets()), *fix)
                continue
            return sent_at, response, body

    async def _send_with_retries(
        self, url: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[float, httpx.Response]:
        attempt = 0
        while True:
            sent_at = time.perf_counter()
            try:
                response = await self._send(url, body, headers)
            except UnicodeEncodeError:  # a lone surrogate (text decoded with surrogateescape)
                raise ApiError("cannot send the request: it holds text that is not valid "
                               "Unicode (a lone surrogate, e.g. from bytes that are not UTF-8)"
                               ) from None
            except httpx.HTTPError as exc:
                error = _transport_error(exc, self.endpoint, url)
                # Only a failed connect is safe to retry: the server never saw the request.
                if isinstance(exc, httpx.ConnectError) and attempt < self.endpoint.max_retries:
                    attempt += 1
                    await self._sleep(_backoff(attempt, None))
                    continue
                raise error from None
            if response.status_code < 400:
                return sent_at, response
            try:
                text = await self._error_text(response)
            finally:
                await response.aclose()
            resp_headers = {k.lower(): v for k, v in response.headers.items()}
            error = error_from_body(response.status_code, text, resp_headers,
                                    secrets=self._secrets())
            wait = _backoff(attempt + 1, error.retry_after)
            if (
                response.status_code in RETRY_STATUSES
                and attempt < self.endpoint.max_retries
                and wait <= MAX_RETRY_WAIT
            ):
                attempt += 1
                log.info("HTTP %s from %s, retry %d in %.2f s", error.status, url, attempt, wait)
                await self._sleep(wait)
                continue
            raise error

    async def _send(
        self, url: str, body: dict[str, Any], headers: dict[str, str]
    ) -> httpx.Response:
        """POST, following redirects by hand so that no key ever reaches another origin."""
        origin = _origin(url)
        secret = {"authorization", "api-key"} | {k.lower() for k in self.endpoint.headers}
        for hop in range(MAX_REDIRECTS + 1):
            try:
                request = self._http.build_request("POST", url, json=body, headers=headers)
            except httpx.InvalidURL as exc:
                if hop:
                    raise ProtocolError(f"the server redirected to a URL that cannot be used: "
                                        f"{exc}") from None
                raise _bad_url(self.endpoint, exc) from None
            response = await self._http.send(request, stream=True)
            location = response.headers.get("location")
            if response.status_code not in _REDIRECTS or not location:
                return response
            await response.aclose()
            url = urljoin(url, location)
            if _origin(url) != origin:
                headers = {k: v for k, v in headers.items() if k.lower() not in secret}
            log.info("redirected to %s", url)
        raise ConnectionFailed(f"too many redirects (more than {MAX_REDIRECTS})")

    # -- reading ---------------------------------------------------------------------------

    async def _error_text(self, response: httpx.Response) -> str:
        """An error body or unexpected page as text: its first `MAX_BODY_BYTES` (the rest is
        never read), a secret's beginning left at that cut hidden."""
        try:
            raw, cut = await read_capped(response)
        except (httpx.HTTPError, BodyError) as exc:
            return f"(the body could not be read: {_reason(exc)})"
        text = raw.decode("utf-8", "replace")
        if cut:
            secrets = self._secrets()
            text = hide_secret_at_end(hide_secrets(text, secrets), secrets)
        return text

    async def _read_sse(
        self, response: httpx.Response, started: ResponseStarted, sent_at: float,
        secrets: list[str],
    ) -> AsyncGenerator[StreamEvent, None]:
        state = ReplyState(sent_at, secrets)
        done = saw_event = False
        decoder = SSEDecoder()
        chunks = counted(response, MAX_STREAM_BYTES)
        error: ApiError | None = None  # raised once what was held back is delivered
        try:
            while not done:
                chunk = await anext(chunks, None)  # None: the end (the decoder's last events)
                for sse in decoder.feed(chunk) if chunk is not None else decoder.close():
                    saw_event = True
                    delta = _event_text(sse, state, started)
                    if delta is _DONE:
                        done = True
                        break
                    if state.reasoning:
                        yield ReasoningDelta(state.take_reasoning())
                    if delta:
                        yield TextDelta(delta)
                if chunk is None:
                    break
        except ApiError as exc:  # an error event from the server
            error = exc
        except httpx.ReadTimeout:
            error = StreamTimeout(
                f"no data from the server for {self.endpoint.read_timeout:g} s", **_ids(started))
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.NetworkError) as exc:
            error = TruncatedStream(
                f"the connection broke before the reply was complete ({_reason(exc)})",
                **_ids(started))
        except EventTooLarge as exc:
            error = TooLarge(str(exc), **_ids(started))
        except BodyTooLarge:
            error = TooLarge(f"the server sent over {size_text(MAX_STREAM_BYTES)} in one reply",
                             **_ids(started))
        except BadEncoding as exc:
            error = _bad_encoding(started, exc)
        finally:
            await chunks.aclose()
        for event in _held_back(state):
            yield event
        if error is not None:
            raise error
        if not saw_event:
            raise EmptyStream(
                "the server accepted the request but sent no reply at all "
                "(an empty event stream; llama.cpp does this when the prompt is too long)",
                **_ids(started),
            )
        if state.finish_reason is None:
            if not done:
                raise TruncatedStream(
                    "the stream ended without [DONE] or a finish reason: the reply is incomplete",
                    **_ids(started),
                )
            if not state.tokens:
                raise EmptyStream("the server ended the stream without any text", **_ids(started))
            # A bare [DONE] after text, with no finish_reason anywhere: llama.cpp ends a stream
            # this way when another request interrupts it. Not a complete reply.
            raise TruncatedStream(
                "the server ended the stream without a finish reason: the reply may be "
                "incomplete (llama.cpp does this when another request interrupts it)",
                **_ids(started),
            )
        yield state.finished(started)

    async def _read_json(
        self, response: httpx.Response, started: ResponseStarted, sent_at: float
    ) -> AsyncGenerator[StreamEvent, None]:
        try:
            data, cut = await read_capped(response)
        except httpx.ReadTimeout:
            raise StreamTimeout(
                f"no answer from the server for {self.endpoint.read_timeout:g} s", **_ids(started)
            ) from None
        except httpx.HTTPError as exc:
            raise TruncatedStream(f"the connection broke ({_reason(exc)})", **_ids(started)) from None
        except BadEncoding as exc:
            raise _bad_encoding(started, exc) from None
        if cut:
            raise TooLarge(f"the server sent a JSON response over {size_text(MAX_BODY_BYTES)}",
                           **_ids(started))
        raw = data.decode("utf-8", "replace")
        try:
            obj = json.loads(raw)
        except ValueError:
            raise ProtocolError(
                f"unreadable JSON from the server: {excerpt(raw, 200, self._secrets())!r}",
                **_ids(started)) from None
        if isinstance(obj, dict) and obj.get("error") and not obj.get("choices"):
            raise error_from_body(started.status, raw, started.headers, secrets=self._secrets())
        state = ReplyState(sent_at, [])
        delta = state.add(obj)
        for event in _held_back(state, delta):
            yield event
        if state.finish_reason is None and not state.tokens:
            raise EmptyStream("the server answered without any text", **_ids(started))
        yield state.finished(started)


_DONE = "\0[DONE]"  # what `_event_text` returns for `data: [DONE]`


def _event_text(sse: ServerSentEvent, state: ReplyState, started: ResponseStarted) -> str | None:
    """The text one event adds (or `_DONE`); raises the error an event carries."""
    data = sse.data
    if sse.event == "error":
        raise error_from_body(200, data, started.headers, in_stream=True, secrets=state.secrets)
    stripped = data.strip()
    if stripped == "[DONE]":
        return _DONE
    if not stripped:
        return None
    try:
        obj = json.loads(data)
    except ValueError:
        raise ProtocolError(
            f"unreadable event from the server: {excerpt(data, 200, state.secrets)!r}",
            **_ids(started)) from None
    if isinstance(obj, dict) and obj.get("error") and not obj.get("choices"):
        raise error_from_body(200, data, started.headers, in_stream=True, secrets=state.secrets)
    return state.add(obj)


def _held_back(state: ReplyState, text: str = "") -> list[StreamEvent]:
    """The events still held at the end of a reply (`text` first read, then what the state
    held back: an unfinished `<think>` block is reasoning)."""
    text += state.close()
    events: list[StreamEvent] = []
    if state.reasoning:
        events.append(ReasoningDelta(state.take_reasoning()))
    if text:
        events.append(TextDelta(text))
    return events


def _ids(started: ResponseStarted) -> dict[str, Any]:
    return {
        "status": started.status,
        "request_id": started.request_id,
        "date": started.headers.get("date"),
        "headers": started.headers,
    }


def _backoff(attempt: int, retry_after: float | None) -> float:
    if retry_after is not None:
        return float(retry_after)
    return min(8.0, 0.5 * 2.0 ** (attempt - 1)) * (0.8 + 0.4 * random.random())


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _bad_encoding(started: ResponseStarted, exc: BadEncoding) -> ProtocolError:
    encoding = started.headers.get("content-encoding", "")
    return ProtocolError(f"the server's {encoding} body cannot be decoded: {exc}", **_ids(started))


def _hide_userinfo(text: str) -> str:
    """`text` without the `user:password@` of any URL in it (a credential too)."""
    return re.sub(r"//[^/@\s]*@", "//", text)


def _bad_url(endpoint: Endpoint, exc: Exception) -> EndpointError:
    return EndpointError(f"the URL of endpoint {endpoint.name!r} cannot be used ({exc}): "
                         f"{_hide_userinfo(endpoint.url)}")


def _checked_url(endpoint: Endpoint, make: Callable[[], str]) -> str:
    """The URL `make` builds from the endpoint's, or an `EndpointError` saying what is wrong
    with it (no scheme, a scheme httpx cannot use, no host, a broken IPv6 address)."""
    try:
        url = make()
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        raise _bad_url(endpoint, exc) from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise EndpointError(f"the URL of endpoint {endpoint.name!r} must start with http:// "
                            f"or https:// and name a host: {_hide_userinfo(endpoint.url)}")
    return url


def _without_userinfo(url: str) -> str:
    """The URL without `user:password@`, which is a credential too."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()


def _transport_error(exc: httpx.HTTPError, endpoint: Endpoint, url: str) -> ApiError:
    scheme, netloc = _origin(_without_userinfo(url))
    where = f"{scheme}://{netloc}"
    if isinstance(exc, httpx.ConnectTimeout):
        return StreamTimeout(f"could not connect to {where} within {endpoint.connect_timeout:g} s")
    if isinstance(exc, httpx.TimeoutException):
        return StreamTimeout(f"no answer from {where} within {endpoint.read_timeout:g} s")
    if isinstance(exc, httpx.ConnectError):
        reason = _reason(exc)
        if "CERTIFICATE_VERIFY_FAILED" in reason:
            reason += (f" (if {where} uses a private CA, set ca_bundle = \"/path/to/ca.pem\" "
                       f"for endpoint {endpoint.name!r})")
        return ConnectionFailed(f"could not connect to {where}: {reason}")
    if isinstance(exc, httpx.UnsupportedProtocol):
        return ConnectionFailed(f"not an http(s) URL: {_without_userinfo(url)}")
    return ConnectionFailed(f"request to {where} failed: {_reason(exc)}")


__all__ = ["ApiError", "Client", "GenerationRequest", "Reply"]
