"""Markdown export (llama_tui.export.to_markdown)."""

from __future__ import annotations

from llama_tui.export import to_markdown
from llama_tui.model import Conversation, Message, Role


def test_an_earlier_version_is_marked_and_thinking_is_folded() -> None:
    conv = Conversation(title="Jokes")
    conv.messages = [
        Message(Role.USER, "Tell me a joke"),
        Message(Role.ASSISTANT, "first version", finish_reason="stop",
                extra={"superseded": True}),
        Message(Role.ASSISTANT, "second version", finish_reason="stop",
                reasoning="Something short.\n</details> not the end"),
    ]
    text = to_markdown(conv)
    assert "**Assistant (earlier version)**\n\nfirst version\n" in text
    assert ("**Assistant**\n\n<details><summary>Thinking</summary>\n\nSomething short.\n"
            "&lt;/details> not the end\n\n</details>\n\nsecond version\n") in text
    assert text.count("<details>") == 1 and text.count("</details>") == 1
    assert "(earlier version)" not in text.split("first version")[1]


def test_code_blocks_are_named_by_language_and_size() -> None:
    from llama_tui.ui.screens.manage import code_blocks, code_label

    reply = "x\n\n```python title=a.py\ndef f():\n    return 1\n```\n\n~~~\n\n~~~\n"
    blocks = code_blocks(reply)
    assert blocks == [("python", "def f():\n    return 1\n"), ("", "\n")]
    assert [code_label(*b) for b in blocks] == ["python · 2 lines · def f():", "code · 1 line"]
