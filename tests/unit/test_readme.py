"""The README's two set-up commands are exactly what CI runs (.ci/run)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def bash_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```bash\n(.*?)^```", markdown, flags=re.M | re.S)


def ci_setup_lines() -> list[str]:
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text("utf-8").splitlines()]
    return [line for line in lines
            if line and not line.startswith("#")
            and line.startswith(("python3 -m venv", ".venv/bin/pip install"))]


def test_ci_runs_the_readme_commands_verbatim() -> None:
    blocks = bash_blocks((ROOT / "README.md").read_text("utf-8"))[:2]
    assert len(blocks) == 2
    lines = ci_setup_lines()
    assert len(lines) >= 2  # install + start, then dev install + tests
    for line in lines:
        assert any(line in block for block in blocks), f"{line!r} is not in README's set-up blocks"
