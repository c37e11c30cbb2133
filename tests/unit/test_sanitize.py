"""Model text is untrusted terminal input (docs/design.md §7): nothing in it may drive the terminal."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llama_tui.sanitize import sanitize

ESC, BEL, ST = "\x1b", "\x07", "\x1b\\"
BIDI = [chr(c) for c in range(0x202A, 0x202F)] + [chr(c) for c in range(0x2066, 0x206A)] + ["\u061c"]
C0 = [chr(c) for c in range(0x20) if chr(c) not in "\t\n"] + ["\x7f"]
C1 = [chr(c) for c in range(0x80, 0xA0)]
SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff"]
FORBIDDEN = set(C0) | set(C1) | set(BIDI)


def clean(text: str) -> bool:
    return not any(ch in FORBIDDEN or 0xD800 <= ord(ch) <= 0xDFFF for ch in text)


@pytest.mark.parametrize(
    "attack",
    [
        f"{ESC}]52;c;cm0gLXJmIH4K{BEL}",            # OSC 52: write the clipboard
        f"{ESC}]52;c;cm0gLXJmIH4K{ST}",
        f"{ESC}]0;pwned{BEL}", f"{ESC}]2;pwned{ST}",  # window title
        f"{ESC}]8;;https://evil.example{ESC}\\click{ESC}]8;;{ESC}\\",  # hyperlink
        f"{ESC}[31mred{ESC}[0m {ESC}[2J{ESC}[H",    # colours, clear screen, cursor home
        "\x9b31m C1 CSI \x9d0;title\x9c \x90dcs\x9c",  # 8-bit introducers
        "user\u202eexe.txt \u2066isolate\u2069 \u202aembed\u202c \u061c",  # Trojan Source
        "over\rwrite",
    ],
)
def test_attacks_are_neutralised(attack: str) -> None:
    out = sanitize(attack)
    assert clean(out)
    assert out != attack


def test_escape_sequences_stay_visible() -> None:
    assert sanitize(f"{ESC}]52;c;SGk={BEL}") == "\u241b]52;c;SGk=\u2407"
    assert sanitize(f"{ESC}[1mbold") == "\u241b[1mbold"
    assert sanitize("a\x00b\x7fc") == "a\u2400b\u2421c"


def test_invisible_controls_are_dropped() -> None:
    assert sanitize("\x9b31mx") == "31mx"
    assert sanitize("abc\u202edcba\u2069") == "abcdcba"
    assert sanitize("line\r\nnext\r") == "line\nnext"


def test_newline_and_tab_are_kept() -> None:
    assert sanitize("a\tb\nc\n\n\td") == "a\tb\nc\n\n\td"


def test_lone_surrogates_become_replacement_characters() -> None:
    out = sanitize("x\ud800y\udfffz")
    assert out == "x\ufffdy\ufffdz"
    out.encode("utf-8")  # always encodable


@pytest.mark.parametrize("text", [
    "", "Hello, world!", "# Title\n\n- item\n\t```python\nprint('x')\n```",
    "emoji 😀👍🏽 👨‍👩‍👧 中文 العربية עברית e\u0301 \u200d \u00a0 \u2028",
    "[bold]not markup[/bold] $HOME `rm -rf` \\x1b",
])
def test_plain_text_is_unchanged(text: str) -> None:
    assert sanitize(text) == text


any_char = st.one_of(st.characters(), st.sampled_from(C0 + C1 + BIDI + SURROGATES + ["\t", "\n"]))
safe_char = st.characters(exclude_characters="".join(FORBIDDEN), exclude_categories=["Cs"])


@given(st.text(alphabet=any_char))
def test_output_never_holds_a_forbidden_character(text: str) -> None:
    assert clean(sanitize(text))


@given(st.text(alphabet=any_char), st.text(alphabet=any_char))
def test_sanitize_is_safe_on_any_split(a: str, b: str) -> None:
    assert sanitize(a + b) == sanitize(a) + sanitize(b)


@given(st.text(alphabet=safe_char))
def test_safe_text_is_identity(text: str) -> None:
    assert sanitize(text) == text


@given(st.text(alphabet=any_char))
def test_sanitize_is_idempotent(text: str) -> None:
    once = sanitize(text)
    assert sanitize(once) == once
