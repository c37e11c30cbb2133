"""Textual messages that carry the core's events into the UI."""

from __future__ import annotations

from textual.message import Message

from llama_tui.reply import EngineEvent, ReasoningGrew, TextGrew


class EngineMessage(Message):
    """An event of the reply engine (`llama_tui.engine`), posted to the main screen."""

    def __init__(self, event: EngineEvent) -> None:
        super().__init__()
        self.event = event

    def can_replace(self, message: Message) -> bool:
        # "Text grew" says only that there is more to read from the reply: a queued one is
        # covered by the next one for the same reply, so a burst costs one handler call.
        return (isinstance(self.event, TextGrew | ReasoningGrew)
                and isinstance(message, EngineMessage)
                and type(message.event) is type(self.event)
                and message.event.reply is self.event.reply)
