"""[keymap] entries and theme files are checked before Textual sees them: a bad one is named
once and skipped, never a crash when it is used."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from llama_tui.ui.keymap import binding_ids, check_keymap, key_problem
from llama_tui.ui.themes import load_theme_file

ROOT = Path(__file__).resolve().parents[2]


def test_binding_ids_come_from_the_bindings_and_the_readme_names_real_ones() -> None:
    ids = binding_ids()
    assert {"quit", "new-chat", "settings", "newline", "copy-message", "rename"} <= set(ids)
    readme = (ROOT / "README.md").read_text("utf-8")
    listed = readme.split("Ids: ", 1)[1].split("(Enter sends", 1)[0]
    named = re.findall(r"`([a-z-]+)`", listed)
    assert named and set(named) <= set(ids), set(named) - set(ids)


@pytest.mark.parametrize("keys", ["ctrl+t", "f9", "up,k", "ctrl+shift+up", "?", "question_mark",
                                  "alt+enter", "space", "pagedown", "ctrl+j,alt+enter"])
def test_keys_textual_reads(keys: str) -> None:
    assert key_problem(keys) is None


@pytest.mark.parametrize("keys", ["notakey+++", "", "ctrl+", "cmd+t", "ctrl+notakey", "+"])
def test_keys_it_cannot(keys: str) -> None:
    assert key_problem(keys) is not None


def test_each_bad_entry_is_named_once_and_dropped() -> None:
    usable, problems = check_keymap({
        "quit": "notakey+++", "new-chatt": "ctrl+t", "new-chat": "ctrl+q", "settings": "f9",
        "search": 5,  # type: ignore[dict-item]
    })
    assert usable == {"settings": "f9"}
    assert len(problems) == 4
    text = "\n".join(problems)
    assert "quit = 'notakey+++'" in text
    assert "'new-chatt' is not a binding id (did you mean 'new-chat'?)" in text
    assert "new-chat = 'ctrl+q' clashes with quit (ctrl+q); new-chat keeps ctrl+n" in text
    assert "search = 5" in text


def test_clashes_are_per_place_and_swaps_are_fine() -> None:
    assert check_keymap({"new-chat": "ctrl+f", "search": "ctrl+n"}) == (
        {"new-chat": "ctrl+f", "search": "ctrl+n"}, [])
    usable, problems = check_keymap({"new-chat": "ctrl+t", "search": "ctrl+t"})
    assert usable == {"new-chat": "ctrl+t"} and len(problems) == 1 and "search" in problems[0]
    # Different screens may share a key: escape closes settings and stops a reply.
    assert check_keymap({"close-settings": "f2"}) == ({"close-settings": "f2"}, [])


GOOD = 'name = "t"\nprimary = "#ff8800"\n'


@pytest.mark.parametrize(
    ("extra", "words"),
    [('dark = "yes"', "dark = 'yes': expected true or false"),
     ("luminosity_spread = \"x\"", "luminosity_spread"),
     ('[variables]\nblock-cursor-foreground = "notacolour"', "not a colour"),
     ('[variables]\ninput-cursor-text-style = "blink-ish"', "not a text style"),
     ('[variables]\nfooter-key-foreground = 5', "expected a string"),
     ('[variables]\nfooter-key-forground = "#fff"', "did you mean 'footer-key-foreground'"),
     ('variables = 3', "expected a table"),
     ('secondary = 7', "expected a string")],
)
def test_theme_values_that_would_crash_when_chosen(tmp_path: Path, extra: str, words: str) -> None:
    path = tmp_path / "t.toml"
    path.write_text(GOOD + extra + "\n")
    with pytest.raises(ValueError, match=re.escape(words)):
        load_theme_file(path)


def test_theme_variables_textual_accepts(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(GOOD + '[variables]\ntext-muted = "auto 60%"\nlink-background = "initial"\n'
                    'button-focus-text-style = "b reverse"\nborder = "ansi_blue"\n')
    assert load_theme_file(path).variables["text-muted"] == "auto 60%"
