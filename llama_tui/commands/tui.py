"""`llama-tui` with no command: the full-screen app (Textual is imported only here)."""

from __future__ import annotations

import argparse


def run_tui(args: argparse.Namespace) -> int:
    from llama_tui.ui.app import make_app

    app = make_app(endpoint=args.endpoint)
    app.run()
    return int(app.return_code or 0)
