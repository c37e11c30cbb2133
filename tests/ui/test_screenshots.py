"""The README's screenshots are what the app draws now: screenshots/make.py is run into a
temporary folder and each SVG's text, cell by cell, is compared with the committed one.

What varies from run to run is left out: Textual's per-run class names (only the text is
read), timings (ms, tok/s), the fake server's port and the cursor's blink (a style, not
text). A failure means: run `.venv/bin/python screenshots/make.py`, look at the new SVGs
and commit them.
"""

from __future__ import annotations

import difflib
import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.cells import cell_len

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "screenshots"
CELL = 12.2  # the width of one cell in Rich's SVG export
_TEXT = re.compile(r'<text class="[^"]*" x="([\d.]+)" y="[\d.]+" textLength="[\d.]+" '
                   r'clip-path="url\(#[\w-]+-line-(\d+)\)">([^<]*)</text>')
#: Numbers that change from run to run: how long things took.
_TIMING = re.compile(r"\d[\d,.]* ?(ms|tok/s|s\b)")
#: The fake server's port (a free one each run).
_PORT = re.compile(r"127\.0\.0\.1:\d+")


def screen_rows(svg: str) -> list[str]:
    """The text of each row of the screen (the SVG's text layer, placed by cell)."""
    rows: dict[int, dict[int, str]] = {}
    for x, line, text in _TEXT.findall(svg):
        cells, at = rows.setdefault(int(line), {}), round(float(x) / CELL)
        for char in html.unescape(text).replace("\xa0", " "):
            cells[at] = char
            at += cell_len(char)
    out = []
    for line in range(max(rows, default=-1) + 1):
        cells = rows.get(line, {})
        text = "".join(cells.get(x, " ") for x in range(max(cells, default=-1) + 1))
        text = _PORT.sub("127.0.0.1:PORT", text)
        timed = _TIMING.sub(r"N \1", text.rstrip())
        # a timing's width moves what follows it on the row: spacing there is not compared
        out.append(re.sub(" +", " ", timed) if timed != text.rstrip() else timed)
    return out


def test_rows_of_a_tiny_svg() -> None:
    svg = ('<text class="t-r1" x="0" y="20" textLength="24.4" clip-path="url(#t-line-0)">'
           'a&#160;b</text><text class="t-r2" x="36.6" y="20" textLength="12.2" '
           'clip-path="url(#t-line-0)">c</text>'
           '<text class="t-r1" x="0" y="44" textLength="9" clip-path="url(#t-line-1)">'
           '412&#160;ms&#160;to&#160;first&#160;token · 18253.8 tok/s</text>')
    assert screen_rows(svg) == ["a bc", "N ms to first token · N tok/s"]
    assert screen_rows(svg.replace("412&#160;ms", "98&#160;ms&#160;")) == screen_rows(svg)


@pytest.mark.slow
def test_committed_screenshots_match_what_make_py_draws(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLAMA_TUI_")}
    subprocess.run([sys.executable, str(SHOTS / "make.py"), "--out", str(tmp_path)],
                   check=True, timeout=180, env=env, cwd=ROOT, capture_output=True)
    committed = sorted(p.name for p in SHOTS.glob("*.svg"))
    assert committed == sorted(p.name for p in tmp_path.glob("*.svg"))
    for name in committed:
        old = screen_rows((SHOTS / name).read_text("utf-8"))
        new = screen_rows((tmp_path / name).read_text("utf-8"))
        diff = "\n".join(difflib.unified_diff(old, new, "committed", "make.py", lineterm=""))
        assert old == new, f"screenshots/{name} is out of date " \
                           f"(run screenshots/make.py):\n{diff}"
