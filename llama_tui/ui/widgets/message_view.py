"""One message on screen. Assistant replies stream through one narrow interface:
`write(delta)` while tokens arrive, `finish(...)` once, so how replies render can change
without touching the worker that feeds them (docs/design.md §2).

Model text is sanitised before it gets here and is never parsed as Rich/Textual markup:
user text is shown as `Content` (literal), replies as Markdown drawn by `StreamMarkdown`
(finished blocks frozen, only the open tail re-rendered, at a capped frame rate).
"""

from __future__ import annotations

import re
from typing import Protocol

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message as TextualMessage
from textual.widgets import Static

from llama_tui.model import Message, Role, Stats, Usage
from llama_tui.sanitize import sanitize
from llama_tui.ui.textual_compat import LayoutOnce
from llama_tui.ui.widgets.prompt_input import TypingGoesToPrompt
from llama_tui.ui.widgets.stream_markdown import StreamMarkdown
from llama_tui.ui.widgets.thinking import ThinkingBlock


class ReplySink(Protocol):
    """Where a streaming reply goes: a chat reply view or a completion document."""

    async def write(self, delta: str) -> None: ...

    def write_now(self, delta: str) -> None:
        """`write` without awaiting (it never needs to): per-token appends from the engine."""

    async def think(self, delta: str) -> None:
        """More of a reasoning model's thinking (shown apart from the answer)."""

    def think_now(self, delta: str) -> bool:
        """`think` without awaiting; False (nothing done) when that needs an await (the first
        thinking mounts its block)."""

    async def finish(self, finish_reason: str, stats: Stats | None, error: str | None) -> None: ...

    def saved(self) -> None:
        """The finished reply is on disk: time for what waited for the last words' frame
        and the save (a restyle, more measuring), so that neither waited for it."""


def stats_line(stats: Stats | None, finish_reason: str | None, usage: Usage | None = None) -> str:
    """The line under a reply: timing, tokens (as the server counted them when it said), how
    it ended when that was not "stop"."""
    parts: list[str] = []
    counted = usage is not None and usage.completion_tokens is not None
    if stats:
        if stats.ttft_ms is not None:
            parts.append(f"{stats.ttft_ms} ms to first token")
        if stats.tokens and not counted:
            parts.append(f"{stats.tokens} tokens")
        if stats.tokens_per_s:
            parts.append(f"{stats.tokens_per_s:g} tok/s")
    if usage is not None and (counted or usage.prompt_tokens is not None):
        parts.append("tokens " + usage.words())
    if finish_reason and finish_reason != "stop":
        parts.append(_FINISH_WORDS.get(finish_reason, finish_reason))
    return " · ".join(parts)


#: How a failed reply ended (retried in place, not kept as an earlier version).
FAILED = frozenset({"error", "content_filter"})

_FINISH_WORDS = {
    "length": "stopped at max_tokens",
    "cancelled": "stopped by you",
    "interrupted": "interrupted (the app was closed mid-reply)",
    "content_filter": "blocked by the content filter",
    "error": "failed",
    "tool_calls": "asked to call a tool",
}


#: Keys on any focused message (Textual merges BINDINGS only from widget classes, so each
#: message class lists these first).
MESSAGE_BINDINGS = [
    Binding("c", "request('copy')", "Copy", id="copy-message"),
    Binding("f", "request('fork')", "Fork", id="fork-here"),
    Binding("up,k", "step(-1)", "Previous", id="message-up", show=False),
    Binding("down,j", "step(1)", "Next", id="message-down", show=False),
]


class MessageActions(TypingGoesToPrompt):
    """Keys on a focused message. They post `ActionRequested`; the screen does the work."""

    class ActionRequested(TextualMessage):
        def __init__(self, action: str, message: Message) -> None:
            super().__init__()
            self.action = action
            self.message = message

    message: Message

    def action_request(self, action: str) -> None:
        self.post_message(MessageActions.ActionRequested(action, self.message))

    def action_step(self, step: int) -> None:
        if self.parent is None:  # removed meanwhile (a conversation switch in the same burst)
            return
        siblings = [w for w in self.parent.children if w.can_focus]
        index = siblings.index(self) + step
        if 0 <= index < len(siblings):
            self.screen.set_focus(siblings[index], scroll_visible=False)
            siblings[index].scroll_visible(animate=False)
        elif step > 0:
            self.post_message(MessageActions.ActionRequested("leave", self.message))


class UserMessage(MessageActions, Static, can_focus=True):
    BINDINGS = [*MESSAGE_BINDINGS,
                Binding("e", "request('edit')", "Edit", id="edit-resend")]

    def __init__(self, message: Message) -> None:
        super().__init__(Content(sanitize(message.content)), classes="message -user")
        self.message = message
        self.border_title = "You"

    def mark(self, words: str) -> int | None:
        """Mark `words` (any case) in the text; the row is not known (None: the top)."""
        content = Content(sanitize(self.message.content))
        if words.strip():
            pattern = re.compile(re.escape(words.strip()), re.IGNORECASE)
            for match in pattern.finditer(content.plain):
                content = content.stylize("reverse bold", *match.span())
        self.update(content)
        return None


class AssistantMessage(MessageActions, LayoutOnce, Vertical, can_focus=True):
    """A reply: Markdown body, a stats line, and an error box when it failed."""

    BINDINGS = [
        *MESSAGE_BINDINGS,
        Binding("y", "request('copy-code')", "Code", id="copy-code", show=False),
        Binding("r", "request('regenerate')", "Regenerate", id="regenerate"),
        Binding("r", "request('retry')", "Retry", id="retry"),
        Binding("t", "toggle_thinking", "Thinking", id="toggle-thinking"),
    ]

    def __init__(self, message: Message, *, streaming: bool = False) -> None:
        super().__init__(classes="message -assistant")
        self.message = message
        superseded = bool(message.extra.get("superseded"))
        self.border_title = "Assistant · earlier version" if superseded else "Assistant"
        self.set_class(superseded, "-superseded")
        # A reply read from disk may have been edited by hand: sanitise it like a streamed one.
        self._body = StreamMarkdown("" if streaming else sanitize(message.content),
                                    streaming=streaming, classes="reply")
        self._footer = Static("", classes="stats")
        self._error = Static("", classes="error-details")
        self._note = Static("", classes="note")
        self._footer.display = self._error.display = self._note.display = False
        self._thinking: ThinkingBlock | None = None
        if message.reasoning and not streaming:
            self._thinking = ThinkingBlock(sanitize(message.reasoning))
        if streaming:
            self.add_class("-streaming")

    def compose(self) -> ComposeResult:
        if self._thinking is not None:
            yield self._thinking
        yield self._body
        yield self._note
        yield self._error
        yield self._footer

    def on_mount(self) -> None:
        if not self.has_class("-streaming"):
            self._show_outcome(self.message.finish_reason, self.message.stats, self.message.error)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """r regenerates a reply (the old one stays), or retries a failed one in place:
        one key, and the footer names what it does to this reply."""
        if action == "request" and parameters and parameters[0] in ("regenerate", "retry"):
            failed = self.message.finish_reason in FAILED and not self.has_class("-streaming")
            return failed == (parameters[0] == "retry")
        if action == "toggle_thinking":
            return self._thinking is not None
        return True

    def action_toggle_thinking(self) -> None:
        if self._thinking is not None:
            self._thinking.toggle()

    def mark(self, words: str) -> int | None:
        """Mark `words` (any case) in the answer; the row of the first line that shows them,
        counted from this message's top edge (None: not found)."""
        row = self._body.mark(words)
        if row is None:
            return None
        return self._body.region.y - self.region.y + row

    @property
    def source(self) -> str:
        """The reply's Markdown as shown so far."""
        return self._body.source

    async def write(self, delta: str) -> None:
        self.write_now(delta)

    def write_now(self, delta: str) -> None:
        """Append streamed (already sanitised) text; drawn at the next frame."""
        if self._thinking is not None and self._thinking.live:
            self._thinking.done()  # the answer started: the thinking folds away
        self._body.append(delta)

    async def think(self, delta: str) -> None:
        """Append streamed (already sanitised) thinking, in its own block above the answer."""
        if self._thinking is None:
            self._thinking = ThinkingBlock(live=True)
            await self.mount(self._thinking, before=self._body)
            self.refresh_bindings()
        self._thinking.append(delta)

    def think_now(self, delta: str) -> bool:
        if self._thinking is None:
            return False
        self._thinking.append(delta)
        return True

    async def finish(self, finish_reason: str, stats: Stats | None, error: str | None) -> None:
        """Show the end of the reply, drawn at the next frame. It does not wait for that
        frame: it is called from the screen's message handler, and the screen cannot draw
        until the handler returns. The border loses its streaming colour once the reply is
        saved (`saved`), in the same repaint as what a burst left for later
        (StreamMarkdown.settle) and the conversation list's update, so that work (~10-20 ms)
        does not hold the GIL while Textual's writer thread sends the last words' frame."""
        self._body.finish()
        if self._thinking is not None:
            self._thinking.done()
        self._show_outcome(finish_reason, stats, error)

    def saved(self) -> None:
        self._body.settle_when_restyled()  # what a burst left: in the border's repaint
        self.remove_class("-streaming")

    def _show_outcome(self, finish_reason: str | None, stats: Stats | None, error: str | None) -> None:
        self.set_class(finish_reason in ("error", "content_filter"), "-failed")
        self.set_class(finish_reason in ("cancelled", "interrupted", "length"), "-partial")
        line = stats_line(stats, finish_reason, self.message.usage)
        self._footer.update(Content(line))
        self._footer.display = bool(line)
        self._error.update(Content(sanitize(error or "")))  # a stored file's error is untrusted
        self._error.display = bool(error)
        note = self.message.extra.get("note")  # tool calls asked for; an answer never given
        self._note.update(Content(sanitize(note) if isinstance(note, str) else ""))
        self._note.display = isinstance(note, str) and bool(note)


def message_widget(message: Message) -> UserMessage | AssistantMessage | Static:
    if message.role == Role.USER:
        return UserMessage(message)
    if message.role == Role.ASSISTANT:
        return AssistantMessage(message)
    return Static(Content(sanitize(message.content)), classes="message -system")
