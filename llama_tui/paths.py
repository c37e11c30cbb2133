"""Where llama-tui keeps its files (platformdirs; XDG_* variables move them).

One function per location so tests and `llama-tui locate` agree, and so a test can redirect
everything by setting `LLAMA_TUI_HOME` (all files under one folder) or the XDG variables.
"""

from __future__ import annotations

import os
from pathlib import Path

APP = "llama-tui"


def _home() -> Path | None:
    home = os.environ.get("LLAMA_TUI_HOME")
    return Path(home) if home else None


def config_dir() -> Path:
    if home := _home():
        return home / "config"
    import platformdirs

    return Path(platformdirs.user_config_dir(APP, appauthor=False))


def data_dir() -> Path:
    if home := _home():
        return home / "data"
    import platformdirs

    return Path(platformdirs.user_data_dir(APP, appauthor=False))


def state_dir() -> Path:
    if home := _home():
        return home / "state"
    import platformdirs

    return Path(platformdirs.user_state_dir(APP, appauthor=False))


def config_file() -> Path:
    return config_dir() / "config.toml"


def conversations_dir() -> Path:
    return data_dir() / "conversations"


def trash_dir() -> Path:
    return data_dir() / "trash"


def themes_dir() -> Path:
    return config_dir() / "themes"


def templates_file() -> Path:
    return config_dir() / "templates.toml"


def log_file() -> Path:
    return state_dir() / "llama-tui.log"


def index_file() -> Path:
    return state_dir() / "index.json"
