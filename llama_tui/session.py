"""Conversation operations shared by the CLI and the app: start, add a prompt, finish a reply.

Keeping these in one place means a conversation saved by `llama-tui ask --save` and one saved
by the app look the same on disk.
"""

from __future__ import annotations

from llama_tui.client.dialects import GenerationRequest, build_payload, resolve_url
from llama_tui.config import Config
from llama_tui.inspector import RequestRecord, redacted_headers
from llama_tui.model import (
    Conversation,
    Endpoint,
    GenerationParams,
    Message,
    Mode,
    Role,
    Stats,
    Usage,
    title_from_prompt,
    utcnow,
)
from llama_tui.prompts import LLAMA2_STOP, build_messages, format_llama2
from llama_tui.sanitize import sanitize


def start_conversation(
    endpoint: str | None, system: str | None, mode: Mode = "chat", memory_window: int | None = None
) -> Conversation:
    conv = Conversation(endpoint=endpoint, system=system, mode=mode)
    conv.params.memory_window = memory_window
    return conv


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


def set_document(conv: Conversation, document: str) -> None:
    """Record a completion-mode document before continuing it.

    Text added at the end becomes a new user segment after the existing ones; an edit inside
    earlier text makes the whole document one user segment (what was written by whom can no
    longer be told apart)."""
    existing = "".join(m.content for m in conv.messages)
    if document.startswith(existing):
        added = document[len(existing):]
        if added:
            add_prompt(conv, added)
    else:
        conv.messages = []
        add_prompt(conv, document)
    conv.touch()


def build_request(
    config: Config,
    conv: Conversation,
    endpoint: Endpoint,
    *,
    prompt: str | None = None,
    document: str | None = None,
    overrides: GenerationParams | None = None,
    mode: Mode | None = None,
    prompt_format: str | None = None,
    stream: bool = True,
    reasoning_effort: str | None = None,
) -> GenerationRequest:
    """The request for the next turn of `conv` (the CLI and the app both use this).

    Parameters: `overrides` (CLI flags) over the conversation's over the config defaults.
    Chat: system prompt + the last k exchanges + `prompt` (or the conversation's last user
    message when `prompt` is None). A completion endpoint gets the Llama 2 [INST] rendering of
    the same messages when its prompt format is llama2, else the plain prompt; a completion
    document is sent whole. A reasoning effort (`reasoning_effort`, else the conversation's)
    goes with chat requests.
    """
    effort = reasoning_effort or conv.params.reasoning_effort
    params = (overrides or GenerationParams()).merged_over(conv.params.generation())
    params = params.merged_over(config.defaults)
    if document is not None:
        return GenerationRequest("completion", prompt=document, params=params, stream=stream)
    messages = build_messages(conv, prompt, conv.params.memory_window)
    if (mode or endpoint.kind) == "chat":
        return GenerationRequest("chat", messages=messages, params=params, stream=stream,
                                 reasoning_effort=effort)
    text = messages[-1]["content"]
    if (prompt_format or endpoint.prompt_format) == "llama2":
        text = format_llama2(messages)
        params.stop = list(dict.fromkeys((params.stop or []) + LLAMA2_STOP))
    return GenerationRequest("completion", prompt=text, params=params, stream=stream)


def next_request_size(conv: Conversation | None, k: int | None, system: str | None) -> int:
    """How many messages the next chat request will carry (system + window + the new turn)."""
    if conv is None or not conv.messages:
        return 2 if (conv.system if conv else system) else 1
    return len(build_messages(conv, "next", k))


#: Characters per token in the estimates below (English text; code and other scripts vary).
CHARS_PER_TOKEN = 4


def estimate_tokens(conv: Conversation | None, prompt: str, k: int | None,
                    system: str | None = None) -> int:
    """About how many tokens the next chat request will carry with `prompt` as its new turn:
    the last reply's usage (prompt + completion tokens, what the server counted) plus what was
    added since and the new prompt at `CHARS_PER_TOKEN`; without usage, the whole request at
    that rate (the system prompt and the memory window included)."""
    if conv is None or not conv.messages:
        text = (conv.system if conv else system) or ""
        return (len(text) + len(prompt)) // CHARS_PER_TOKEN
    added = len(prompt)
    for message in reversed(conv.messages):
        usage = message.usage
        if message.role == Role.ASSISTANT and usage is not None \
                and usage.prompt_tokens is not None:
            return usage.prompt_tokens + (usage.completion_tokens or 0) \
                + added // CHARS_PER_TOKEN
        added += len(message.content)
    sent = build_messages(conv, prompt, k)
    return sum(len(m["content"]) for m in sent) // CHARS_PER_TOKEN


def request_record(endpoint: Endpoint, request: GenerationRequest) -> RequestRecord:
    """The request as the inspector shows it, with the key replaced by a variable."""
    return RequestRecord(
        url=resolve_url(endpoint.url, request.mode),
        body=build_payload(endpoint, request),
        request_headers=redacted_headers(endpoint),
    )


#: The request that names a conversation ("title: generate"): short, cheap, no thinking.
TITLE_PROMPT = ("Give this conversation a title of at most six words. Answer with the title "
                "only: no quotes, no punctuation at the end.")
#: Room for a reasoning model to think a little before the six words.
TITLE_MAX_TOKENS = 256


def title_request(conv: Conversation) -> GenerationRequest:
    """One short request asking the model for a title from the conversation's start (its
    first exchange, cut): not a turn of the conversation, never saved in it."""
    opening = [m for m in conv.messages if m.role in (Role.USER, Role.ASSISTANT)][:2]
    excerpt = "\n\n".join(f"{m.role.value}: {m.content[:1500]}" for m in opening)
    messages = [{"role": "user", "content": f"{TITLE_PROMPT}\n\n{excerpt}"}]
    params = GenerationParams(max_tokens=TITLE_MAX_TOKENS, temperature=0.2)
    return GenerationRequest("chat", messages=messages, params=params, stream=False)


def title_from_reply(text: str) -> str | None:
    """The title in a model's answer (first line, quotes and end punctuation gone), or None."""
    line = next((part.strip() for part in sanitize(text).splitlines() if part.strip()), "")
    line = line.strip("\"'`*# ").rstrip(".!:;,")
    if line.lower().startswith("title:"):
        line = line[len("title:"):].strip()
    return title_from_prompt(line) if line else None
