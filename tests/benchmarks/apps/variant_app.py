"""llama-tui with the streaming renderer's knobs set from the environment, to compare options.

    BENCH_FPS=20 BENCH_STEP=8 python tests/benchmarks/apps/variant_app.py

BENCH_FPS: frames per second of the open tail (`StreamMarkdown.FRAME_SECONDS = 1/fps`);
BENCH_STEP: the most lines the reply grows by at once while streaming (1: line by line);
BENCH_RENDER=off: replies are not drawn at all (the app's floor: client, worker, status line).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from llama_tui.ui.widgets.stream_markdown import StreamMarkdown

if __name__ == "__main__":
    if "BENCH_FPS" in os.environ:
        StreamMarkdown.FRAME_SECONDS = 1 / float(os.environ["BENCH_FPS"])
    if "BENCH_STEP" in os.environ:
        StreamMarkdown.GROWTH_STEP = int(os.environ["BENCH_STEP"])
    if os.environ.get("BENCH_RENDER") == "off":
        StreamMarkdown.append = lambda self, text: None  # type: ignore[method-assign]
    from llama_tui.cli import main

    sys.exit(main([]))
