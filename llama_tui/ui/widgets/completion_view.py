"""A completion-mode conversation is a document: the prompt text, then the model's
continuation appended in place. The user may edit any of it before continuing again.

It offers the same narrow interface as a chat reply view (`write`, `finish`), so the reply
worker streams into it unchanged.
"""

from __future__ import annotations

from textual.widgets import TextArea

from llama_tui.model import Stats
from llama_tui.ui.widgets.message_view import stats_line


class CompletionDocument(TextArea):
    def __init__(self, text: str = "", **kwargs: object) -> None:
        super().__init__(text, soft_wrap=True, tab_behavior="focus", id="document",
                         **kwargs)  # type: ignore[arg-type]
        self.border_title = "Document · ctrl+g continues from the end"

    async def write(self, delta: str) -> None:
        self.write_now(delta)

    def write_now(self, delta: str) -> None:
        self.insert(delta, self.document.end, maintain_selection_offset=False)
        self.scroll_end(animate=False)

    async def think(self, delta: str) -> None:
        """A document has no place for thinking: it is saved with the reply, not shown."""

    def think_now(self, delta: str) -> bool:
        return True

    def saved(self) -> None:
        pass

    async def finish(self, finish_reason: str, stats: Stats | None, error: str | None) -> None:
        self.border_subtitle = stats_line(stats, finish_reason)
        self.set_class(finish_reason in ("error", "content_filter"), "-failed")
        if error:
            self.notify(error, severity="error", markup=False)
