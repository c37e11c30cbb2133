"""The next request's size estimate and the words for usage under a reply."""

from __future__ import annotations

from llama_tui.model import Conversation, Message, Role, Stats, Usage
from llama_tui.session import estimate_tokens
from llama_tui.ui.widgets.message_view import stats_line


def test_the_estimate_uses_the_last_usage_then_adds_what_came_since() -> None:
    conv = Conversation(system="s" * 40)
    assert estimate_tokens(conv, "p" * 8, None) == 12  # nothing sent yet: chars / 4
    conv.add(Message(Role.USER, "u" * 400))
    conv.add(Message(Role.ASSISTANT, "a" * 400, usage=Usage(120, 100)))
    assert estimate_tokens(conv, "p" * 40, None) == 230
    conv.add(Message(Role.USER, "u" * 40))
    conv.add(Message(Role.ASSISTANT, "a" * 40, finish_reason="error"))  # no usage
    assert estimate_tokens(conv, "", None) == 240
    assert estimate_tokens(Conversation(messages=[Message(Role.USER, "x" * 80)]), "y" * 4, 0) == 1


def test_stats_line_says_the_tokens_the_server_counted() -> None:
    stats = Stats(ttft_ms=90, tokens=12, tokens_per_s=40.0)
    assert stats_line(stats, "stop") == "90 ms to first token · 12 tokens · 40 tok/s"
    line = stats_line(stats, "length", Usage(1200, 512, 1712, 300))
    assert line == ("90 ms to first token · 40 tok/s · tokens 1,200 in · 512 out · "
                    "300 thinking · stopped at max_tokens")
