"""Conversations out of and into llama-tui: Markdown and JSON exports, JSON/TOML imports."""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path
from typing import Any

from llama_tui.model import Conversation, Message, new_id, utcnow
from llama_tui.storage import codec


def to_markdown(conv: Conversation) -> str:
    lines = [f"# {conv.title or 'Untitled'}", ""]
    meta = [f"created {conv.created_at:%Y-%m-%d %H:%M} UTC"]
    if conv.endpoint:
        meta.append(f"endpoint {conv.endpoint}")
    lines += ["*" + " · ".join(meta) + "*", ""]
    if conv.system:
        lines += ["**System**", "", conv.system, ""]
    for message in conv.messages:
        head = f"**{message.role.value.capitalize()}**"
        if message.finish_reason and message.finish_reason != "stop":
            head += f" *({message.finish_reason})*"
        lines += [head, "", message.content, ""]
    return "\n".join(lines)


def to_json(conv: Conversation) -> str:
    """The TOML document's content as JSON (dates as ISO 8601 strings): imports back exactly."""

    def default(value: Any) -> Any:
        return value.isoformat()

    return json.dumps(codec.encode(conv), default=default, ensure_ascii=False, indent=2) + "\n"


class ConversationImportError(ValueError):
    """A file that cannot be imported, with the reason in words."""


def read_import(path: Path) -> Conversation:
    """A conversation from a JSON export or a llama-tui TOML file, under a fresh id."""
    try:
        raw = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConversationImportError(f"{path}: cannot read: {exc}") from None
    try:
        data = json.loads(raw) if path.suffix.lower() == ".json" else tomllib.loads(raw)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConversationImportError(
            f"{path.name}: not valid {path.suffix.lstrip('.') or 'TOML'}: {exc}"
        ) from None
    if not isinstance(data, dict):
        raise ConversationImportError(f"{path.name}: not a conversation")
    try:
        conv = codec.decode(data, fallback_id=new_id())
    except codec.CodecError as exc:
        raise ConversationImportError(f"{path.name}: {exc}") from None
    conv.id = new_id()
    conv.updated_at = utcnow()
    return conv


def fork(conv: Conversation, upto: int) -> Conversation:
    """A new conversation with the history up to and including message `upto`."""
    forked = copy.deepcopy(conv)
    forked.id = new_id()
    forked.messages = [copy.deepcopy(m) for m in conv.messages[: upto + 1]]
    forked.title = f"{conv.title} (fork)" if conv.title else "Fork"
    forked.created_at = forked.updated_at = utcnow()
    forked.pinned = False
    return forked


def message_at(conv: Conversation, message: Message) -> int:
    """The index of `message` (by identity) in the conversation."""
    for i, m in enumerate(conv.messages):
        if m is message:
            return i
    raise ValueError("message not in this conversation")
