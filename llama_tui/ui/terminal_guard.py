"""The last boundary before the terminal: no text drawn by the app can carry a control.

Outside text (model replies, server errors and headers, model ids, file names, titles,
messages read from disk, config values) is sanitised where it enters (`llama_tui.sanitize`:
escape sequences become visible, `␛]52;…`). This module is the boundary behind that one, the
one every screen, dialog and notification passes whether or not its author remembered: every
line Textual writes to the terminal is a `Strip` rendered by `Strip.render`, and a strip's
text (not Textual's own sequences, which are made from styles) must hold no control character
(C0, DEL, C1) and no bidi control. Any that reaches it is dropped. All of them are zero cells
wide to Textual, so dropping them leaves the layout exactly as measured. A link target
(OSC 8) with a control in it is dropped from the style likewise.

Installed once per process (`install`). Only public API is used (`Strip.render`, `Strip.text`,
iteration over segments, `Style.link`); if a Textual release changes those, the guard is not
installed and the log says so: the ingress sanitising still holds.
"""

from __future__ import annotations

import logging
import re
from typing import Any

log = logging.getLogger(__name__)

_BIDI = "\u202a-\u202e\u2066-\u2069\u061c\u200e\u200f"
#: What must never reach the terminal inside drawn text.
CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f" + _BIDI + "]")

_installed = False


def clean(text: str) -> str:
    """`text` without controls (for the few places that write to the terminal directly)."""
    return CONTROLS.sub("", text)


def install() -> bool:
    """Guard `Strip.render`; True when the guard is in place."""
    global _installed
    if _installed:
        return True
    try:
        from rich.segment import Segment
        from textual.strip import Strip

        original = Strip.render
        Strip([Segment("probe")]).text  # noqa: B018  # the public API this relies on
    except Exception as exc:  # an unknown Textual: no guard, never a crash
        log.warning("terminal guard not installed: %s", exc)
        return False

    def render(self: Strip, console: Any) -> str:
        if CONTROLS.search(self.text) is None and not _bad_link(self):
            return original(self, console)
        return original(_cleaned(self), console)

    def _bad_link(strip: Strip) -> bool:
        for segment in strip:
            style = segment.style
            if style is not None and style.link and CONTROLS.search(style.link):
                return True
        return False

    def _cleaned(strip: Strip) -> Strip:
        segments = []
        for text, style, control in strip:
            if control is None:
                text = CONTROLS.sub("", text)
                if style is not None and style.link and CONTROLS.search(style.link):
                    style = style.update_link(None)
            segments.append(Segment(text, style, control))
        return Strip(segments, strip.cell_length)

    Strip.render = render  # type: ignore[method-assign]
    _installed = True
    return True
