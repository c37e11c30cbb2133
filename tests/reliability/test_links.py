"""Links in model text: shown with their target, never opened by a click (a reply could dress
`https://evil.example` up as "your bank"). Opening one needs a deliberate keypress.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from llama_tui.ui.app import make_app
from tests.fakeserver import FakeServer, chat_stream
from tests.reliability.harness import write_config
from tests.ui.conftest import SIZE, type_and_send, wait_replies

REPLY = ["Log in at [your bank](https://evil.example/phish) or ", "<https://auto.example/x> now."]


def screen_text(svg: str) -> list[tuple[int, int, str]]:
    """(column, row, text) of each run of text in a screenshot (Rich's SVG export)."""
    runs = []
    for match in _RUN.finditer(svg):
        x, length, row, text = match.groups()
        text = html.unescape(text).replace("\xa0", " ")
        runs.append((round(float(x) / (float(length) / len(text))), int(row), text))
    return runs


_RUN = re.compile(r'<text[^>]*x="([\d.]+)"[^>]*textLength="([\d.]+)"[^>]*line-(\d+)\)">([^<]+)</text>')


async def _session(home: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch
                   ) -> tuple[list[str], str, int]:
    server.enqueue(chat_stream(REPLY))
    write_config(home, server)
    opened: list[str] = []
    app = make_app(probe_servers=())
    monkeypatch.setattr(app, "open_url", lambda url, **kw: opened.append(url))
    clicks = 0
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "Where do I log in?")
        await wait_replies(pilot)
        shot = app.export_screenshot()
        for column, row, text in screen_text(shot):
            if "bank" in text or "auto.example" in text:
                for dx in range(2, len(text), 4):  # the link text, a few cells apart
                    await pilot.click(offset=(column + dx, row))
                    clicks += 1
        await pilot.pause()
    text = "\n".join(run[2] for run in screen_text(shot))
    return opened, text, clicks


async def test_clicking_a_link_in_a_reply_opens_nothing(isolated_home: Path, fake_server: FakeServer,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    opened, text, clicks = await _session(isolated_home, fake_server, monkeypatch)
    assert "your bank" in text and "https://auto.example/x" in text
    assert clicks >= 6
    assert opened == []


async def test_a_link_shows_its_target(isolated_home: Path, fake_server: FakeServer,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _, text, _ = await _session(isolated_home, fake_server, monkeypatch)
    assert "evil.example/phish" in text
