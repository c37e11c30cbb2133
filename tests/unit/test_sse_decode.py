"""Our SSE decoder (llama_tui/client/sse_decode.py) against httpx-sse's, on any bytes cut
anywhere: the same events, in the same order. Plus the cases a server really sends."""

from __future__ import annotations

import codecs
import itertools
import time

import pytest
from httpx_sse._decoders import SSEDecoder as ReferenceDecoder
from httpx_sse._decoders import SSELineDecoder
from hypothesis import given, settings
from hypothesis import strategies as st

from llama_tui.client.sse_decode import EventTooLarge, ServerSentEvent, SSEDecoder

BOM = b"\xef\xbb\xbf"


def ours(chunks: list[bytes]) -> list[tuple[str, str]]:
    decoder = SSEDecoder()
    events = [e for chunk in chunks for e in decoder.feed(chunk)] + decoder.close()
    return [(e.event, e.data) for e in events]


def reference(chunks: list[bytes]) -> list[tuple[str, str]]:
    """httpx-sse's pipeline as `EventSource.aiter_sse` runs it (after httpx's text decoding)."""
    text = codecs.getincrementaldecoder("utf-8")(errors="replace")
    lines, decoder = SSELineDecoder(), ReferenceDecoder()
    out = []
    pieces = [text.decode(c) for c in chunks] + [text.decode(b"", final=True)]
    for line in [ln for p in pieces if p for ln in lines.decode(p)] + lines.flush():
        event = decoder.decode(line.rstrip("\n"))
        if event is not None:
            out.append((event.event, event.data))
    return out


def split(body: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(body)) for c in cuts})
    return [body[a:b] for a, b in itertools.pairwise([0, *points, len(body)]) if b > a]


SSE_BYTES = st.lists(st.sampled_from([
    b"data: ", b"data:", b"event: error", b"event:", b"id: 7", b"id: a\x00b", b"retry: 30",
    b"retry: x", b": comment", b"\n", b"\r", b"\r\n", b"\n\n", b"{\"a\": 1}", b"[DONE]", b" ",
    b"caf\xc3\xa9", b"\xe2\x82\xac", b"\xff\xfe", b"\xc3", b"other: field", b"data",
]), max_size=40).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(body=SSE_BYTES, cuts=st.lists(st.integers(0, 400), max_size=12))
def test_same_events_as_httpx_sse_for_sse_like_bytes(body: bytes, cuts: list[int]) -> None:
    assert ours(split(body, cuts)) == reference(split(body, cuts))


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=300), cuts=st.lists(st.integers(0, 300), max_size=12))
def test_same_events_as_httpx_sse_for_any_bytes(body: bytes, cuts: list[int]) -> None:
    body = body.removeprefix(BOM)  # we drop a leading byte-order mark (the spec says to)
    assert ours(split(body, cuts)) == reference(split(body, cuts))


def test_the_usual_chunks_take_the_short_way_and_are_right() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"x": "caf\xc3\xa9"}\n\n') == [
        ServerSentEvent("message", '{"x": "café"}')]
    assert decoder.feed(b"data: [DONE]\n\n") == [ServerSentEvent("message", "[DONE]")]


def test_crlf_split_between_chunks_is_one_line_break() -> None:
    assert ours([b"data: a\r", b"\n\r", b"\ndata: b\r\n\r\n"]) == [("message", "a"),
                                                                    ("message", "b")]


def test_a_character_split_between_chunks_is_kept_whole() -> None:
    body = "data: héllo €\n\n".encode()
    for cut in range(1, len(body)):
        assert ours([body[:cut], body[cut:]]) == [("message", "héllo €")]


def test_named_events_multi_line_data_comments_and_a_byte_order_mark() -> None:
    body = BOM + b": keep-alive\nevent: error\ndata: {\"error\":\ndata:  1}\n\n"
    assert ours([body]) == [("error", '{"error":\n 1}')]


def test_an_event_without_its_blank_line_at_the_end_is_dropped() -> None:
    assert ours([b"data: a\n\ndata: b\n"]) == [("message", "a")]
    assert ours([b"data: a\n\ndata: b"]) == [("message", "a")]


LONG = b"y" * 5000  # past the decoder's long-line threshold, so its pieces path is checked too
LONG_SSE = st.lists(st.sampled_from([
    LONG, b"data: ", b"data:", b": comment", b"\n", b"\r", b"\r\n", b"\n\n", b"id: 1", b"x",
    b"\xc3", b"\xa9",
]), max_size=20).map(b"".join)


@settings(max_examples=200, deadline=None)
@given(body=LONG_SSE, cuts=st.lists(st.integers(0, 40000), max_size=30))
def test_same_events_as_httpx_sse_with_long_lines_cut_anywhere(body: bytes, cuts: list[int]) -> None:
    assert ours(split(body, cuts)) == reference(split(body, cuts))


def test_a_long_line_fed_a_byte_at_a_time_and_in_big_pieces() -> None:
    body = b"data: " + b"z" * 20000 + b"\r\n\r\n"
    one_by_one = [body[i:i + 1] for i in range(len(body))]
    assert ours(one_by_one) == [("message", "z" * 20000)]
    assert ours([body[:7000], body[7000:-3], body[-3:-2], body[-2:]]) == [("message", "z" * 20000)]


@pytest.mark.parametrize(("body", "then"), [
    (b"data: " + b"x" * 20_000 + b"\n\n", b""),  # one line, the fast path
    (b"data: " + b"x" * 7000 + b"\ndata: " + b"x" * 7000 + b"\n\n", b""),  # lines add up
    (b": " + b"x" * 20_000, b"x" * 20_000),  # a line that never ends (a comment, even)
], ids=["one-line", "data-lines", "endless-comment"])
@pytest.mark.parametrize("step", [1, 100, 100_000])
def test_an_event_over_the_limit_fails_whatever_the_chunks(body: bytes, then: bytes,
                                                           step: int) -> None:
    decoder = SSEDecoder(max_event=10_000)
    with pytest.raises(EventTooLarge, match="over 10,000 bytes"):
        for i in range(0, len(body), step):
            decoder.feed(body[i:i + step])
        decoder.feed(then)


def test_events_under_the_limit_pass_however_many() -> None:
    decoder = SSEDecoder(max_event=10_000)
    event = b"data: " + b"x" * 9000 + b"\n\n"
    assert len([e for _ in range(50) for e in decoder.feed(event * 3)]) == 150
    assert str(EventTooLarge(1 << 20)) == "the server sent an event over 1 MiB"


def test_a_50_mb_line_is_refused_at_the_cap_in_linear_time() -> None:
    """The decoder was quadratic in line length (58 s of CPU for 50 MB). Now each byte is
    searched once and the line is refused at 1 MiB: the rest is never even joined."""
    decoder = SSEDecoder()
    piece = b"x" * 65536
    start = time.process_time()
    with pytest.raises(EventTooLarge):
        decoder.feed(b"data: ")
        for _ in range(50_000_000 // len(piece)):
            decoder.feed(piece)
    assert time.process_time() - start < 2.0
    unlimited = SSEDecoder(max_event=1 << 40)
    start = time.process_time()
    unlimited.feed(b"data: ")
    for _ in range(20_000_000 // len(piece)):
        unlimited.feed(piece)
    assert len(unlimited.feed(b"\n\n")[0].data) == 20_000_000 // len(piece) * len(piece)
    assert time.process_time() - start < 5.0  # linear: about 0.2 s; quadratic was minutes
