"""Domain objects shared by every layer: messages, conversations, endpoints, parameters.

Plain dataclasses with no I/O. The storage codec turns them into TOML, the client turns an
`Endpoint` plus a `GenerationRequest` into HTTP, the UI shows them.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

Mode = Literal["chat", "completion"]
AuthScheme = Literal["bearer", "raw", "api-key"]
AUTH_SCHEMES: tuple[AuthScheme, ...] = ("bearer", "raw", "api-key")
#: The request field that caps the reply (OpenAI's newer models refuse `max_tokens`).
MaxTokensField = Literal["max_tokens", "max_completion_tokens"]
MAX_TOKENS_FIELDS: tuple[MaxTokensField, ...] = ("max_tokens", "max_completion_tokens")
#: How a reasoning effort is sent: `reasoning_effort` (OpenAI, vLLM, Ollama, OpenRouter) or
#: `chat_template_kwargs.enable_thinking` (Qwen3 and similar templates on vLLM / llama.cpp).
ReasoningControl = Literal["reasoning_effort", "chat_template_kwargs"]
REASONING_CONTROLS: tuple[ReasoningControl, ...] = ("reasoning_effort", "chat_template_kwargs")
#: What a request may ask for; "off" goes on the wire as "none" (or enable_thinking false).
REASONING_EFFORTS = ("off", "low", "medium", "high")
MODES: tuple[Mode, ...] = ("chat", "completion")

#: finish_reason values a saved assistant message may carry (docs/design.md §4).
FINISH_REASONS = ("stop", "length", "content_filter", "cancelled", "error", "interrupted")


class Role(StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"


def utcnow() -> datetime:
    """Now, in UTC, at millisecond precision (what the files store)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id() -> str:
    """A 26-character ULID: 48 bits of milliseconds then 80 random bits, sortable by time."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(secrets.token_bytes(10))
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


@dataclass
class Usage:
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    #: Of `completion_tokens`, those a reasoning model spent thinking
    #: (`completion_tokens_details.reasoning_tokens` on the wire).
    reasoning_tokens: int | None = None

    @classmethod
    def from_json(cls, data: Any) -> Usage | None:
        if not isinstance(data, dict):
            return None
        details = data.get("completion_tokens_details")
        usage = cls(_as_int(data, "prompt_tokens"), _as_int(data, "completion_tokens"),
                    _as_int(data, "total_tokens"),
                    _as_int(details, "reasoning_tokens") if isinstance(details, dict) else None)
        return usage if usage != cls() else None

    def words(self) -> str:
        """"412 in · 57 out · 30 thinking" (what the server counted), "" when it said nothing."""
        parts = []
        if self.prompt_tokens is not None:
            parts.append(f"{self.prompt_tokens:,} in")
        if self.completion_tokens is not None:
            parts.append(f"{self.completion_tokens:,} out")
        if self.reasoning_tokens:
            parts.append(f"{self.reasoning_tokens:,} thinking")
        return " · ".join(parts)


def _as_int(data: dict[str, Any], key: str) -> int | None:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass
class Stats:
    """What one reply cost: shown per reply and saved under `[messages.stats]`."""

    #: To the first token of any kind: a reasoning model's first thought counts.
    ttft_ms: int | None = None
    tokens: int | None = None
    tokens_per_s: float | None = None
    request_id: str | None = None
    duration_ms: int | None = None


@dataclass
class GenerationParams:
    """Sampling parameters. None means "not set here": the next layer's default applies."""

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None

    def merged_over(self, base: GenerationParams) -> GenerationParams:
        """These params, with every unset field taken from `base`."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        for name, value in values.items():
            if value is None:
                values[name] = getattr(base, name)
        return GenerationParams(**values)

    def as_dict(self) -> dict[str, Any]:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {name: value for name, value in values.items() if value is not None}


#: Header names that carry a key even though no part of them says so.
_SECRET_HEADER_NAMES = frozenset({"api-key", "x-api-key", "ocp-apim-subscription-key"})
_SECRET_HEADER_WORDS = ("key", "token", "secret", "auth", "signature", "password", "cookie",
                        "session")
#: What a secret header's value shows as wherever config is shown or logged.
SECRET_HIDDEN = "[hidden]"


def is_secret_header(name: str) -> bool:
    """Whether a header carries a credential and must be treated like the key everywhere
    (shown, logged, inspected). The one place that decides it (docs/design.md §3)."""
    lowered = name.strip().lower()
    return lowered in _SECRET_HEADER_NAMES or any(w in lowered for w in _SECRET_HEADER_WORDS)


def shown_headers(headers: dict[str, str]) -> dict[str, str]:
    """`headers` with every secret value replaced by `SECRET_HIDDEN`."""
    return {name: SECRET_HIDDEN if is_secret_header(name) else value
            for name, value in headers.items()}


#: Always sent: Azure's default of 16 tokens surprises everybody.
DEFAULT_MAX_TOKENS = 1024


@dataclass
class Endpoint:
    """Where and how to reach a server. The key never leaves this object except in a header."""

    name: str
    url: str
    kind: Mode = "chat"
    auth: AuthScheme = "bearer"
    api_key: str | None = field(default=None, repr=False)
    #: Where the key comes from when it is not written in the config: a variable or a command.
    key_env: str | None = None
    key_cmd: str | None = None
    model: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    prompt_format: Literal["llama2"] | None = None
    verify: bool | str = True
    max_retries: int = 2
    #: None: `max_tokens` until the server refuses it (the client then learns the other one).
    max_tokens_field: MaxTokensField | None = None
    reasoning_control: ReasoningControl = "reasoning_effort"

    def with_key(self, key: str | None) -> Endpoint:
        return replace(self, api_key=key)

    def secrets(self) -> list[str]:
        """The key and every secret header value: what must never be shown or logged."""
        values = [self.api_key] if self.api_key else []
        values += [v for n, v in self.headers.items() if v and is_secret_header(n)]
        return values

    def __repr__(self) -> str:
        # Hand-written so that secret header values are hidden like the key (repr=False).
        parts = []
        for f in fields(self):
            if not f.repr:
                continue
            value = getattr(self, f.name)
            if f.name == "headers":
                value = shown_headers(value)
            parts.append(f"{f.name}={value!r}")
        return f"Endpoint({', '.join(parts)})"


@dataclass
class Message:
    role: Role
    content: str
    created_at: datetime = field(default_factory=utcnow)
    finish_reason: str | None = None
    error: str | None = None
    usage: Usage | None = None
    stats: Stats | None = None
    #: A reasoning model's thinking: shown apart, saved, never sent back to the server.
    reasoning: str | None = None
    #: Fields this version does not know, kept so other tools' data survives a round trip.
    extra: dict[str, Any] = field(default_factory=dict)
    #: Unknown keys inside known sub-tables (`stats`, `usage`), kept likewise.
    extra_tables: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class ConversationParams(GenerationParams):
    """Per-conversation parameters: generation params plus the memory window."""

    #: The last k exchanges go with each request; None = everything, 0 = only the new message.
    memory_window: int | None = None
    #: How hard a reasoning model thinks: "off", "low", "medium", "high"; None: the server's
    #: default (nothing is sent).
    reasoning_effort: str | None = None

    def generation(self) -> GenerationParams:
        return GenerationParams(
            **{f.name: getattr(self, f.name) for f in fields(GenerationParams)}
        )


@dataclass
class Conversation:
    id: str = field(default_factory=new_id)
    title: str = ""
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    mode: Mode = "chat"
    endpoint: str | None = None
    #: The model asked for (chosen in the app or by `ask --model`); None: the endpoint's.
    model: str | None = None
    system: str | None = None
    params: ConversationParams = field(default_factory=ConversationParams)
    messages: list[Message] = field(default_factory=list)
    pinned: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    #: Unknown keys inside known sub-tables (`params`), kept for the round trip.
    extra_tables: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, message: Message) -> Message:
        self.messages.append(message)
        self.touch()
        return message

    def touch(self) -> None:
        self.updated_at = utcnow()


def title_from_prompt(prompt: str, limit: int = 60) -> str:
    """A conversation title from its first prompt: the first line, cut at a word near `limit`."""
    line = next((part.strip() for part in prompt.splitlines() if part.strip()), "")
    line = " ".join(line.split())
    if len(line) <= limit:
        return line or "Untitled"
    cut = line[:limit].rsplit(" ", 1)[0]
    return (cut if len(cut) > limit // 2 else line[:limit]).rstrip(" ,.;:") + "…"
