"""Theme files: the ones shipped in the repository's `themes/` and the user's in the config
dir's `themes/`. Each is a TOML file of Textual `Theme` fields. A broken file is reported by
name and skipped; it never stops the app.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import fields
from pathlib import Path

from textual.theme import Theme

THEME_FIELDS = {f.name for f in fields(Theme)}
DEFAULT_THEME = "llama-dark"


def shipped_themes_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "themes"


def load_theme_file(path: Path) -> Theme:
    """One theme; raises ValueError with a plain reason."""
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read: {exc}") from None
    for key in data:
        if key not in THEME_FIELDS:
            close = difflib.get_close_matches(key, THEME_FIELDS, n=1)
            raise ValueError(f"unknown key {key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    data.setdefault("name", path.stem)
    if "primary" not in data:
        raise ValueError("missing primary colour")
    try:
        theme = Theme(**data)
        theme.to_color_system()  # parses every colour
    except Exception as exc:  # Theme/Color raise several types for bad values
        raise ValueError(f"bad value: {exc}") from None
    return theme


def load_themes(folders: list[Path]) -> tuple[list[Theme], list[str]]:
    """Every theme in `folders` (later folders override earlier names), and the problems."""
    themes: dict[str, Theme] = {}
    problems: list[str] = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            try:
                theme = load_theme_file(path)
            except ValueError as exc:
                problems.append(f"{path.name}: {exc}")
                continue
            themes[theme.name] = theme
    return list(themes.values()), problems
