"""Conversations out of and into llama-tui: Markdown and JSON exports, JSON/TOML imports."""

from __future__ import annotations

import copy
import json
import tomllib
import unicodedata
from pathlib import Path
from typing import Any

from llama_tui.model import Conversation, Message, new_id, utcnow
from llama_tui.storage import codec, ids
from llama_tui.storage.atomic import atomic_write
from llama_tui.storage.files import MAX_CONVERSATION_BYTES, read_regular


def to_markdown(conv: Conversation) -> str:
    """The conversation as Markdown: one section per message; a regenerated reply is marked
    as the earlier version, a reply's thinking is a collapsed `<details>` block above it."""
    lines = [f"# {conv.title or 'Untitled'}", ""]
    meta = [f"created {conv.created_at:%Y-%m-%d %H:%M} UTC"]
    if conv.endpoint:
        meta.append(f"endpoint {conv.endpoint}")
    lines += ["*" + " · ".join(meta) + "*", ""]
    if conv.system:
        lines += ["**System**", "", conv.system, ""]
    for message in conv.messages:
        head = f"**{message.role.value.capitalize()}**"
        if message.extra.get("superseded"):
            head = f"**{message.role.value.capitalize()} (earlier version)**"
        if message.finish_reason and message.finish_reason != "stop":
            head += f" *({message.finish_reason})*"
        lines += [head, ""]
        if message.reasoning:
            # Its own closing tag would end the block early (the rest would show open).
            thinking = message.reasoning.strip().replace("</details", "&lt;/details")
            lines += ["<details><summary>Thinking</summary>", "", thinking, "", "</details>",
                      ""]
        lines += [message.content, ""]
    return "\n".join(lines)


def to_json(conv: Conversation) -> str:
    """The TOML document's content as JSON (dates as ISO 8601 strings): imports back exactly."""

    def default(value: Any) -> Any:
        return value.isoformat()

    return json.dumps(codec.encode(conv), default=default, ensure_ascii=False, indent=2) + "\n"


def slug(title: str, limit: int = 40, max_bytes: int = 96) -> str:
    """A file-name part from a title: letters, marks and digits of any script kept
    (`日本語の質問`, `हिन्दी` stay), every other run (spaces, `/`, `.`, controls, punctuation,
    symbols) one `-`, lower case; at most `limit` characters and `max_bytes` UTF-8 bytes (a
    file name has 255 bytes, and the id and a temp file's affixes need their share)."""
    out: list[str] = []
    size = 0
    for char in unicodedata.normalize("NFC", title.lower()):
        keep = unicodedata.category(char)[0] in "LMN"
        piece = char if keep else "-"
        if not keep and (not out or out[-1] == "-"):
            continue
        size += len(piece.encode("utf-8"))
        if len(out) >= limit or size > max_bytes:
            break
        out.append(piece)
    return "".join(out).strip("-") or "conversation"


def write_exports(conv: Conversation, folder: Path) -> Path:
    """`<slug>-<id>.md` and `.json` in `folder`, written atomically and private (0600 at
    most, less under a stricter umask). Returns the common path without the suffix."""
    conv_id = conv.id if ids.is_safe_id(conv.id) else slug(conv.id, 64)
    base = folder / f"{slug(conv.title)}-{conv_id}"
    atomic_write(base.with_name(base.name + ".md"), to_markdown(conv).encode("utf-8"))
    atomic_write(base.with_name(base.name + ".json"), to_json(conv).encode("utf-8"))
    return base


class ConversationImportError(ValueError):
    """A file that cannot be imported, with the reason in words."""


def read_import(path: Path) -> Conversation:
    """A conversation from a JSON export or a llama-tui TOML file, under a fresh id."""
    try:
        raw = read_regular(path, MAX_CONVERSATION_BYTES)[0].decode("utf-8")
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


#: Starts the title of a fork: a prefix, so a long title cut to fit the list keeps it.
FORK_MARK = "⑂ "


def fork(conv: Conversation, upto: int) -> Conversation:
    """A new conversation with the history up to and including message `upto` (-1: none),
    titled `FORK_MARK` + the original title (once, however often it was forked)."""
    forked = copy.deepcopy(conv)
    forked.id = new_id()
    forked.messages = [copy.deepcopy(m) for m in conv.messages[: upto + 1]]
    title = conv.title.removeprefix(FORK_MARK)
    forked.title = FORK_MARK + (title or "Fork")
    forked.created_at = forked.updated_at = utcnow()
    forked.pinned = False
    return forked


def message_at(conv: Conversation, message: Message) -> int:
    """The index of `message` (by identity) in the conversation."""
    for i, m in enumerate(conv.messages):
        if m is message:
            return i
    raise ValueError("message not in this conversation")
