"""llama-tui as shipped, noting when each startup phase ends (for bench_startup.py).

    BENCH_PHASES=/tmp/phases.json LLAMA_TUI_HOME=... python tests/benchmarks/apps/startup_phases.py

Writes {phase: time.monotonic()} to $BENCH_PHASES as phases end: interpreter ready, imports
done, main screen mounting, history scanned (store.scan_newest); and "frames", when each frame
was written after that.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

STAMPS: dict[str, Any] = {"interpreter ready": time.monotonic(), "frames": []}
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))


def stamp(name: str) -> None:
    STAMPS.setdefault(name, time.monotonic())  # "frames" is a list, appended to
    target = Path(os.environ["BENCH_PHASES"])
    partial = target.with_suffix(".part")
    partial.write_text(json.dumps(STAMPS))
    os.replace(partial, target)  # the benchmark may kill us at any moment: never half a file


def install() -> None:
    from llama_tui.storage.store import ConversationStore
    from llama_tui.ui.app import LlamaApp

    stamp("imports done")
    scan = ConversationStore.scan_newest
    display = LlamaApp._display

    def timed_scan(self: Any, limit: int | None) -> Any:
        stamp("scan started")
        try:
            return scan(self, limit)
        finally:
            stamp("history scanned")

    def timed_display(self: Any, screen: Any, renderable: Any) -> None:
        display(self, screen, renderable)
        if renderable is not None and "history scanned" in STAMPS and len(STAMPS["frames"]) < 50:
            STAMPS["frames"].append(time.monotonic())
            stamp("frames")

    ConversationStore.scan_newest = timed_scan  # type: ignore[method-assign]
    LlamaApp._display = timed_display  # type: ignore[method-assign]


if __name__ == "__main__":
    install()
    from llama_tui.cli import main

    sys.exit(main([]))
