"""llama-tui exactly as shipped, except that replies render the way they did before issue #6:
Textual's `Markdown` widget fed through `Markdown.get_stream()` (`MarkdownStream`).

    LLAMA_TUI_HOME=... LLAMA_TUI_BASE_URL=... python tests/benchmarks/apps/legacy_app.py

The previous `AssistantMessage` body is kept here (not in the app) so the benchmark can show
the before/after side by side in one run.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from textual.content import Content
from textual.widgets import Markdown, Static

from llama_tui.model import Message, Stats
from llama_tui.ui.widgets import message_view


def _hard_breaks(state: StateCore) -> None:
    for token in state.tokens:
        for child in token.children or ():
            if child.type == "softbreak":
                child.type = "hardbreak"


def _parser() -> MarkdownIt:
    parser = MarkdownIt("gfm-like")
    parser.core.ruler.push("hard_breaks", _hard_breaks)
    return parser


def legacy_init(self: Any, message: Message, *, streaming: bool = False) -> None:
    super(message_view.AssistantMessage, self).__init__(classes="message -assistant")
    self.message = message
    self.border_title = "Assistant"
    self._body = Markdown(message.content if not streaming else "", open_links=False,
                          parser_factory=_parser)
    self._stream = None
    self._footer = Static("", classes="stats")
    self._error = Static("", classes="error-details")
    self._footer.display = self._error.display = False
    if streaming:
        self.add_class("-streaming")


def legacy_compose(self: Any) -> Any:
    yield self._body
    yield self._error
    yield self._footer


async def legacy_write(self: Any, delta: str) -> None:
    if self._stream is None:
        self._stream = Markdown.get_stream(self._body)
    await self._stream.write(delta)


def legacy_on_mount(self: Any) -> None:
    if not self.has_class("-streaming"):
        m = self.message
        _outcome(self, m.finish_reason, m.stats, m.error)


async def legacy_finish(self: Any, finish_reason: str, stats: Stats | None,
                        error: str | None) -> None:
    if self._stream is not None:
        await self._stream.stop()
        self._stream = None
    self.remove_class("-streaming")
    _outcome(self, finish_reason, stats, error)


def _outcome(self: Any, finish_reason: str | None, stats: Stats | None, error: str | None) -> None:
    self.set_class(finish_reason in ("error", "content_filter"), "-failed")
    self.set_class(finish_reason in ("cancelled", "interrupted", "length"), "-partial")
    line = message_view.stats_line(stats, finish_reason)
    self._footer.update(Content(line))
    self._footer.display = bool(line)
    self._error.update(Content(error or ""))
    self._error.display = bool(error)


def install() -> None:
    cls = message_view.AssistantMessage
    cls.__init__ = legacy_init  # type: ignore[method-assign]
    cls.compose = legacy_compose  # type: ignore[method-assign]
    cls.write = legacy_write  # type: ignore[method-assign]
    cls.finish = legacy_finish  # type: ignore[method-assign]
    cls.on_mount = legacy_on_mount  # type: ignore[method-assign]


if __name__ == "__main__":
    install()
    from llama_tui.cli import main

    sys.exit(main([]))
