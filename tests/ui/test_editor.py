"""Writing the prompt in $EDITOR (ctrl+e), with a script as the editor."""

from __future__ import annotations

import contextlib
import stat
import sys
from pathlib import Path

import pytest

from llama_tui.editor import EditorError, edit_text, editor_command
from llama_tui.ui.widgets.prompt_input import PromptInput
from tests.ui.conftest import SIZE, main, wait_for


def script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "editor.py"
    path.write_text(f"#!{sys.executable}\nimport sys\npath = sys.argv[1]\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_the_editor_is_visual_then_editor_then_vi() -> None:
    assert editor_command({"VISUAL": "code --wait", "EDITOR": "nano"}) == ["code", "--wait"]
    assert editor_command({"VISUAL": " ", "EDITOR": "nano -w"}) == ["nano", "-w"]
    assert editor_command({}) == ["vi"]


def test_a_failing_editor_leaves_the_text_alone(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("VISUAL", script(tmp_path, "sys.exit(3)"))
    with pytest.raises(EditorError, match="status 3"):
        edit_text("keep me")
    monkeypatch.setenv("VISUAL", str(tmp_path / "no-such-editor"))
    with pytest.raises(EditorError, match="cannot run"):
        edit_text("keep me")


async def test_ctrl_e_edits_the_prompt_in_the_editor(app_factory, tmp_path, monkeypatch):
    seen = tmp_path / "seen.txt"
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", script(tmp_path, (
        f"text = open(path).read()\nopen({str(seen)!r}, 'w').write(text)\n"
        f"open({str(seen)!r} + '.path', 'w').write(path)\n"
        "open(path, 'w').write(text.upper() + '\\nsecond line\\n')")))
    app = app_factory()
    # The headless driver has no terminal to hand over; a real one is suspended here.
    app.suspend = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    async with app.run_test(size=SIZE) as pilot:
        prompt = main(app).query_one(PromptInput)
        prompt.focus()
        prompt.load_text("draft one")
        await pilot.press("ctrl+e")
        await wait_for(pilot, lambda: prompt.text == "DRAFT ONE\nsecond line")
        assert seen.read_text() == "draft one"
        assert prompt.cursor_location == prompt.document.end
        assert isinstance(app.focused, PromptInput)
    edited = Path(Path(f"{seen}.path").read_text())
    assert edited.name.startswith("llama-tui-prompt-") and not edited.exists()
