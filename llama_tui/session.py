"""Conversation operations shared by the CLI and the app: start, add a prompt, finish a reply.

Keeping these in one place means a conversation saved by `llama-tui ask --save` and one saved
by the app look the same on disk.
"""

from __future__ import annotations

from llama_tui.model import (
    Conversation,
    Message,
    Mode,
    Role,
    Stats,
    Usage,
    title_from_prompt,
    utcnow,
)
from llama_tui.sanitize import sanitize


def start_conversation(endpoint: str | None, system: str | None, mode: Mode = "chat") -> Conversation:
    return Conversation(endpoint=endpoint, system=system, mode=mode)


def add_prompt(conv: Conversation, text: str) -> Message:
    """Append the user's message; the first one also names the conversation."""
    if not conv.title:
        conv.title = title_from_prompt(text)
    return conv.add(Message(Role.USER, text))


def begin_reply(conv: Conversation) -> Message:
    """Append an empty assistant message that a stream will fill (checkpointed as it grows)."""
    return conv.add(Message(Role.ASSISTANT, "", finish_reason="interrupted"))


def finish_reply(
    conv: Conversation,
    text: str,
    finish_reason: str,
    *,
    message: Message | None = None,
    stats: Stats | None = None,
    usage: Usage | None = None,
    error: str | None = None,
) -> Message:
    """Record how a reply ended. Model text is sanitised before it is stored or shown."""
    if message is None:
        message = conv.add(Message(Role.ASSISTANT, ""))
    message.content = sanitize(text)
    message.finish_reason = finish_reason
    message.stats = stats
    message.usage = usage
    message.error = error
    message.created_at = message.created_at or utcnow()
    conv.touch()
    return message
