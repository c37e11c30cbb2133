"""Every shipped theme is readable, with colour and with NO_COLOR: no glyph on screen is drawn
in (nearly) its background's colour.

Each theme is run through a set of scenes that between them show every element the app draws:
a user message; a finished Markdown reply (headings, inline code, a link with its target, a
block quote, a table, a highlighted code block); a failed reply with its error details; a
focused message; a text selection; notifications; the footer; the conversation list with its
cursor, blurred and focused; the prompt with a selection; a dialog with inputs, a placeholder,
a selection and an error; the settings screen; the command palette. Every non-space cell is
resolved to the colours a terminal shows (ANSI colours through the palette Textual itself
uses, `App.ansi_theme`) and its WCAG contrast ratio is checked:

- text (letters, digits, punctuation): at least 3:1, WCAG's floor for large text and for
  the parts of an interface one must see. Body text is well above it; what sits near it is
  meant to be quiet (placeholders, muted hints, times). Below it, text is hard to read on
  many screens, and at 1:1 it is gone: black on black, yellow on yellow.
- lines and blocks (box drawing, block elements: borders, table rules, the quote bar) only
  frame what the text already says, and are faint on purpose: at least 1.35:1, enough to see
  that a line is there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from textual.geometry import Offset
from textual.selection import SELECT_ALL, Selection

from llama_tui import paths
from llama_tui.model import Conversation, Message, Role, Stats
from llama_tui.storage.store import ConversationStore
from llama_tui.ui.app import LlamaApp, make_app
from tests.ui.conftest import main, wait_for
from tests.ui.screen_cells import Cell, contrast, screen_cells, screen_text

THEMES = ["llama-dark", "llama-light", "llama-16"]
SIZE = (120, 60)
MIN_TEXT = 3.0
MIN_LINES = 1.35
LINK_TARGET = "(https://example.com/innovation)"

REPLY = f"""# The answer

Clayton Christensen wrote it; see `disrupt()` and [his page]{LINK_TARGET[:-1]}).

## Key ideas

> Incumbents rationally ignore `cheap` products.

| Book | Year |
|---|---|
| The Innovator's Dilemma | 1997 |

### Example

```python
def disrupt(market: str) -> str:
    return f"cheaper {{market}}"  # a comment
```"""


def _is_line_glyph(char: str) -> bool:
    return 0x2500 <= ord(char) <= 0x259F  # box drawing and block elements


@dataclass(frozen=True)
class Problem:
    scene: str
    cell: Cell
    ratio: float
    row: str

    def __str__(self) -> str:
        return (f"{self.scene}: {self.cell.char!r} at ({self.cell.x},{self.cell.y}) fg "
                f"{self.cell.fg} on {self.cell.bg}, ratio {self.ratio:.2f}; row: {self.row.strip()!r}")


def unreadable(app: LlamaApp, scene: str) -> list[Problem]:
    cells = screen_cells(app)
    text = screen_text(app, cells)
    problems = []
    for cell in cells:
        if not cell.char.strip():
            continue
        ratio = contrast(cell.fg, cell.bg)
        if ratio < (MIN_LINES if _is_line_glyph(cell.char) else MIN_TEXT):
            problems.append(Problem(scene, cell, ratio, text[cell.y]))
    return problems


def write_scene_config(theme: str) -> None:
    path = paths.config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'theme = "{theme}"\ndefault_endpoint = "local"\n'
                    '[endpoints.local]\nurl = "http://127.0.0.1:9/v1"\nkey = "sk-contrast-0000"\n')
    path.chmod(0o600)


def save_conversations() -> None:
    now = datetime.now(UTC) - timedelta(minutes=5)
    store = ConversationStore()
    for n in range(3):
        conv = Conversation(title=f"Conversation {n}", created_at=now, updated_at=now,
                            endpoint="local")
        store.save(conv)
    conv = Conversation(title="Who wrote The Innovator's Dilemma", created_at=now,
                        updated_at=now + timedelta(seconds=1), endpoint="local", pinned=True)
    conv.messages = [
        Message(Role.USER, "Who wrote the book Innovators dilemma?"),
        Message(Role.ASSISTANT, REPLY, finish_reason="stop",
                stats=Stats(ttft_ms=412, tokens=57, tokens_per_s=38.5)),
        Message(Role.USER, "And the sequel?"),
        Message(Role.ASSISTANT, "The sequel is", finish_reason="error",
                error="HTTP 500: The server had an error\nrequest id: 3f2a9c1e"),
    ]
    store.save(conv)


def on_screen(app: LlamaApp, *texts: str) -> None:
    """The scene shows what it is meant to (a blank screen would pass every contrast check)."""
    shown = "\n".join(screen_text(app))
    missing = [text for text in texts if text not in shown]
    assert not missing, f"not on screen: {missing}\n{shown}"


async def settle(pilot) -> None:
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause(0.1)


async def chat_scene(pilot) -> None:
    """The open conversation: a focused reply, a selection in it and in a user message,
    notifications, the footer, the list's cursor (blurred)."""
    app, screen = pilot.app, main(pilot.app)
    await wait_for(pilot, lambda: len(screen.query_one("#sidebar").summaries) == 4)
    await screen.open_id(screen.query_one("#sidebar").summaries[0].id)
    await wait_for(pilot, lambda: len(screen.query(".message")) == 4)
    messages = screen.query(".message")
    messages[1].focus()
    reply = messages[1].query_one("StreamMarkdown")
    screen.selections = {reply: Selection(Offset(4, 2), Offset(200, 3)),
                         messages[0]: SELECT_ALL}
    app.notify("Saved to notes", title="Note")
    app.notify("The endpoint did not answer", title="Error", severity="error")
    app.notify("Key read from the environment", severity="warning")
    await settle(pilot)
    on_screen(app, "The answer", "disrupt()", LINK_TARGET, "Key ideas", "Incumbents",
              "Dilemma", "return", "HTTP 500", "Saved to notes", "did not answer", "Conversation 2",
              "Settings")


async def list_scene(pilot) -> None:
    """The list focused (its cursor row), the prompt holding a selection."""
    screen = main(pilot.app)
    prompt = screen.query_one("#prompt")
    prompt.load_text("a draft that is partly selected")
    prompt.selection = ((0, 2), (0, 7))
    screen.query_one("#sidebar").focus()
    await settle(pilot)
    on_screen(pilot.app, "a draft", "Conversation 1")


async def dialog_scene(pilot) -> None:
    """The parameters dialog: inputs, a placeholder, a focused input with a selection and an
    error line."""
    await pilot.press("f3")
    await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "ParamsScreen")
    screen = pilot.app.screen
    field = screen.query_one("#p-temperature")
    field.value = "0.7 degrees"
    field.focus()
    field.select_all()
    await pilot.click("#p-save")
    await settle(pilot)
    on_screen(pilot.app, "temperature", "comma-separated", "0.7 degrees", "Save", "Cancel")
    await pilot.press("escape")


async def settings_scene(pilot) -> None:
    await pilot.press("f2")
    await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "SettingsScreen")
    await settle(pilot)
    on_screen(pilot.app, "local")
    await pilot.press("escape")


async def palette_scene(pilot) -> None:
    await pilot.press("ctrl+p")
    await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "CommandPalette")
    await pilot.press(*"theme")
    options = pilot.app.screen.query_one("CommandList")
    await wait_for(pilot, lambda: options.option_count >= len(THEMES))
    await pilot.press("down")
    await settle(pilot)
    on_screen(pilot.app, "theme: llama-light")
    await pilot.press("escape")


SCENES: list[tuple[str, Callable[..., Awaitable[None]]]] = [
    ("chat", chat_scene), ("list", list_scene), ("dialog", dialog_scene),
    ("settings", settings_scene), ("palette", palette_scene),
]


def _no_blink(app: LlamaApp) -> None:
    for widget in app.screen.query("TextArea, Input"):
        widget.cursor_blink = False


@pytest.mark.parametrize("no_color", [False, True], ids=["colour", "NO_COLOR"])
@pytest.mark.parametrize("theme", THEMES)
async def test_every_glyph_is_readable(theme: str, no_color: bool, monkeypatch) -> None:
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")  # Textual reads it when the App is created
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    write_scene_config(theme)
    save_conversations()
    app = make_app(probe_servers=())
    problems: list[Problem] = []
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: app.theme == theme and app._main is not None)
        assert app.no_color is no_color
        for name, scene in SCENES:
            await scene(pilot)
            _no_blink(app)
            problems += unreadable(app, f"{theme}{' NO_COLOR' if no_color else ''} {name}")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "MainScreen")
    assert not problems, f"{len(problems)} unreadable glyphs:\n" + "\n".join(
        str(p) for p in _first_per_row(problems))


def _first_per_row(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[str, int, float]] = set()
    out = []
    for problem in problems:
        key = (problem.scene, problem.cell.y, round(problem.ratio, 2))
        if key not in seen:
            seen.add(key)
            out.append(problem)
    return out
