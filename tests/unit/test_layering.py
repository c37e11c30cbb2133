"""docs/design.md §1: nothing outside llama_tui.ui imports Textual (or Rich)."""

from __future__ import annotations

import json
import subprocess
import sys

CORE = ("llama_tui, llama_tui.client, llama_tui.storage.store, llama_tui.config, llama_tui.prompts, "
        "llama_tui.cli, llama_tui.commands.ask, llama_tui.commands.history")


def test_core_imports_no_textual_or_rich() -> None:
    code = (f"import sys, json\nimport {CORE}\n"
            "print(json.dumps(sorted(m for m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    modules = json.loads(done.stdout)
    assert "llama_tui.commands.history" in modules  # the imports really happened
    leaked = [m for m in modules if m.split(".")[0] in ("textual", "rich") or
              m.startswith(("textual_", "rich_"))]
    assert leaked == []
