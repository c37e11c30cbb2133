"""What goes into a request: the memory window, the Llama 2 chat format, prompt templates.

The notebook's chatbot remembers the last k exchanges; its translator is a template with
variables; its raw-completion examples format chats as Llama 2 `[INST]` prompts. All three
live here as pure functions.
"""

from __future__ import annotations

import re
import string
import tomllib
from dataclasses import dataclass
from pathlib import Path

from llama_tui.model import Conversation, Message, Role


def window(messages: list[Message], k: int | None) -> list[Message]:
    """The last `k` exchanges (user + assistant pairs) of a history; None keeps everything.

    An exchange starts at a user message. Failed or empty assistant replies are not sent, nor
    the user turns they answered.
    """
    history = [m for m in messages if m.role != Role.SYSTEM and _sendable(m)]
    # A user turn whose reply failed is dropped with it: roles must keep alternating.
    history = [m for i, m in enumerate(history)
               if not (m.role == Role.USER and i + 1 < len(history)
                       and history[i + 1].role == Role.USER)]
    if k is None:
        return history
    if k <= 0:
        return []
    starts = [i for i, m in enumerate(history) if m.role == Role.USER]
    if len(starts) <= k:
        return history
    return history[starts[-k]:]


def _sendable(message: Message) -> bool:
    if message.extra.get("superseded"):  # an earlier version of a regenerated reply
        return False
    if message.role == Role.ASSISTANT:
        return bool(message.content.strip()) and message.finish_reason != "error"
    return True


def build_messages(
    conversation: Conversation, new_prompt: str | None = None, k: int | None = None
) -> list[dict[str, str]]:
    """Chat messages for a request: system prompt, the last k exchanges, then the new turn.

    With `new_prompt=None` the conversation's last user message is the new turn (it was
    appended and saved before the request, docs/design.md §2). Only role and content go: a reply's
    reasoning (`Message.reasoning`) is never sent back (docs/design.md §3).
    """
    history = list(conversation.messages)
    if new_prompt is None:
        last_user = max((i for i, m in enumerate(history) if m.role == Role.USER), default=None)
        if last_user is None:
            raise ValueError("the conversation has no user message to send")
        new_prompt = history[last_user].content
        history = history[:last_user]
    out: list[dict[str, str]] = []
    if conversation.system:
        out.append({"role": "system", "content": conversation.system})
    kept = window(history, k)
    if kept and kept[-1].role == Role.USER:
        kept.pop()  # its reply failed: the new turn follows instead
    out += [{"role": m.role.value, "content": m.content} for m in kept]
    out.append({"role": "user", "content": new_prompt})
    return out


# -- Llama 2 chat format ----------------------------------------------------------------------

B_INST, E_INST = "[INST]", "[/INST]"
B_SYS, E_SYS = "<<SYS>>\n", "\n<</SYS>>\n\n"
LLAMA2_STOP = ["</s>", "[INST]"]
_SPECIAL = ("[INST]", "[/INST]", "<<SYS>>", "<</SYS>>")


class PromptFormatError(ValueError):
    pass


def format_llama2(messages: list[dict[str, str]]) -> str:
    """Render chat messages as Meta's reference Llama 2 prompt (no leading `<s>`: servers add BOS).

    `[INST] <<SYS>>\\n{system}\\n<</SYS>>\\n\\n{user} [/INST] {assistant} </s><s>[INST] {user} [/INST]`
    The system prompt is folded into the first user turn; roles must alternate user/assistant
    and end with a user turn; text containing the special tags is refused.
    """
    for m in messages:
        for tag in _SPECIAL:
            if tag in m["content"]:
                raise PromptFormatError(
                    f"a {m['role']} message contains {tag!r}, which the Llama 2 format reserves"
                )
    turns = list(messages)
    if turns and turns[0]["role"] == "system":
        system = turns.pop(0)["content"]
        if not turns or turns[0]["role"] != "user":
            raise PromptFormatError("a system prompt must be followed by a user message")
        turns[0] = {"role": "user", "content": B_SYS + system + E_SYS + turns[0]["content"]}
    if not turns or turns[-1]["role"] != "user":
        raise PromptFormatError("the last message must be from the user")
    parts: list[str] = []
    for i, m in enumerate(turns):
        expected = "user" if i % 2 == 0 else "assistant"
        if m["role"] != expected:
            raise PromptFormatError(
                f"roles must alternate user/assistant; message {i + 1} is {m['role']}"
            )
        if expected == "user":
            prefix = "" if i == 0 else "<s>"
            parts.append(f"{prefix}{B_INST} {m['content'].strip()} {E_INST}")
        else:
            parts.append(f" {m['content'].strip()} </s>")
    return "".join(parts)


# -- templates --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Template:
    name: str
    text: str
    description: str = ""
    system: str | None = None

    @property
    def variables(self) -> list[str]:
        names: list[str] = []
        for _, field_name, _, _ in string.Formatter().parse(self.text):
            if field_name and field_name not in names:
                names.append(field_name)
        return names

    def render(self, values: dict[str, str]) -> str:
        missing = [v for v in self.variables if v not in values]
        if missing:
            raise TemplateError(
                f"template {self.name!r} needs " + ", ".join(missing)
                + " (give each with --var NAME=VALUE)"
            )
        # One pass, so a value's own "{{" or "}}" is inserted as is, not unescaped.
        return _TOKEN.sub(
            lambda m: values[m.group(1)] if m.group(1) else m.group(0)[0], self.text
        )


_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


class TemplateError(ValueError):
    pass


BUILTIN_TEMPLATES = {
    "translator": Template(
        name="translator",
        description="Translate text between languages (the notebook's example)",
        text=(
            "Translate the following content from {input_language} to {output_language} "
            "and reply with only the translated result.\n{input_content}"
        ),
    ),
}


def load_templates(path: Path | None) -> dict[str, Template]:
    """Built-in templates plus user ones from `templates.toml` (`[name] text = "..."`)."""
    templates = dict(BUILTIN_TEMPLATES)
    if path is None or not path.exists():
        return templates
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise TemplateError(f"{path}: cannot read templates: {exc}") from None
    for name, table in data.items():
        if not isinstance(table, dict) or not isinstance(table.get("text"), str):
            raise TemplateError(f"{path}: {name}: each template needs text = \"...\"")
        templates[name] = Template(name, table["text"], str(table.get("description", "")),
                                   table.get("system"))
    return templates
