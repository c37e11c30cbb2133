"""A deterministic, realistic long Markdown reply cut into token-like pieces.

Used by rendering benchmarks and the ``markdown`` scenario: it exercises every
Markdown construct the chat view renders, plus a few non-ASCII characters.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

_WORDS = (
    "the a model stream token client server request response latency buffer render "
    "terminal widget table header event loop socket chunk retry timeout context prompt "
    "reply cache layout scroll cursor theme endpoint history session markdown output "
    "and of to in with for when while each every first then after quickly"
).split()
_ACCENTED = ["café", "naïve", "résumé", "déjà vu", "façade", "—", "🙂"]
_PYTHON = [
    "def fibonacci(n: int) -> list[int]:\n"
    '    """Return the first n Fibonacci numbers."""\n'
    "    seq = [0, 1]\n"
    "    while len(seq) < n:\n"
    "        seq.append(seq[-1] + seq[-2])\n"
    "    return seq[:n]\n",
    "import asyncio\n\n\n"
    "async def fetch_all(urls: list[str]) -> dict[str, int]:\n"
    "    results = {}\n"
    "    for url in urls:\n"
    "        if url.startswith('https://'):\n"
    "            results[url] = await probe(url, timeout=2.5)\n"
    "    return results\n",
    "class Counter:\n"
    "    def __init__(self) -> None:\n"
    "        self.total = 0  # running sum\n\n"
    "    def add(self, value: float) -> None:\n"
    "        self.total += value\n",
]
_BASH = [
    "python -m venv .venv\nsource .venv/bin/activate\npip install -e '.[dev]'\n",
    'for f in logs/*.txt; do\n  grep -c "ERROR" "$f"\ndone | sort -n | tail -3\n',
    "curl -sS http://127.0.0.1:8080/v1/models \\\n  -H 'Authorization: Bearer $KEY' | jq .\n",
]


def _words(rng: random.Random, lo: int, hi: int) -> list[str]:
    return [rng.choice(_WORDS) for _ in range(rng.randint(lo, hi))]


def _sentence(rng: random.Random) -> str:
    words = _words(rng, 6, 16)
    i = rng.randrange(len(words))
    style = rng.randrange(5)
    if style == 0:
        words[i] = f"**{words[i]}**"
    elif style == 1:
        words[i] = f"*{words[i]}*"
    elif style == 2:
        words[i] = f"`{words[i]}()`"
    elif style == 3:
        words[i] = rng.choice(_ACCENTED)
    words[0] = words[0].capitalize()
    return " ".join(words) + rng.choice([".", ".", ".", "!", "?", ":"])


def _paragraph(rng: random.Random) -> str:
    return " ".join(_sentence(rng) for _ in range(rng.randint(2, 5)))


def _heading(rng: random.Random) -> str:
    return "#" * rng.randint(2, 3) + " " + " ".join(_words(rng, 2, 5)).title()


def _bullets(rng: random.Random) -> str:
    items = []
    for _ in range(rng.randint(3, 6)):
        items.append("- " + _sentence(rng))
        if rng.random() < 0.3:
            items.append("  - " + " ".join(_words(rng, 3, 7)))
    return "\n".join(items)


def _numbered(rng: random.Random) -> str:
    return "\n".join(f"{i}. {_sentence(rng)}" for i in range(1, rng.randint(3, 6) + 1))


def _python(rng: random.Random) -> str:
    return "```python\n" + rng.choice(_PYTHON) + "```"


def _bash(rng: random.Random) -> str:
    return "```bash\n" + rng.choice(_BASH) + "```"


def _table(rng: random.Random) -> str:
    rows = ["| Option | Default | Notes |", "|--------|--------:|-------|"]
    for _ in range(rng.randint(3, 5)):
        name = "_".join(_words(rng, 1, 2))
        rows.append(f"| `{name}` | {rng.randint(0, 500)} | {' '.join(_words(rng, 2, 6))} |")
    return "\n".join(rows)


def _quote(rng: random.Random) -> str:
    return "\n".join("> " + _sentence(rng) for _ in range(rng.randint(1, 3)))


_SECTIONS: list[Callable[[random.Random], str]] = [
    _heading, _paragraph, _bullets, _python, _paragraph, _numbered,
    _table, _quote, _bash, _paragraph,
]


def _cut_word(word: str, rng: random.Random) -> list[str]:
    parts = []
    while word:
        size = len(word) if len(word) <= 5 else rng.randint(3, 5)
        parts.append(word[:size])
        word = word[size:]
    return parts


def _tokenise(text: str, rng: random.Random) -> list[str]:
    """Cut text into ~4-char pieces; spaces usually lead a word, sometimes stand alone."""
    pieces: list[str] = []
    pending = ""
    for match in re.finditer(r"\n|[ \t]+|[^\s]+", text):
        chunk = match.group()
        if chunk == "\n" or chunk.isspace():
            if pending:
                pieces.append(pending)
            pending = "" if chunk == "\n" else chunk
            if chunk == "\n":
                pieces.append("\n")
            continue
        parts = _cut_word(chunk, rng)
        if pending == " " and rng.random() < 0.85:
            parts[0] = " " + parts[0]
        elif pending:
            pieces.append(pending)
        pending = ""
        pieces.extend(parts)
    if pending:
        pieces.append(pending)
    return pieces


def markdown_reply(n_tokens: int = 4000, seed: int = 0) -> list[str]:
    """Exactly ``n_tokens`` pieces of a long Markdown answer (deterministic per seed).

    The first sections cover every construct in a fixed order; later ones are
    random.  The cut at ``n_tokens`` may fall mid-block, like a ``max_tokens`` stop.
    """
    rng = random.Random(seed)
    pieces = _tokenise("# " + " ".join(_words(rng, 2, 4)).title() + "\n\n", rng)
    index = 0
    while len(pieces) < n_tokens:
        make = _SECTIONS[index] if index < len(_SECTIONS) else rng.choice(_SECTIONS)
        pieces += _tokenise(make(rng) + "\n\n", rng)
        index += 1
    return pieces[:n_tokens]
