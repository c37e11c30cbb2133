"""`llama-tui` with no command: the full-screen app (Textual is imported only here)."""

from __future__ import annotations

import argparse
import sys

SWITCH_INTERVAL = 0.001  # s


def run_tui(args: argparse.Namespace) -> int:
    if getattr(args, "serve", False):
        return run_serve(args)
    from llama_tui.config import hide_keys_in_logs
    from llama_tui.ui.app import make_app

    hide_keys_in_logs()
    # Textual writes each frame from a thread. With Python's default 5 ms switch interval
    # that thread waits up to ~5 ms for the GIL twice per frame whenever the main thread is
    # busy (reading a stream, saving), so frames reach the terminal up to ~10 ms late
    # (docs/performance.md, "Two process-wide settings").
    sys.setswitchinterval(SWITCH_INTERVAL)
    app = make_app(endpoint=args.endpoint)
    app.run()
    return int(app.return_code or 0)


def run_serve(args: argparse.Namespace) -> int:
    """The same app in a browser through textual-serve, bound to localhost only."""
    import shlex

    from llama_tui.commands.common import UsageError

    try:
        from textual_serve.server import Server
    except ImportError:
        raise UsageError("--serve needs the optional extra: pip install 'llama-tui[serve]'") from None
    command = [sys.executable, "-m", "llama_tui"]
    if args.endpoint:
        command += ["--endpoint", args.endpoint]
    print(f"llama-tui: serving on http://localhost:{args.port} (ctrl+c stops)", file=sys.stderr)
    Server(shlex.join(command), host="localhost", port=args.port, title="llama-tui").serve()
    return 0
