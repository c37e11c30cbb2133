"""The reply renderer (StreamMarkdown) in the running app: the streamed result reads like
Textual's Markdown, like the same reply reopened, never goes through markup parsing, and
coalesces tokens into few frames."""

from __future__ import annotations

import heapq
import itertools
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.geometry import Size
from textual.pilot import Pilot
from textual.selection import Selection
from textual.widget import Widget
from textual.widgets import Markdown, Static

import llama_tui.ui
from llama_tui.ui.widgets.block_stream import BlockStream, make_parser
from llama_tui.ui.widgets.chat_view import ChatView
from llama_tui.ui.widgets.message_view import AssistantMessage
from llama_tui.ui.widgets.stream_markdown import MarkdownScroll, StreamMarkdown
from tests.fakeserver import chat_stream
from tests.fakeserver.markdown import markdown_reply
from tests.ui.conftest import (
    SIZE,
    main,
    only_conversation,
    type_and_send,
    wait_for,
    wait_replies,
)


def shown_text(widget: Widget) -> str:
    """All the text a widget draws (what a selection of everything copies)."""
    selected = widget.get_selection(Selection(None, None))
    return selected[0] if selected else ""


def squash(text: str) -> str:
    """Words only: wrapping, bars, bullets and rules drawn around text do not count."""
    return re.sub(r"[\s▌│┼─•▪‣⭑◦]+", " ", text).strip()


class Page(App[None]):
    def __init__(self, widget: Widget) -> None:
        super().__init__()
        self.widget = widget

    def compose(self) -> ComposeResult:
        with MarkdownScroll():  # a VerticalScroll carrying the Markdown styles
            yield self.widget


async def textual_markdown_texts(text: str) -> list[str]:
    """The text of every leaf block Textual's own Markdown widget draws for `text`."""
    markdown = Markdown(text, parser_factory=make_parser)
    async with Page(markdown).run_test(size=SIZE) as pilot:
        await pilot.pause()
        leaves = [w for w in markdown.query(Static) if not w.query(Static)]
        return [squash(shown_text(leaf)) for leaf in leaves if squash(shown_text(leaf))]


async def test_streamed_reply_reads_like_textual_markdown_and_like_reopened(app_factory,
                                                                            fake_server):
    pieces = markdown_reply(4000)
    text = "".join(pieces)
    fake_server.enqueue(chat_stream(pieces))
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "A long answer, please")
        await wait_replies(pilot)
        view = main(app).query_one(ChatView).query_one(AssistantMessage)
        assert view.source == text
        streamed = shown_text(view.query_one(StreamMarkdown))
        width = view.query_one(StreamMarkdown).size.width
        conversation = main(app).current
        await main(app).open_conversation(None)
        await main(app).open_conversation(conversation)
        reopened = main(app).query_one(ChatView).query_one(AssistantMessage)
        body = reopened.query_one(StreamMarkdown)
        # Laid out first without the scrollbar, then with it (one column less): wait for that.
        await wait_for(pilot, lambda: body.size.width == width)
        await pilot.pause()
        assert shown_text(body) == streamed

    ours = squash(streamed)
    position = 0
    for block in await textual_markdown_texts(text):  # every block, in the same order
        found = ours.find(block, position)
        assert found >= 0, f"{block!r} missing after offset {position}"
        position = found + len(block)
    lines = streamed.splitlines()
    assert any(line.startswith("• ") for line in lines)  # bullet list
    assert any(re.match(r"\s*\d+\. ", line) for line in lines)  # ordered list
    assert any("│" in line for line in lines) and any("┼" in line for line in lines)  # table
    assert any(line.startswith("▌ ") for line in lines)  # quote
    assert any(line.startswith("  def fibonacci") for line in lines)  # fenced code


async def test_streamed_text_is_never_parsed_as_markup(app_factory, fake_server, monkeypatch):
    from textual import content, markup

    nasty = "[bold]not bold[/bold] [@click=app.quit]click[/] [link='x']l[/link] **really bold**"
    seen: list[str] = []
    from_markup, to_content = content.Content.from_markup, markup.to_content

    def spy_from_markup(cls, text, **variables):  # type: ignore[no-untyped-def]
        seen.append(str(text))
        return from_markup.__func__(cls, text, **variables)  # type: ignore[attr-defined]

    def spy_to_content(text, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(str(text))
        return to_content(text, *args, **kwargs)

    monkeypatch.setattr(content.Content, "from_markup", classmethod(spy_from_markup))
    monkeypatch.setattr(markup, "to_content", spy_to_content)
    fake_server.enqueue(chat_stream([nasty[:15], nasty[15:40], nasty[40:]]))
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "markup?")
        await wait_replies(pilot)
        body = main(app).query_one(AssistantMessage).query_one(StreamMarkdown)
        drawn = shown_text(body)
        assert app.is_running
    assert "[bold]not bold[/bold]" in drawn and "[@click=app.quit]click[/]" in drawn
    assert "really bold" in drawn and "**" not in drawn  # Markdown still applies
    assert not [s for s in seen if "not bold" in s or "click=app.quit" in s or "really" in s]


class FakeClock:
    """Time for a `StreamMarkdown` that moves only when the test says: `advance` runs the
    widget's timers that fall due, in order, at once. Frames then never depend on how busy
    the machine is (two busy cores made real-time counts off by one or two)."""

    def __init__(self, *bodies: StreamMarkdown) -> None:
        self.now = 1000.0
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        for body in bodies:
            body._now = lambda: self.now  # type: ignore[method-assign]
            body._later = self.later  # type: ignore[method-assign]

    def later(self, delay: float, callback: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (self.now + max(delay, 0.0), next(self._order), callback))

    def advance(self, seconds: float = 0.0) -> None:
        """Let `seconds` pass; 0: just run what is due (the event loop getting a turn)."""
        end = self.now + seconds
        while self._timers and self._timers[0][0] <= end:
            due, _, callback = heapq.heappop(self._timers)
            self.now = max(self.now, due)
            callback()
        self.now = end


def count_advances(monkeypatch: pytest.MonkeyPatch, clock: FakeClock | None = None
                   ) -> list[tuple[float, bool]]:
    """(time, final) of every `BlockStream.advance` (one per frame drawn)."""
    advances: list[tuple[float, bool]] = []
    original = BlockStream.advance

    def counting(self: BlockStream, final: bool):  # type: ignore[no-untyped-def]
        advances.append((clock.now if clock else time.monotonic(), final))
        return original(self, final)

    monkeypatch.setattr(BlockStream, "advance", counting)
    return advances


async def laid_out(pilot: Pilot[None], body: StreamMarkdown) -> None:
    await wait_for(pilot, lambda: body.size.width > 0)


async def test_tokens_arriving_together_make_one_frame_and_the_first_shows_at_once(monkeypatch):
    body = StreamMarkdown(streaming=True)
    clock = FakeClock(body)
    advances = count_advances(monkeypatch, clock)
    async with Page(body).run_test(size=SIZE) as pilot:
        await laid_out(pilot, body)
        body.FRAME_SECONDS = 0.3
        body.append("first")
        clock.advance()
        assert "first" in shown_text(body)  # idle before: drawn at once
        for piece in markdown_reply(500)[1:]:
            body.append(piece)  # 500 tokens within one frame interval
        clock.advance(0.05)
        assert len(advances) == 1  # not drawn yet: the frame cap holds
        clock.advance(0.3)
        assert len(advances) == 2  # ...then once, for all of them
        body.finish()
        assert advances[-1][1] is True


def _feed_for(body: StreamMarkdown, clock: FakeClock, seconds: float, *, backlog: bool) -> int:
    """Append words for `seconds` of the fake clock. A backlog: one every 50 us (what reading
    text already received costs), the event loop running every 50 words (as at the client's
    socket reads); otherwise a live stream of 500 words a second. Returns the words appended."""
    words = 0
    end = clock.now + seconds
    while clock.now < end:
        words += 1
        body.append("word " if words % 40 else "word\n\n")
        if not backlog:
            clock.advance(0.002)
            continue
        clock.now += 0.00005  # busy reading: no timer runs
        if words % 50 == 0:
            clock.advance()
    return words


async def test_a_backlog_is_drawn_once_caught_up_and_a_live_stream_frame_by_frame(monkeypatch):
    body = StreamMarkdown(streaming=True)
    clock = FakeClock(body)
    advances = count_advances(monkeypatch, clock)
    async with Page(body).run_test(size=SIZE) as pilot:
        await laid_out(pilot, body)
        body.FRAME_SECONDS, body.BACKLOG_MAX_WAIT = 0.05, 2.0
        body.append("first")
        clock.advance(0.1)
        assert len(advances) == 1  # the first text after a pause: at once
        _feed_for(body, clock, 0.4, backlog=True)
        # Its first words came after a pause: drawn at once. Then frames were due every
        # 50 ms, but it was behind.
        assert len(advances) == 2
        caught_up = clock.now
        clock.advance(0.1)
        assert len(advances) == 3  # caught up: drawn once, at once
        assert advances[-1][0] - caught_up <= 3 * StreamMarkdown.BACKLOG_PAUSE
        start = len(advances)
        _feed_for(body, clock, 0.4, backlog=False)
        assert len(advances) - start == 1 + 8  # a live stream: at once, then every 50 ms
        body.BACKLOG_MAX_WAIT = 0.1
        start = len(advances)
        _feed_for(body, clock, 0.5, backlog=True)
        drawn = [t for t, _ in advances[start:]]
        assert len(drawn) >= 4  # a long backlog still shows progress...
        assert max(b - a for a, b in itertools.pairwise(drawn)) <= 0.1 + 0.01  # ...steadily


async def test_height_grows_in_steps_while_streaming_and_fits_after():
    body = StreamMarkdown(streaming=True)
    clock = FakeClock(body)
    async with Page(body).run_test(size=SIZE) as pilot:
        await laid_out(pilot, body)
        for piece in markdown_reply(1200):
            body.append(piece)
        clock.advance(StreamMarkdown.BACKLOG_MAX_WAIT)
        assert not body._blocks.pending  # drawn
        height = body._height()
        await wait_for(pilot, lambda: body.size.height == height)
        drawn = len(shown_text(body).splitlines())
        assert drawn <= height < drawn + StreamMarkdown.GROWTH_STEP
        body.finish()
        await wait_for(pilot, lambda: body.size.height == len(shown_text(body).splitlines()))


async def test_theme_change_redraws_finished_blocks():
    body = StreamMarkdown("# Title\n\n```python\nx = 1\n```\n")
    async with Page(body).run_test(size=SIZE) as pilot:
        await pilot.pause()
        before = [body.render_line(y) for y in range(body.size.height)]
        pilot.app.theme = "textual-light"
        await pilot.pause()
        after = [body.render_line(y) for y in range(body.size.height)]
        assert [s.text for s in before] == [s.text for s in after]
        assert before != after


async def test_styles_come_from_the_pane_so_a_reply_has_no_component_classes_of_its_own():
    """Mounting a reply must not make Textual work out 20 component styles for it (half of
    the time to open a conversation): they are the pane's, and still apply to the reply."""
    body = StreamMarkdown("**strong** and `code`\n\n# Title\n")
    async with Page(body).run_test(size=SIZE) as pilot:
        await pilot.pause()
        first = list(body.render_line(0))
        strong = next(s for s in first if "strong" in s.text)
        code = next(s for s in first if "code" in s.text)
        plain = next(s for s in first if "and" in s.text)
        assert strong.style.bold and not plain.style.bold
        assert code.style.bgcolor != plain.style.bgcolor
    assert not StreamMarkdown._get_component_classes()
    assert "stream-markdown--strong" in MarkdownScroll._get_component_classes()


class Chat(App[None]):
    CSS_PATH = str(Path(llama_tui.ui.__file__).with_name("app.tcss"))  # the app's look

    def compose(self) -> ComposeResult:
        yield ChatView(id="messages")


async def test_a_growing_reply_costs_one_layout_pass_per_step_and_is_measured_once(monkeypatch):
    """A reply that grows past the pane: one layout of the screen per growth step (Textual's
    `virtual_size` reactive would ask for a second pass and repaint: widgets/layout_once.py),
    and its blocks are measured at one width only (the pane keeps the scrollbar's column, so
    the scrollbar appearing re-wraps nothing)."""
    from textual._compositor import Compositor

    from llama_tui.model import Message, Role

    reflows: list[int] = []
    original = Compositor.reflow

    def counting(self: Compositor, parent: Widget, size: Size):  # type: ignore[no-untyped-def]
        reflows.append(1)
        return original(self, parent, size)

    monkeypatch.setattr(Compositor, "reflow", counting)
    widths: list[int] = []
    measure = StreamMarkdown._layout
    monkeypatch.setattr(StreamMarkdown, "_layout",
                        lambda self, width: (widths.append(width), measure(self, width))[1])
    async with Chat().run_test(size=SIZE) as pilot:
        chat = pilot.app.query_one(ChatView)
        view = await chat.add(Message(Role.ASSISTANT, ""), streaming=True)
        assert view is not None
        body = view.query_one(StreamMarkdown)
        clock = FakeClock(body)
        await laid_out(pilot, body)
        await pilot.pause()
        extra: list[int] = []
        for n in range(12):  # ~6 screens of text, a growth step (<= 16 lines) at a time
            height, passes = body.size.height, len(reflows)
            scrollbar = chat.show_vertical_scrollbar
            body.append("".join(f"line {n}.{i}\n\n" for i in range(8)))
            clock.advance(StreamMarkdown.FRAME_SECONDS)
            await wait_for(pilot, lambda: body.size.height > height)  # noqa: B023
            await pilot.pause()  # whatever layout pass this one asked for
            if chat.show_vertical_scrollbar == scrollbar:
                assert len(reflows) - passes == 1, f"step {n}: {len(reflows) - passes} layouts"
            else:  # the step that overflows: Textual lays out again for its scrollbar
                extra.append(n)
        assert len(extra) == 1  # it overflowed on the way, once
        assert len(set(widths)) == 1, widths


async def test_a_burst_is_shown_from_its_bottom_and_measured_above_after_the_frame():
    """Many blocks finishing at once while the chat follows its bottom: the screenful at the
    bottom is measured at once, the blocks above it right after the frame; what shows never
    changes, and the end result is the same as measuring everything."""
    from llama_tui.model import Message, Role

    reply = "".join(markdown_reply(1500))  # a heading with a wider margin in the middle:
    code = "```python\ndef answer(x):\n    return 42 * x\n```\n"
    text = f"{reply}\n\n# A first-level heading\n\nafter it\n\n{reply}\n\n{code}"
    async with Chat().run_test(size=SIZE) as pilot:
        chat = pilot.app.query_one(ChatView)
        view = await chat.add(Message(Role.ASSISTANT, ""), streaming=True)
        assert view is not None
        body = view.query_one(StreamMarkdown)
        clock = FakeClock(body)
        await laid_out(pilot, body)
        body.append("first words")
        clock.advance()
        await wait_for(pilot, lambda: "first words" in body.render_line(0).text)
        body.append(text)
        body.finish()
        assert body._frozen.estimated  # the blocks above the screen: not measured yet
        # The frame with the last words: its code drawn plain, highlighted after.
        await wait_for(pilot, lambda: body._frozen.blocks[-1].plain)
        rows = body._frozen.rows
        bottom = [body.render_line(rows - 1 - i).text for i in range(SIZE[1])]
        assert body._frozen.estimated
        clock.advance(StreamMarkdown.SETTLE_AFTER)
        assert not body._frozen.estimated
        assert not any(b.plain for b in body._frozen.blocks)
        rows = body._frozen.rows
        code_line = next(y for y in range(rows) if "return 42" in body.render_line(y).text)
        styles = {seg.style for seg in body.render_line(code_line) if seg.text.strip()}
        assert len(styles) > 2  # keyword, number, name...: highlighted now
        assert [body.render_line(rows - 1 - i).text for i in range(SIZE[1])] == bottom
        assert chat.scroll_offset.y == chat.max_scroll_y  # still at the bottom
        reopened = AssistantMessage(Message(Role.ASSISTANT, body.source))  # same width
        await chat.mount(reopened)
        await pilot.pause()
        fresh = reopened.query_one(StreamMarkdown)
        assert fresh._frozen.rows == body._frozen.rows
        assert shown_text(fresh) == shown_text(body)

        chat.release_anchor()  # the user scrolled up: everything is measured at once
        chat.scroll_home(animate=False)
        view = await chat.add(Message(Role.ASSISTANT, ""), streaming=True)
        assert view is not None
        chat.release_anchor()
        body = view.query_one(StreamMarkdown)
        body.append(text)
        body.finish()
        assert not body._frozen.estimated


async def _rendered_per_token(monkeypatch: pytest.MonkeyPatch, kind: str, length: int,
                              window: int) -> float:
    """Characters rendered per token (a work count, not a time) over `window` tokens that
    arrive 5 per frame after an open block of `length` tokens."""
    from llama_tui.ui.widgets import stream_markdown
    from tests.benchmarks.bench_long_block import tokens

    rendered = [0]
    render = stream_markdown.render_block

    def counting(node, width, theme):  # type: ignore[no-untyped-def]
        block = render(node, width, theme)
        rendered[0] += sum(len(line.plain) for line in block.lines)
        return block

    monkeypatch.setattr(stream_markdown, "render_block", counting)
    body = StreamMarkdown(streaming=True)
    clock = FakeClock(body)
    async with Page(body).run_test(size=SIZE) as pilot:
        await laid_out(pilot, body)
        body.append("".join(tokens(kind, length)))
        clock.advance(1.0)
        rendered[0] = 0
        for start in range(length, length + window, 5):
            body.append("".join(tokens(kind, 5, start)))
            clock.advance(StreamMarkdown.FRAME_SECONDS)
        assert not body._blocks.pending
        await pilot.pause()
    return rendered[0] / window


async def test_an_open_block_costs_the_same_per_token_at_any_length(monkeypatch):
    """A runaway paragraph or code fence: what a frame renders does not grow with the block
    (block_stream.py cuts it into pieces drawn once), so neither does the cost per token."""
    for kind in ("paragraph", "line", "fence"):
        short = await _rendered_per_token(monkeypatch, kind, 1_000, window=500)
        long = await _rendered_per_token(monkeypatch, kind, 10_000, window=2_000)
        assert long < 2 * short, (kind, short, long)


async def test_escape_stops_a_reply_with_a_huge_open_block_promptly(app_factory, fake_server):
    """An endless paragraph (no blank line) arriving as fast as the app reads it: escape
    acts at once. Before the block was cut into pieces, each frame parsed and drew all of
    it, and closing the reply did it once more: escape took seconds (12.9 s after 30 s)."""
    from llama_tui.ui.screens.main import MainScreen

    line = " ".join(f"word{i}" for i in range(50)) + "\n"
    fake_server.enqueue(chat_stream([line] * 20_000, delay=0.002))
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "Never stop")
        screen: MainScreen = main(app)
        view = screen.query_one(ChatView).query_one(AssistantMessage)
        await wait_for(pilot, lambda: len(view.source) > 150_000, timeout=30)
        shown = len(view.source)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not app.services.engine.replies, timeout=10)  # the bound is below
        # What the app still read after escape, in the stream's own time (load-proof):
        # 20 lines of 50 words, less than 0.1 s of this stream.
        assert len(view.source) - shown < 20 * len(line)
        await wait_replies(pilot)
        assert view.has_class("-partial")
    reply = only_conversation()["messages"][1]
    assert reply["finish_reason"] == "cancelled" and reply["content"] == view.source


async def test_streamed_text_reaches_the_view_a_piece_at_a_time(app_factory, fake_server,
                                                                monkeypatch):
    """The view tells a backlog (text already received, read in a tight run: frames wait)
    from a stream by counting appends; the engine's text must reach it as it comes, not as
    a few coalesced messages (each then drew a frame that repainted the whole pane)."""
    appends: list[str] = []
    original = StreamMarkdown.append

    def counted(self: StreamMarkdown, text: str) -> None:
        appends.append(text)
        original(self, text)

    monkeypatch.setattr(StreamMarkdown, "append", counted)
    words = [f"w{i} " for i in range(400)]
    fake_server.enqueue(chat_stream(words))  # full speed: one burst
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "Count")
        await wait_replies(pilot)
    assert "".join(appends).startswith("w0 w1 ")
    assert len(appends) >= len(words) - 1, len(appends)  # the first word may come with the view
