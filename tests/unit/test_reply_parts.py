"""A reply split into its parts (llama_tui/client/reply_parts.py): inline `<think>` blocks cut
anywhere, tool-call fragments from every server shape, the reply state's totals."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llama_tui.client.events import ResponseStarted, ToolCall
from llama_tui.client.reply_parts import ReplyState, ThinkSplitter, ToolCallAssembler
from tests.fakeserver import tool_call_deltas


def split(pieces: list[str]) -> tuple[str, str, ThinkSplitter]:
    """All reasoning and all answer text the splitter gives for `pieces`, then closed."""
    splitter = ThinkSplitter()
    reasoning, answer = "", ""
    for piece in pieces:
        r, a = splitter.feed(piece)
        reasoning, answer = reasoning + r, answer + a
    r, a = splitter.close()
    return reasoning + r, answer + a, splitter


def cuts(text: str, marks: tuple[int, ...]) -> list[str]:
    bounds = [0, *sorted(set(marks)), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


#: (content as sent, reasoning, answer)
CASES = [
    ("<think>Paris is the capital.</think>\n\nParis.", "Paris is the capital.", "Paris."),
    ("\n  <think>\nhmm\n</think>Yes", "\nhmm\n", "Yes"),  # leading whitespace tolerated
    ("<think></think>\n\nEmpty thought.", "", "Empty thought."),
    ("<think>a < b and </th is not </think>\n ok", "a < b and </th is not ", "ok"),
    ("Use <think> tags like this.", "", "Use <think> tags like this."),  # later: text
    ("<thinking>no</thinking>", "", "<thinking>no</thinking>"),  # another tag: text
    ("<b>bold</b>", "", "<b>bold</b>"),
    ("  plain", "", "  plain"),
    ("<thi", "", "<thi"),  # a stream that ends on a would-be tag: text
    ("   ", "", "   "),
]


@pytest.mark.parametrize(("content", "reasoning", "answer"), CASES)
def test_every_two_cuts_give_the_same_parts(content: str, reasoning: str, answer: str) -> None:
    """Whole, and cut at every pair of places (tags split as `<thi` + `nk>`, `</th` + `ink>`)."""
    assert split([content])[:2] == (reasoning, answer)
    for i, j in itertools.combinations_with_replacement(range(len(content) + 1), 2):
        assert split(cuts(content, (i, j)))[:2] == (reasoning, answer), (i, j)


@given(st.sampled_from(CASES), st.lists(st.integers(0, 60), max_size=12))
def test_any_cuts_give_the_same_parts(case: tuple[str, str, str], marks: list[int]) -> None:
    content, reasoning, answer = case
    assert split(cuts(content, tuple(m for m in marks if m <= len(content))))[:2] == \
        (reasoning, answer)


def test_answer_text_is_not_held_back_once_decided() -> None:
    splitter = ThinkSplitter()
    assert splitter.feed("<") == ("", "")  # may begin <think>: wait
    assert splitter.feed("b>") == ("", "<b>")
    assert splitter.decided and splitter.feed("<think>") == ("", "<think>")


def test_reasoning_is_given_as_it_comes_holding_only_a_possible_tag() -> None:
    splitter = ThinkSplitter()
    assert splitter.feed("<think>step one") == ("step one", "")
    assert splitter.feed(" then </th") == (" then ", "")
    assert splitter.feed("ought") == ("</thought", "")  # not the tag after all
    assert splitter.feed("</think>") == ("", "")
    assert splitter.feed("\n\n") == ("", "")  # the newlines after </think> are dropped
    assert splitter.feed("Answer") == ("", "Answer") and splitter.decided


def test_a_stream_that_ends_inside_think_only_reasoned() -> None:
    reasoning, answer, splitter = split(["<think>I should count: 1, 2, </thi"])
    assert (reasoning, answer) == ("I should count: 1, 2, </thi", "")
    assert splitter.saw_think


# -- tool calls -------------------------------------------------------------------------------

CALLS = [("get_weather", '{"city": "Paris"}'), ("get_time", '{"tz": "Europe/Paris"}')]


def assembled(fragments: list[list[dict[str, object]]]) -> tuple[ToolCall, ...]:
    assembler = ToolCallAssembler()
    for chunk in fragments:
        assembler.add(chunk)
    return assembler.calls()


@pytest.mark.parametrize("options", [
    {}, {"index_base": 1}, {"omit_index": True}, {"cut": 1}, {"ids": False},
    {"omit_index": True, "cut": 100}, {"omit_index": True, "ids": False},
])
def test_tool_calls_from_every_fragment_shape(options: dict[str, object]) -> None:
    deltas = tool_call_deltas(CALLS, **options)  # type: ignore[arg-type]
    calls = assembled([d["tool_calls"] for d in deltas])
    assert [(c.name, c.arguments) for c in calls] == CALLS
    assert [c.render() for c in calls] == ['get_weather({"city": "Paris"})',
                                           'get_time({"tz": "Europe/Paris"})']
    if options.get("ids", True):
        assert [c.id for c in calls] == ["call_0", "call_1"]


def test_tool_calls_numbered_zero_with_different_ids_are_different_calls() -> None:
    calls = assembled([
        [{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{}"}}],
        [{"index": 0, "id": "b", "function": {"name": "g", "arguments": "{"}}],
        [{"index": 0, "function": {"arguments": "}"}}],
    ])
    assert calls == (ToolCall("f", "{}", "a"), ToolCall("g", "{}", "b"))


def test_parallel_tool_calls_in_one_chunk_and_whole_objects() -> None:
    calls = assembled([
        [{"id": "a", "function": {"name": "f", "arguments": {"x": 1}}},
         {"id": "b", "function": {"name": "g", "arguments": ""}}],
        [{"id": "b", "function": {"name": "g", "arguments": "{}"}}],  # the name repeated
        ["junk", {"index": "x"}],
    ])
    assert calls[:2] == (ToolCall("f", '{"x": 1}', "a"), ToolCall("g", "{}", "b"))


# -- the reply state ----------------------------------------------------------------------------

def chunk(**delta: object) -> dict[str, object]:
    return {"choices": [{"index": 0, "delta": delta}]}


def test_reply_state_reasoning_only_and_counts() -> None:
    state = ReplyState(0.0, [])
    assert state.add(chunk(reasoning_content="hmm", content=None)) == ""
    assert state.take_reasoning() == "hmm"
    state.add({"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}],
               "usage": {"completion_tokens": 9,
                         "completion_tokens_details": {"reasoning_tokens": 9}}})
    done = state.finished(ResponseStarted(200, {}, None, "u", {}))
    assert done.reasoning_only and done.finish_reason == "length"
    assert done.usage is not None and done.usage.reasoning_tokens == 9
    assert done.stats.tokens == 9 and done.tool_calls == ()


def test_reply_state_text_after_reasoning_is_not_reasoning_only() -> None:
    state = ReplyState(0.0, [])
    state.add(chunk(reasoning="r"))
    state.take_reasoning()
    assert state.add(chunk(content="answer")) == "answer"
    done = state.finished(ResponseStarted(200, {}, None, "u", {}))
    assert not done.reasoning_only and done.stats.tokens == 2


def test_reply_state_tool_calls() -> None:
    state = ReplyState(0.0, [])
    for delta in tool_call_deltas(CALLS[:1]):
        state.add(chunk(**delta))
    state.add({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    done = state.finished(ResponseStarted(200, {}, None, "u", {}))
    assert done.finish_reason == "tool_calls"
    assert [json.loads(c.arguments) for c in done.tool_calls] == [{"city": "Paris"}]
