"""Pick one of the models an endpoint lists: type to filter, Enter or a click chooses,
escape cancels. Model ids come from the server: shown as literal, sanitised `Content`."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from llama_tui.client.events import ModelInfo
from llama_tui.sanitize import sanitize
from llama_tui.ui.screens.dialogs import EscapeCloses, cancel_binding


def model_label(model: ModelInfo) -> Content:
    context = f"  · {model.context_length:,} tokens of context" if model.context_length else ""
    return Content(sanitize(model.id) + context)


class ModelFilter(Input):
    BINDINGS = [Binding("down", "screen.focus_models", "Models", id="filter-to-models",
                        show=False)]


class ModelPickerScreen(EscapeCloses, ModalScreen[str | None]):
    """The endpoint's models; dismissed with the chosen id, or None (escape)."""

    BINDINGS = [cancel_binding()]

    def __init__(self, models: list[ModelInfo], title: str, current: str | None = None) -> None:
        super().__init__(classes="dialog-screen", id="model-picker")
        self.models = list({m.id: m for m in models}.values())  # an id is listed once
        self.title_text = title
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Content(self.title_text), classes="dialog-title")
            yield ModelFilter(placeholder="type to filter · Enter chooses", id="model-filter",
                              compact=True)
            yield OptionList(id="model-list")

    def on_mount(self) -> None:
        self._show("")
        self.query_one(ModelFilter).focus()

    def shown(self) -> list[str]:
        """The ids the list shows now, in order."""
        options = self.query_one(OptionList)
        return [options.get_option_at_index(i).id or ""
                for i in range(options.option_count)]

    def _show(self, query: str) -> None:
        words = query.lower().split()
        options = self.query_one(OptionList)
        options.set_options([
            Option(model_label(m), id=m.id) for m in self.models
            if all(w in m.id.lower() for w in words)
        ])
        ids = self.shown()
        if ids:
            options.highlighted = ids.index(self.current) if self.current in ids else 0

    @on(Input.Changed, "#model-filter")
    def _filter(self, event: Input.Changed) -> None:
        self._show(event.value)

    @on(Input.Submitted, "#model-filter")
    def _enter(self) -> None:
        options = self.query_one(OptionList)
        if options.highlighted is not None:
            self.dismiss(options.get_option_at_index(options.highlighted).id)

    @on(OptionList.OptionSelected, "#model-list")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_focus_models(self) -> None:
        self.query_one(OptionList).focus()
