"""What a wheel holds: every file the package reads at run time that is not Python (themes,
the stylesheet) is listed as package data, and the shipped themes are found inside the package,
never in the checkout around it. `.ci/run` builds the real wheel and loads the themes from it;
these checks are the fast half that runs with the suite.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import llama_tui
from llama_tui.ui.themes import load_themes, shipped_themes_dir

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(llama_tui.__file__).resolve().parent
SHIPPED = {"llama-dark", "llama-light", "llama-16"}


def _package_data_globs() -> list[str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    return list(pyproject["tool"]["setuptools"]["package-data"]["llama_tui"])


def test_every_data_file_of_the_package_is_package_data() -> None:
    data_files = {
        path.relative_to(PACKAGE)
        for path in PACKAGE.rglob("*")
        if path.is_file() and path.suffix not in {".py", ".pyc"} and "__pycache__" not in path.parts
    }
    covered = {path.relative_to(PACKAGE)
               for pattern in _package_data_globs() for path in PACKAGE.glob(pattern)}
    assert data_files, "the package has no data files: the themes moved?"
    assert data_files <= covered, f"not in [tool.setuptools.package-data]: {sorted(data_files - covered)}"


def test_shipped_themes_live_in_the_package_and_load() -> None:
    folder = Path(str(shipped_themes_dir()))
    assert PACKAGE in folder.resolve().parents, folder
    themes, problems = load_themes([shipped_themes_dir()])
    assert not problems
    assert {theme.name for theme in themes} >= SHIPPED


def test_one_copy_of_the_themes() -> None:
    assert not (ROOT / "themes").exists(), "a top-level themes/ is not in the wheel: use llama_tui/themes"
