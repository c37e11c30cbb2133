"""Full-text search over saved conversations (llama_tui.search)."""

from __future__ import annotations

from pathlib import Path

from llama_tui.model import Conversation, Message, Role
from llama_tui.search import search, snippet
from llama_tui.storage.store import ConversationStore


def store_with(tmp_path: Path, convs: list[tuple[str, list[str]]]) -> ConversationStore:
    store = ConversationStore(tmp_path / "conversations", tmp_path / "index.json")
    for title, texts in convs:
        conv = Conversation(title=title)
        conv.messages = [Message(Role.USER if i % 2 == 0 else Role.ASSISTANT, t)
                         for i, t in enumerate(texts)]
        store.save(conv)
    return store


def test_one_hit_per_conversation_at_its_first_match_with_the_count(tmp_path: Path) -> None:
    store = store_with(tmp_path, [("Cooking", ["How long to boil an EGG?", "About 9 minutes."]),
                                  ("Eggs again", ["scrambled eggs", "whisk the egg first"]),
                                  ("Egg only in the title", ["q", "a"])])
    summaries, _ = store.scan()
    hits = search(summaries, " egg ")
    assert {(h.title, h.message_index, h.count) for h in hits} == {
        ("Cooking", 0, 1), ("Eggs again", 0, 3), ("Egg only in the title", -1, 1)}
    assert next(h for h in hits if h.title == "Cooking").snippet == "How long to boil an EGG?"
    assert {h.query for h in hits} == {"egg"}


def test_the_limit_counts_conversations_not_messages(tmp_path: Path) -> None:
    """One long conversation full of matches no longer fills the list on its own."""
    store = store_with(tmp_path, [("Long", ["needle"] * 300), ("Short", ["a needle"])])
    summaries, _ = store.scan()
    hits = search(summaries, "needle", limit=200)
    assert sorted((h.title, h.count) for h in hits) == [("Long", 300), ("Short", 1)]


def test_non_ascii_quotes_and_backslashes_are_found(tmp_path: Path) -> None:
    store = store_with(tmp_path, [("t", ["Un CAFÉ crème", 'say "hi" to C:\\Users', "tab\there"])])
    summaries, _ = store.scan()
    assert [h.message_index for h in search(summaries, "café")] == [0]
    assert [h.message_index for h in search(summaries, 'say "hi"')] == [1]
    assert [h.message_index for h in search(summaries, "c:\\users")] == [1]
    assert search(summaries, "nothing like this") == []
    assert search(summaries, "   ") == []


def test_limit_and_snippet_context(tmp_path: Path) -> None:
    store = store_with(tmp_path, [(f"c{i}", ["needle here", "and needle there"]) for i in range(5)])
    summaries, _ = store.scan()
    assert [h.count for h in search(summaries, "needle", limit=3)] == [2, 2, 2]
    text = "x" * 200 + "NEEDLE" + "y" * 200
    cut = snippet(text, 200, 6, width=40)
    assert cut.startswith("…") and cut.endswith("…") and "NEEDLE" in cut and len(cut) < 80


def test_a_query_with_other_letters_matches_case_insensitively_around_its_ascii_part(
        tmp_path: Path) -> None:
    """Such a query first rules files out by its longest ASCII run (on the raw bytes,
    lowered): that must not lose a hit whose ASCII part is in another case."""
    store = store_with(tmp_path, [("a", ["Send the RÉSUMÉ AFTER QUICKLY reading it"]),
                                  ("b", ["résumé, after a while"]),
                                  ("c", ["nothing about it"])])
    summaries, _ = store.scan()
    hits = search(summaries, "résumé after quickly")
    assert [(h.title, h.message_index) for h in hits] == [("a", 0)]
    assert {h.title for h in search(summaries, "résumé")} == {"a", "b"}
