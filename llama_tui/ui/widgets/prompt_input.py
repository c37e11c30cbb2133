"""The multi-line prompt: Enter sends, ctrl+j (or alt+enter, shift+enter) inserts a newline,
ctrl+e asks for the text to be written in the user's editor (the screen runs it)."""

from __future__ import annotations

from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widget import Widget
from textual.widgets import TextArea


class PromptInput(TextArea):
    BINDINGS = [
        Binding("ctrl+j,alt+enter,shift+enter", "newline", "Newline", id="newline",
                show=False, tooltip="Insert a newline in the prompt"),
        Binding("ctrl+e", "edit_in_editor", "Editor", id="edit-in-editor", show=False,
                tooltip="Write the prompt in $VISUAL / $EDITOR"),
    ]

    class EditorRequested(Message):
        """The user asked to write the prompt in their editor."""

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

    def action_edit_in_editor(self) -> None:
        self.post_message(self.EditorRequested())

    def action_newline(self) -> None:
        start, end = self.selection
        self.replace("\n", start, end)

    def restore(self, text: str) -> None:
        """Put a prompt back (when its request failed before any reply arrived)."""
        if not self.text.strip():
            self.load_text(text)
            self.move_cursor(self.document.end)


class TypingGoesToPrompt(Widget):
    """For focusable widgets with single-letter keys (a message, the list): a printable key
    delivered here runs this widget's own key at once, and any other letter goes to the
    prompt, typed there. Decided as each key arrives, from this widget's own bindings (a
    later escape in the same burst may have moved focus already): a burst such as "fine"
    or "y escape z" keeps its keys where they were meant to go."""

    async def on_key(self, event: events.Key) -> None:
        if not event.is_printable or not event.character:
            return
        event.stop()
        event.prevent_default()
        app = self.app
        keymap: dict[str, str] = getattr(app, "keymap", {})
        bindings: list[Binding] = [b for b in getattr(type(self), "BINDINGS", [])
                                   if isinstance(b, Binding)]
        for binding in bindings:
            keys = keymap.get(binding.id or "", binding.key)
            if event.key in (k.strip() for k in keys.split(",")) \
                    and await app.run_action(binding.action, self):  # False: not enabled
                return
        screen = self.screen
        prompt = screen.query_one(PromptInput)
        screen.set_focus(prompt)
        prompt.insert(event.character)
