"""`python -m llama_tui` and the `llama-tui` console script."""

from __future__ import annotations

import sys


def main() -> None:
    from llama_tui.cli import main as cli_main

    sys.exit(cli_main())


if __name__ == "__main__":
    main()
