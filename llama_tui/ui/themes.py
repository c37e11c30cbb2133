"""Theme files: the ones shipped inside the package (`llama_tui/themes/`, package data, so a
wheel install has them too) and the user's in the config dir's `themes/`. Each is a TOML file
of Textual `Theme` fields. A broken file is reported by name and skipped; it never stops the app.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tomllib
from dataclasses import fields
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import TYPE_CHECKING, Any

from rich.color import Color as RichColor
from rich.color import ColorParseError as RichColorParseError
from rich.color_triplet import ColorTriplet
from rich.terminal_theme import DEFAULT_TERMINAL_THEME, MONOKAI, TerminalTheme
from textual.color import Color, ColorParseError
from textual.css.constants import VALID_STYLE_FLAGS
from textual.theme import Theme

if TYPE_CHECKING:
    from textual.app import App

    from llama_tui.ui.services import Services

THEME_FIELDS = {f.name for f in fields(Theme)}
DEFAULT_THEME = "llama-dark"
_BOOLS = {"dark", "ansi"}
_NUMBERS = {"luminosity_spread", "text_alpha"}
_AUTO = re.compile(r"^auto( \d{1,3}%)?$")


def shipped_themes_dir() -> Traversable:
    """The themes that ship with the app: package data, read through importlib.resources so
    they are found wherever (and however) the package is installed."""
    return files("llama_tui") / "themes"


def load_theme_file(path: Traversable) -> Theme:
    """One theme; raises ValueError with a plain reason."""
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read: {exc}") from None
    for key in data:
        if key not in THEME_FIELDS:
            close = difflib.get_close_matches(key, THEME_FIELDS, n=1)
            raise ValueError(f"unknown key {key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    data.setdefault("name", path.name.removesuffix(".toml"))
    if "primary" not in data:
        raise ValueError("missing primary colour")
    _check_values(data)
    try:
        theme = Theme(**data)
        theme.to_color_system()  # parses every colour
    except Exception as exc:  # Theme/Color raise several types for bad values
        raise ValueError(f"bad value: {exc}") from None
    return theme


def _check_values(data: dict[str, Any]) -> None:
    """Every value of the right type and every variable readable, so that a theme that loads
    can be chosen: Textual only parses variables when the theme is applied, and then a bad
    one stops the app."""
    for key, value in data.items():
        if key in _BOOLS and not isinstance(value, bool):
            raise ValueError(f"{key} = {value!r}: expected true or false")
        if key in _NUMBERS and (isinstance(value, bool) or not isinstance(value, int | float)
                                or not math.isfinite(value)):
            raise ValueError(f"{key} = {value!r}: expected a number")
        if key not in _BOOLS | _NUMBERS | {"variables"} and not isinstance(value, str):
            raise ValueError(f"{key} = {value!r}: expected a string")
    variables = data.get("variables", {})
    if not isinstance(variables, dict):
        raise ValueError("variables: expected a table")
    known = _known_variables()
    for name, value in variables.items():
        where = f"variables.{name} = {value!r}"
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            raise ValueError(f"unknown variable {name!r}"
                             + (f" (did you mean {close[0]!r}?)" if close else ""))
        if not isinstance(value, str):
            raise ValueError(f"{where}: expected a string")
        if name.endswith("style"):
            flags = value.split()
            if not flags or any(flag not in VALID_STYLE_FLAGS for flag in flags):
                raise ValueError(f"{where}: not a text style (such as \"bold\", \"not underline\")")
        elif value != "initial" and not _AUTO.match(value):
            try:
                Color.parse(value)
            except ColorParseError:
                raise ValueError(f"{where}: not a colour") from None


@cache
def _known_variables() -> frozenset[str]:
    return frozenset(Theme(name="probe", primary="#888888").to_color_system().generate())


def load_themes(folders: list[Traversable]) -> tuple[list[Theme], list[str]]:
    """Every theme in `folders` (later folders override earlier names), and the problems.
    A folder is a `Path` or a package resource folder (`shipped_themes_dir()`)."""
    themes: dict[str, Theme] = {}
    problems: list[str] = []
    for folder in folders:
        if not folder.is_dir():
            continue
        tomls = [p for p in folder.iterdir() if p.name.endswith(".toml") and p.is_file()]
        for path in sorted(tomls, key=lambda p: p.name):
            try:
                theme = load_theme_file(path)
            except ValueError as exc:
                problems.append(f"{path.name}: {exc}")
                continue
            themes[theme.name] = theme
    return [for_environment(theme) for theme in themes.values()], problems


def for_environment(theme: Theme) -> Theme:
    """The theme as this terminal session can show it.

    Under NO_COLOR Textual greys every colour (its Monochrome filter, chosen when the app
    starts), but the 16 ANSI colours of a theme with `ansi = true` reach that filter
    unresolved and all turn black: black text on black. So there such a theme becomes the
    RGB theme of the palette Textual uses for ANSI colours (MONOKAI when dark), and Textual
    derives its tints and greys it like any other. (Textual decides like
    `"NO_COLOR" in os.environ`, whatever the value.)
    """
    if not theme.ansi or "NO_COLOR" not in os.environ:
        return theme
    palette = MONOKAI if theme.dark else DEFAULT_TERMINAL_THEME
    colours = {name: _palette_rgb(value, palette, foreground=name == "foreground")
               for name in _COLOUR_FIELDS if isinstance(value := getattr(theme, name), str)}
    variables = {name: _palette_rgb(value, palette, foreground=not name.endswith("background"))
                 for name, value in theme.variables.items()}
    values: dict[str, Any] = {f.name: getattr(theme, f.name) for f in fields(Theme)}
    return Theme(**values | colours | {"ansi": False, "variables": variables})


_COLOUR_FIELDS = ("primary", "secondary", "accent", "warning", "error", "success",
                  "foreground", "background", "surface", "panel", "boost")


def _palette_rgb(value: str, palette: TerminalTheme, *, foreground: bool) -> str:
    """"ansi_blue 50%" as "#9D65FF 50%" in `palette`; anything else unchanged."""
    name, _, rest = value.partition(" ")
    if not name.startswith("ansi_"):
        return value
    try:
        rgb = ColorTriplet(*RichColor.parse(name.removeprefix("ansi_")).get_truecolor(palette, foreground))
    except RichColorParseError:
        return value
    return f"{rgb.hex} {rest}".strip()


def use_theme(app: App[Any], services: Services, name: str) -> None:
    """Switch theme (the palette's "theme: NAME"), and keep it in config.toml when it can be."""
    app.theme = name
    problem = services.remember_theme(name)
    if problem:
        app.notify(f"Theme {name!r} is used for this session but not saved: {problem}",
                   severity="warning", timeout=15, markup=False)
