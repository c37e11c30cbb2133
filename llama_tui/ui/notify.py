"""A terminal notification when a long reply finishes while the terminal is in the
background (config `notify_when_done`, off by default).

OSC 9 (iTerm2, WezTerm, kitty, foot, Windows Terminal, ghostty show it as a desktop
notification; others ignore it), or the bell where no sequence can be written. The text is
fixed: the model's words never leave the app this way (§7).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from llama_tui.ui.textual_compat import write_sequence

if TYPE_CHECKING:
    from textual.app import App

    from llama_tui.reply import Reply

#: Replies quicker than this are watched as they stream: no notification.
NOTIFY_AFTER = 10.0
TEXT = "llama-tui: reply finished"
SEQUENCE = f"\x1b]9;{TEXT}\x07"


def worth_notifying(enabled: bool, seconds: float, focused: bool, outcome: str) -> bool:
    """A notification is sent for a reply that took a while, ended on its own (the user
    who stopped it knows), while the terminal did not have focus; only if asked for."""
    return enabled and not focused and seconds > NOTIFY_AFTER and outcome != "cancelled"


def reply_finished(app: App[Any], reply: Reply, enabled: bool) -> None:
    """Send the notification for `reply` if it is worth one (`enabled`: asked for)."""
    seconds = time.monotonic() - reply.started_at
    if worth_notifying(enabled, seconds, app.app_focus,
                       reply.outcome):
        if not write_sequence(app, SEQUENCE):
            app.bell()
