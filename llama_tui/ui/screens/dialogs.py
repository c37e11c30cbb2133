"""Small modal dialogs of the chat screen: conversation parameters, templates, the inspector.

Each returns its result through `dismiss()`; the main screen applies it through the core.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static, TextArea

from llama_tui.inspector import KEY_VARIABLE, RequestRecord, as_curl, describe
from llama_tui.model import REASONING_EFFORTS, Conversation
from llama_tui.prompts import Template, TemplateError
from llama_tui.sanitize import sanitize


def parse_number(text: str, kind: type, name: str) -> Any:
    """A form field's number (None when empty); ValueError in words when it is not one."""
    from llama_tui.config import finite_number

    text = text.strip()
    if not text:
        return None
    value = finite_number(text, kind, name)  # nan and inf are not numbers a server takes
    if value < 0:
        raise ValueError(f"{name}: must be 0 or more")
    return value


class EscapeCloses(ModalScreen[Any]):
    """escape closes the dialog (an open drop-down first). It is a priority binding: it runs
    as the key arrives, so keys typed right after it (one burst over a laggy link) go to
    the screen below, focused as it was before the dialog opened."""

    def action_cancel(self) -> None:
        for select in self.query(Select):
            if select.expanded:
                select.expanded = False
                return
        self.dismiss(None)


def cancel_binding(description: str = "Cancel", id: str = "cancel-dialog") -> Binding:
    return Binding("escape", "cancel", description, id=id, priority=True)


def field_value(widget: object) -> Any:
    """What a form field holds: a text area's text, an input's or a select's value."""
    if isinstance(widget, TextArea):
        return widget.text
    if isinstance(widget, Input | Select):
        return widget.value
    raise TypeError(f"not a form field: {widget!r}")


def _row(label: str, widget: Any) -> Horizontal:
    return Horizontal(Label(label, classes="field-label"), widget, classes="field")


def _text(value: object) -> str:
    return "" if value is None else str(value)


@dataclass
class ParamsResult:
    system: str | None
    temperature: float | None
    top_p: float | None
    max_tokens: int | None
    stop: list[str] | None
    memory_window: int | None
    model: str | None = None
    #: "off", "low", "medium", "high"; None: the server's default (nothing is sent).
    reasoning_effort: str | None = None


#: The reasoning effort choices of F3: "default" sends nothing.
EFFORT_CHOICES = [("default (the server's)", "default")] + [(e, e) for e in REASONING_EFFORTS]


class ParamsScreen(EscapeCloses, ModalScreen[ParamsResult | None]):
    """This conversation's system prompt, generation parameters and memory window."""

    BINDINGS = [cancel_binding()]

    def __init__(self, conv: Conversation, defaults_hint: str,
                 endpoint_model: str | None = None) -> None:
        super().__init__(classes="dialog-screen")
        self.conv = conv
        self.defaults_hint = defaults_hint
        #: The model the endpoint asks for when the conversation names none.
        self.endpoint_model = endpoint_model

    def compose(self) -> ComposeResult:
        p = self.conv.params
        with Vertical(classes="dialog"):
            yield Static(Content("Parameters of this conversation (empty = " +
                                 self.defaults_hint + ")"), classes="dialog-title")
            yield _row("system prompt", TextArea(_text(self.conv.system), id="p-system",
                                                 compact=True))
            yield _row("temperature", Input(_text(p.temperature), id="p-temperature", compact=True))
            yield _row("top_p", Input(_text(p.top_p), id="p-top-p", compact=True))
            yield _row("max_tokens", Input(_text(p.max_tokens), id="p-max-tokens", compact=True))
            yield _row("stop", Input(", ".join(p.stop or []), id="p-stop", compact=True,
                                     placeholder="comma-separated stop sequences"))
            yield _row("memory", Input(_text(p.memory_window), id="p-memory", compact=True,
                                       placeholder="all (exchanges sent with each request)"))
            default = sanitize(self.endpoint_model) if self.endpoint_model else "server default"
            yield _row("model", Input(self.conv.model or "", id="p-model", compact=True,
                                      placeholder=f"the endpoint's ({default})"))
            effort = p.reasoning_effort if p.reasoning_effort in REASONING_EFFORTS \
                else "default"
            yield _row("reasoning", Select(EFFORT_CHOICES, value=effort, allow_blank=False,
                                           id="p-effort", compact=True))
            yield Static("", id="p-error", classes="dialog-error")
            with Horizontal(classes="buttons"):
                yield Button("Save", id="p-save", variant="primary", compact=True)
                yield Button("Cancel", id="p-cancel", compact=True)

    def _number(self, selector: str, kind: type, name: str) -> Any:
        return parse_number(self.query_one(selector, Input).value, kind, name)

    def _effort(self) -> str | None:
        value = self.query_one("#p-effort", Select).value
        return None if value == "default" else str(value)

    @on(Button.Pressed, "#p-save")
    def _save(self) -> None:
        try:
            stop = [s.strip() for s in self.query_one("#p-stop", Input).value.split(",")
                    if s.strip()]
            result = ParamsResult(
                system=self.query_one("#p-system", TextArea).text.strip() or None,
                temperature=self._number("#p-temperature", float, "temperature"),
                top_p=self._number("#p-top-p", float, "top_p"),
                max_tokens=self._number("#p-max-tokens", int, "max_tokens"),
                stop=stop or None,
                memory_window=self._number("#p-memory", int, "memory"),
                model=self.query_one("#p-model", Input).value.strip() or None,
                reasoning_effort=self._effort(),
            )
        except ValueError as exc:
            self.query_one("#p-error", Static).update(Content(str(exc)))
            return
        self.dismiss(result)

    @on(Button.Pressed, "#p-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


class TemplateScreen(EscapeCloses, ModalScreen[str | None]):
    """Pick a prompt template, fill its variables, and get the prompt to send."""

    BINDINGS = [cancel_binding()]

    def __init__(self, templates: dict[str, Template], chosen: str | None = None) -> None:
        super().__init__(classes="dialog-screen")
        self.templates = templates
        self.chosen = chosen if chosen in templates else next(iter(templates))

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("Prompt template", classes="dialog-title")
            yield Select([(f"{t.name} · {t.description}" if t.description else t.name, t.name)
                          for t in self.templates.values()], value=self.chosen,
                         allow_blank=False, id="t-name", compact=True)
            yield VerticalScroll(id="t-vars", can_focus=False)  # its fields are the stops
            yield Static("", id="t-error", classes="dialog-error")
            with Horizontal(classes="buttons"):
                yield Button("Send", id="t-send", variant="primary", compact=True)
                yield Button("Cancel", id="t-cancel", compact=True)

    async def on_mount(self) -> None:
        await self._show_variables()

    @on(Select.Changed, "#t-name")
    async def _changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value != self.chosen:
            self.chosen = event.value
            await self._show_variables()

    async def _show_variables(self) -> None:
        box = self.query_one("#t-vars", VerticalScroll)
        await box.remove_children()
        template = self.templates[self.chosen]
        rows = []
        for name in template.variables:
            widget = TextArea(id=f"var-{name}", compact=True, classes="var-text") \
                if "content" in name or "text" in name else Input(id=f"var-{name}", compact=True)
            rows.append(_row(name.replace("_", " "), widget))
        await box.mount_all(rows)
        if rows:
            self.query(".field > Input, .field > TextArea").first().focus()

    def values(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for name in self.templates[self.chosen].variables:
            value = str(field_value(self.query_one(f"#var-{name}")))
            if value.strip():
                out[name] = value
        return out

    @on(Button.Pressed, "#t-send")
    def _send(self) -> None:
        try:
            text = self.templates[self.chosen].render(self.values())
        except TemplateError as exc:
            self.query_one("#t-error", Static).update(Content(str(exc).split(" (give")[0]))
            return
        self.dismiss(text)

    @on(Button.Pressed, "#t-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


class InspectorScreen(EscapeCloses, ModalScreen[None]):
    """The exact request body sent for a reply and the response's headers; copy as curl."""

    BINDINGS = [
        cancel_binding("Close", "close-inspector"),
        Binding("c", "copy_curl", "Copy as curl", id="copy-curl"),
    ]

    def __init__(self, record: RequestRecord) -> None:
        super().__init__(classes="dialog-screen")
        self.record = record

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -wide"):
            key = f" (the key is shown as {KEY_VARIABLE})" if self.record.has_key else ""
            yield Static(Content(f"Request inspector{key}"), classes="dialog-title")
            yield TextArea(describe(self.record), read_only=True, id="inspector-text",
                           soft_wrap=True, compact=True)
            with Horizontal(classes="buttons"):
                yield Button("Copy as curl", id="i-curl", variant="primary", compact=True)
                yield Button("Close", id="i-close", compact=True)

    def action_copy_curl(self) -> None:
        self.app.copy_to_clipboard(as_curl(self.record))
        self.notify("curl command copied" + (
            f" (export {KEY_VARIABLE[1:]} before running it)" if self.record.has_key else ""))

    @on(Button.Pressed, "#i-curl")
    def _curl(self) -> None:
        self.action_copy_curl()

    @on(Button.Pressed, "#i-close")
    def _close(self) -> None:
        self.dismiss(None)


class AskScreen(EscapeCloses, ModalScreen[str | None]):
    """Ask for one piece of text (a title, a path, an edited message)."""

    BINDINGS = [cancel_binding()]

    def __init__(self, title: str, value: str = "", *, multiline: bool = False,
                 placeholder: str = "") -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.value = value
        self.multiline = multiline
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Content(self.title_text), classes="dialog-title")
            if self.multiline:
                yield TextArea(self.value, id="ask-text", compact=True, soft_wrap=True)
            else:
                yield Input(self.value, id="ask-input", compact=True, placeholder=self.placeholder)
            with Horizontal(classes="buttons"):
                yield Button("OK", id="ask-ok", variant="primary", compact=True)
                yield Button("Cancel", id="ask-cancel", compact=True)

    def _value(self) -> str:
        if self.multiline:
            return self.query_one("#ask-text", TextArea).text
        return self.query_one("#ask-input", Input).value

    @on(Input.Submitted, "#ask-input")
    @on(Button.Pressed, "#ask-ok")
    def _ok(self) -> None:
        value = self._value()
        self.dismiss(value if value.strip() else None)

    @on(Button.Pressed, "#ask-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


class PickScreen(EscapeCloses, ModalScreen[int | None]):
    """Pick one of several items (e.g. which code block to copy)."""

    BINDINGS = [cancel_binding()]

    def __init__(self, title: str, items: list[str], *, id: str | None = None) -> None:
        super().__init__(classes="dialog-screen", id=id)
        self.title_text = title
        self.items = items

    def compose(self) -> ComposeResult:
        from textual.widgets import OptionList
        from textual.widgets.option_list import Option

        with Vertical(classes="dialog"):
            yield Static(Content(self.title_text), classes="dialog-title")
            yield OptionList(*[Option(Content(item)) for item in self.items], id="pick-list")

    def on_option_list_option_selected(self, event: Any) -> None:
        self.dismiss(event.option_index)


class UnsavedScreen(EscapeCloses, ModalScreen[str | None]):
    """Unsaved changes: "save", "discard", or stay (None, also escape)."""

    BINDINGS = [cancel_binding("Stay", "stay-unsaved")]

    def __init__(self, what: str) -> None:
        super().__init__(classes="dialog-screen")
        self.what = what

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Content(f"Unsaved changes: {self.what}"), classes="dialog-title")
            with Horizontal(classes="buttons"):
                yield Button("Save", id="unsaved-save", variant="primary", compact=True)
                yield Button("Discard", id="unsaved-discard", variant="error", compact=True)
                yield Button("Stay", id="unsaved-stay", compact=True)

    def on_mount(self) -> None:
        self.set_focus(self.query_one("#unsaved-save"))

    @on(Button.Pressed)
    def _chosen(self, event: Button.Pressed) -> None:
        choice = (event.button.id or "").removeprefix("unsaved-")
        self.dismiss(None if choice == "stay" else choice)
