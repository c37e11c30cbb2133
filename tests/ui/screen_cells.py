"""The cells a running app has drawn, with the colours a terminal shows them in.

This reads Textual internals (`Screen._compositor`, `App._background_screens`), which is
acceptable in a test: it is what `App.export_screenshot` does, and the strips it returns are
exactly what the driver writes, after the app's line filters (ANSI to truecolor, the NO_COLOR
filter) have run. Parsing the SVG of a screenshot instead would lose which cell is which.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from rich.cells import cell_len
from rich.color import Color as RichColor
from rich.style import Style
from rich.terminal_theme import TerminalTheme
from textual.app import App
from textual.constants import DIM_FACTOR

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Cell:
    x: int
    y: int
    char: str
    fg: RGB
    bg: RGB


def _rgb(color: RichColor | None, palette: TerminalTheme, foreground: bool) -> RGB:
    """A colour as the terminal shows it: unset and "default" are the palette's own
    foreground / background, the 16 ANSI colours come from the palette."""
    if color is None:
        color = RichColor.default()
    r, g, b = color.get_truecolor(palette, foreground=foreground)
    return (r, g, b)


def _blend(fg: RGB, bg: RGB, factor: float) -> RGB:
    return tuple(round(b + (f - b) * factor) for f, b in zip(fg, bg, strict=True))  # type: ignore[return-value]


def resolve(style: Style | None, palette: TerminalTheme) -> tuple[RGB, RGB]:
    """Foreground and background of a cell drawn with `style` (reverse swapped, dim blended
    towards the background as Textual's own ANSI filter does)."""
    style = style or Style()
    fg = _rgb(style.color, palette, foreground=True)
    bg = _rgb(style.bgcolor, palette, foreground=False)
    if style.reverse:
        fg, bg = bg, fg
    if style.dim:
        fg = _blend(fg, bg, DIM_FACTOR)
    return fg, bg


def screen_cells(app: App, palette: TerminalTheme | None = None) -> list[Cell]:
    """Every cell of the screen as drawn now, ANSI colours resolved through `palette`
    (default: the palette Textual itself uses for the current theme, `App.ansi_theme`)."""
    palette = palette or app.ansi_theme
    update = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    cells: list[Cell] = []
    for y, line in enumerate(update.strips):
        x = 0
        for strip in line:
            for segment in strip:
                if segment.control:
                    continue
                fg, bg = resolve(segment.style, palette)
                for char in segment.text:
                    cells.append(Cell(x, y, char, fg, bg))
                    x += cell_len(char)
    return cells


def luminance(rgb: RGB) -> float:
    """WCAG 2 relative luminance."""
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


@lru_cache(maxsize=4096)
def contrast(a: RGB, b: RGB) -> float:
    """WCAG 2 contrast ratio: 1 (same colour) to 21 (black on white)."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def screen_text(app: App, cells: list[Cell] | None = None) -> list[str]:
    """The screen as plain text lines (for messages that say where a problem is)."""
    rows: dict[int, list[Cell]] = {}
    for cell in screen_cells(app) if cells is None else cells:
        rows.setdefault(cell.y, []).append(cell)
    return ["".join(c.char for c in rows[y]) for y in sorted(rows)]
