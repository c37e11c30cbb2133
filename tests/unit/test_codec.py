"""The conversation file format (docs/design.md §4) is a contract: round trips, the
documented example, errors."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime

import pytest

from llama_tui.model import Conversation, ConversationParams, Message, Role, Stats, Usage
from llama_tui.storage import codec
from llama_tui.storage.codec import CodecError, FutureSchemaError

# The example of docs/design.md §4 (and of the product spec it came from).
DESIGN_EXAMPLE = '''\
schema_version = 1
id = "01JD8Z..."                  # sortable id
title = "Who wrote The Innovator's Dilemma"
created_at = 2026-11-23T19:55:52Z
updated_at = 2026-11-23T19:56:10Z
mode = "chat"                      # or "completion"
endpoint = "azure-llama2-7b-chat"  # a name from config, never the key
system = "You are a helpful assistant."

[params]
temperature = 0.7
top_p = 0.9
max_tokens = 512
memory_window = 5

[[messages]]
role = "user"
content = "Who wrote the book Innovators dilemma?"
created_at = 2026-11-23T19:55:52Z

[[messages]]
role = "assistant"
content = """Clayton Christensen ..."""
created_at = 2026-11-23T19:55:53Z
finish_reason = "stop"             # stop | length | content_filter | cancelled | error | interrupted
[messages.stats]
ttft_ms = 412
tokens = 57
tokens_per_s = 38.5
request_id = "..."
'''

NASTY = ('Line one\nshe said """triple""" and \'\'\'single\'\'\'\n'
         'C:\\Users\\me\\new\\table \\" \\\\ \\u0041\r\nCRLF line\r\n\ttab\tbetween\n'
         '\x1b[31mred\x1b[0m \x1b]52;c;SGk=\x07 \x7f bell\x07\n'
         'emoji 😀👍🏽 👨‍👩‍👧 e\u0301 中文 \u2028 sep\n[not a table]\n"""\nend with backslash\\')


def full_conversation() -> Conversation:
    t0 = datetime(2026, 11, 23, 19, 55, 52, 123000, tzinfo=UTC)
    t1 = datetime(2026, 11, 23, 19, 56, 10, 456000, tzinfo=UTC)
    return Conversation(
        id="01JD8ZQ5V3M8K2X4Y6Z7A9B0CD",
        title='Title with "quotes", [brackets] and\nnewline',
        created_at=t0,
        updated_at=t1,
        mode="completion",
        endpoint="azure-llama2-7b-chat",
        system="You are\n[1] helpful\n[2] brief \"\"\"",
        params=ConversationParams(temperature=0.7, top_p=0.9, max_tokens=512,
                                  stop=["</s>", "[INST]"], seed=3, presence_penalty=0.1,
                                  frequency_penalty=-0.2, memory_window=0),
        messages=[
            Message(Role.USER, NASTY, created_at=t0, extra={"attachments": ["a.txt"]}),
            Message(Role.ASSISTANT, NASTY[::-1], created_at=t1, finish_reason="length",
                    usage=Usage(12, 34, 46, reasoning_tokens=20), reasoning="Hmm.\n" + NASTY,
                    stats=Stats(ttft_ms=412, tokens=34, tokens_per_s=38.5, request_id="req-1",
                                duration_ms=1300),
                    extra={"rating": 5, "other_tool": {"model": "llama-2-70b", "n": [1, 2]}}),
            Message(Role.ASSISTANT, "", created_at=t1, finish_reason="error",
                    error="HTTP 500: boom"),
        ],
        pinned=True,
        extra={"tags": ["work", "books"], "folder": "reading",
               "other_tool": {"color": "blue"}},
    )


def test_round_trip_every_field() -> None:
    conv = full_conversation()
    text = codec.dumps(conv)
    assert codec.loads(text) == conv


def test_round_trip_keeps_content_byte_exact() -> None:
    conv = full_conversation()
    back = codec.loads(codec.dumps(conv))
    assert back.messages[0].content.encode("utf-8") == NASTY.encode("utf-8")
    assert "\r\n" in back.messages[0].content


def test_multi_line_text_stays_readable_unless_it_holds_a_carriage_return() -> None:
    conv = Conversation(id="X", messages=[Message(Role.USER, "one\ntwo")])
    assert '"""\none\ntwo"""' in codec.dumps(conv)
    conv.messages.append(Message(Role.ASSISTANT, "dos\r\nline"))
    text = codec.dumps(conv)
    assert "\r" not in text and '"one\\ntwo"' in text
    assert [m.content for m in codec.loads(text).messages] == ["one\ntwo", "dos\r\nline"]


def test_written_file_is_plain_toml_with_the_documented_keys() -> None:
    conv = full_conversation()
    conv.messages = conv.messages[:1]
    data = tomllib.loads(codec.dumps(conv))
    assert data["schema_version"] == codec.SCHEMA_VERSION
    assert list(data)[:9] == ["schema_version", "id", "title", "created_at", "updated_at", "mode",
                              "endpoint", "system", "pinned"]
    assert data["created_at"] == conv.created_at
    assert data["tags"] == ["work", "books"]
    assert data["messages"][0]["attachments"] == ["a.txt"]


def test_none_is_omitted() -> None:
    conv = Conversation(id="X", title="t")
    conv.messages.append(Message(Role.USER, "hi"))
    data = tomllib.loads(codec.dumps(conv))
    assert set(data) == {"schema_version", "id", "title", "created_at", "updated_at", "mode",
                         "messages"}
    assert set(data["messages"][0]) == {"role", "content", "created_at"}
    assert codec.loads(codec.dumps(conv)) == conv


def test_design_example_parses() -> None:
    conv = codec.loads(DESIGN_EXAMPLE)
    assert conv.id == "01JD8Z..."
    assert conv.title == "Who wrote The Innovator's Dilemma"
    assert conv.created_at == datetime(2026, 11, 23, 19, 55, 52, tzinfo=UTC)
    assert conv.updated_at == datetime(2026, 11, 23, 19, 56, 10, tzinfo=UTC)
    assert (conv.mode, conv.endpoint, conv.system) == (
        "chat", "azure-llama2-7b-chat", "You are a helpful assistant.")
    assert conv.params == ConversationParams(temperature=0.7, top_p=0.9, max_tokens=512,
                                             memory_window=5)
    user, assistant = conv.messages
    assert (user.role, user.content) == (Role.USER, "Who wrote the book Innovators dilemma?")
    assert user.created_at == datetime(2026, 11, 23, 19, 55, 52, tzinfo=UTC)
    assert (assistant.role, assistant.content, assistant.finish_reason) == (
        Role.ASSISTANT, "Clayton Christensen ...", "stop")
    assert assistant.stats == Stats(ttft_ms=412, tokens=57, tokens_per_s=38.5, request_id="...")
    assert conv.extra == {} and user.extra == {} and assistant.extra == {}
    assert codec.loads(codec.dumps(conv)) == conv


def test_minimal_file_gets_defaults() -> None:
    conv = codec.loads('title = "t"\n', fallback_id="01FILESTEM")
    assert (conv.id, conv.mode, conv.messages, conv.pinned) == ("01FILESTEM", "chat", [], False)
    assert conv.updated_at == conv.created_at
    with pytest.raises(CodecError, match="id: missing"):
        codec.loads('title = "t"\n')


@pytest.mark.parametrize("version", [2, 99])
def test_future_schema_is_refused(version: int) -> None:
    with pytest.raises(FutureSchemaError, match=f"schema_version {version}"):
        codec.loads(DESIGN_EXAMPLE.replace("schema_version = 1", f"schema_version = {version}"))


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ('schema_version = 1', 'schema_version = "1"', "schema_version"),
        ('title = "Who', 'title = 5\nx = "Who', "title"),
        ('mode = "chat"', 'mode = "voice"', "mode"),
        ('endpoint = "azure-llama2-7b-chat"', 'endpoint = 1', "endpoint"),
        ('created_at = 2026-11-23T19:55:52Z\nupdated', 'created_at = "yesterday"\nupdated',
         "created_at"),
        ("temperature = 0.7", 'temperature = "warm"', "params.temperature"),
        ("max_tokens = 512", "max_tokens = 512.5", "params.max_tokens"),
        ("memory_window = 5", "memory_window = true", "params.memory_window"),
        ('role = "user"', 'role = "robot"', "messages[0].role"),
        ('content = "Who wrote', 'content = 3\nx = "Who wrote', "messages[0].content"),
        ('finish_reason = "stop"', "finish_reason = 1", "messages[1].finish_reason"),
        ('created_at = 2026-11-23T19:55:53Z', 'created_at = "soon"', "messages[1].created_at"),
    ],
)
def test_wrong_types_are_named_by_key(old: str, new: str, key: str) -> None:
    assert old in DESIGN_EXAMPLE
    with pytest.raises(CodecError) as info:
        codec.loads(DESIGN_EXAMPLE.replace(old, new, 1))
    assert str(info.value).startswith(f"{key}:")


def test_invalid_toml() -> None:
    with pytest.raises(CodecError, match="not valid TOML"):
        codec.loads('title = "unterminated\n')


def test_naive_and_string_dates_are_read_as_utc() -> None:
    conv = codec.loads('id = "a"\ncreated_at = 2026-01-02T03:04:05\n'
                       'updated_at = "2026-01-02T03:04:06Z"\n')
    assert conv.created_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert conv.updated_at == datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC)


def test_unknown_params_keys_survive_a_round_trip() -> None:
    text = DESIGN_EXAMPLE.replace("memory_window = 5", "memory_window = 5\ntop_k = 40")
    assert tomllib.loads(codec.dumps(codec.loads(text)))["params"].get("top_k") == 40


def test_unknown_stats_keys_survive_a_round_trip() -> None:
    text = DESIGN_EXAMPLE.replace('request_id = "..."', 'request_id = "..."\ngpu = "A100"')
    data = tomllib.loads(codec.dumps(codec.loads(text)))
    assert data["messages"][1]["stats"].get("gpu") == "A100"


def test_a_parameter_no_server_accepts_is_kept_in_the_file_but_never_used() -> None:
    """`temperature = nan` (a hand edit) would reach the server as invalid JSON: not used,
    but written back as it was."""
    from llama_tui.storage.codec import dumps, loads

    text = 'schema_version = 1\nid = "A"\n\n[params]\ntemperature = nan\ntop_p = 0.5\n'
    conv = loads(text)
    assert conv.params.temperature is None and conv.params.top_p == 0.5
    assert "temperature = nan" in dumps(conv)


# The assistant message of docs/design.md §4 as of the 2026 wire: the model and the reasoning.
REASONING_EXAMPLE = DESIGN_EXAMPLE.replace(
    'finish_reason = "stop"             # stop',
    'model = "llama-3.1-8b-instruct"\nreasoning = """Let me recall..."""\n'
    'finish_reason = "stop"             # stop',
).replace('request_id = "..."', 'request_id = "..."\n[messages.usage]\ncompletion_tokens = 57\n'
          'reasoning_tokens = 20')


def test_reasoning_and_reasoning_tokens_are_read_and_written_back() -> None:
    conv = codec.loads(REASONING_EXAMPLE)
    reply = conv.messages[1]
    assert reply.reasoning == "Let me recall..." and reply.content == "Clayton Christensen ..."
    assert reply.usage == Usage(completion_tokens=57, reasoning_tokens=20)
    assert reply.extra == {"model": "llama-3.1-8b-instruct"}  # kept, not known yet
    data = tomllib.loads(codec.dumps(conv))["messages"][1]
    assert data["reasoning"] == "Let me recall..."
    assert data["usage"] == {"completion_tokens": 57, "reasoning_tokens": 20}
    assert codec.loads(codec.dumps(conv)) == conv


def test_a_file_without_reasoning_loads_as_before() -> None:
    reply = codec.loads(DESIGN_EXAMPLE).messages[1]
    assert reply.reasoning is None and reply.usage is None
    assert "reasoning" not in tomllib.loads(codec.dumps(codec.loads(DESIGN_EXAMPLE)))["messages"][1]


@pytest.mark.parametrize(("old", "new", "key"), [
    ('reasoning = """Let me recall..."""', "reasoning = 3", "messages[1].reasoning"),
    ("reasoning_tokens = 20", 'reasoning_tokens = "20"', "messages[1].usage.reasoning_tokens"),
])
def test_reasoning_fields_of_the_wrong_type_are_named(old: str, new: str, key: str) -> None:
    with pytest.raises(CodecError) as info:
        codec.loads(REASONING_EXAMPLE.replace(old, new, 1))
    assert str(info.value).startswith(f"{key}:")


def test_the_conversation_model_round_trips_and_old_files_load() -> None:
    dumps, loads = codec.dumps, codec.loads
    conv = Conversation(title="t", endpoint="openai", model="gpt-5-mini")
    text = dumps(conv)
    assert 'model = "gpt-5-mini"' in text.split("[")[0]  # top level, before any table
    assert loads(text).model == "gpt-5-mini"
    assert loads(dumps(Conversation(title="old"))).model is None
    assert 'model' not in dumps(Conversation(title="none")).split("[")[0]
    odd = loads('schema_version = 1\nid = "X1"\nmodel = {name = "other tool"}\n')
    assert odd.model is None and odd.extra == {"model": {"name": "other tool"}}
    assert "[model]" in dumps(odd) or "model = {" in dumps(odd)  # kept, not ours
