"""The multi-line prompt: Enter sends, ctrl+j (or alt+enter, shift+enter) inserts a newline."""

from __future__ import annotations

from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import TextArea


class PromptInput(TextArea):
    BINDINGS = [
        Binding("ctrl+j,alt+enter,shift+enter", "newline", "Newline", id="newline",
                show=False, tooltip="Insert a newline in the prompt"),
    ]

    class Submitted(Message):
        """The user pressed Enter on a prompt with text in it."""

        def __init__(self, prompt_input: PromptInput, text: str) -> None:
            super().__init__()
            self.prompt_input = prompt_input
            self.text = text

        @property
        def control(self) -> PromptInput:
            return self.prompt_input

    def __init__(self, **kwargs: object) -> None:
        super().__init__(soft_wrap=True, show_line_numbers=False, tab_behavior="focus",
                         compact=True, **kwargs)  # type: ignore[arg-type]
        self.keys_changed("ctrl+j")

    def keys_changed(self, newline_key: str) -> None:
        """The placeholder names the newline key in use (the keymap may move it)."""
        self.placeholder = f"Type a message · Enter sends · {newline_key} newline"

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            if self.text.strip():
                self.post_message(self.Submitted(self, self.text))
            return
        await super()._on_key(event)

    def action_newline(self) -> None:
        start, end = self.selection
        self.replace("\n", start, end)

    def restore(self, text: str) -> None:
        """Put a prompt back (when its request failed before any reply arrived)."""
        if not self.text.strip():
            self.load_text(text)
            self.move_cursor(self.document.end)
