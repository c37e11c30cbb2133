"""Which endpoint and model a conversation uses, and what its requests cost.

A mixin of `MainScreen`, kept apart like `ManageActions`:

- A server that needs a `model` when none is set (`ModelRequired`): when it lists one model,
  that one is used and the reply is sent again by itself, the refused attempt dropped; when
  it lists several, the model picker opens (escape: the prompt comes back and the failed turn
  stays, so sending it again retries). Either way the choice is the conversation's
  (`Conversation.model`, saved); the model list is asked once per endpoint per session
  (`ClientPool.models`).
- The command palette's `endpoint: NAME`, `model: ID` and `model: choose`, and F3's model
  field, set them per conversation.
- Usage and context in the status line: the last reply's tokens in and out, and with a known
  context length an estimate of the next request (`session.estimate_tokens`); a warning
  before sending one estimated not to fit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llama_tui.client.events import ApiError, ModelInfo, ModelRequired
from llama_tui.config import ConfigError
from llama_tui.model import Conversation, Endpoint, Role, Usage
from llama_tui.sanitize import sanitize
from llama_tui.session import estimate_tokens
from llama_tui.ui.widgets.prompt_input import PromptInput

if TYPE_CHECKING:
    from llama_tui.reply import Reply
    from llama_tui.ui.screens.main import MainScreen


def usage_words(usage: Usage | None) -> str:
    """"412 in · 57 out · 30 thinking" (what the server counted), "" without usage."""
    return usage.words() if usage is not None else ""


def last_usage(conv: Conversation | None) -> Usage | None:
    if conv is None:
        return None
    for message in reversed(conv.messages):
        if message.role == Role.ASSISTANT and usage_words(message.usage):
            return message.usage
    return None


class ModelActions:
    """Endpoint and model per conversation, the model-required answer, usage (a mixin)."""

    current: Conversation | None
    #: Endpoints (name, url) whose model list was asked for by this screen.
    _models_asked: set[tuple[str, str]]

    # -- a server that needs a model -------------------------------------------------------

    def model_refused(self: MainScreen, reply: Reply) -> bool:  # type: ignore[misc]
        """When `reply` failed because the server needs a model and none was set, find one
        (in a worker) and say True: the failure is then not reported as one."""
        if not isinstance(reply.error, ModelRequired) or reply.parts or reply.reasoning_parts:
            return False
        try:
            endpoint = self.app.endpoint_for(reply.conversation)
        except ConfigError:
            return False
        if endpoint is None or endpoint.model:
            return False
        self.run_worker(self._find_model(reply, endpoint), group="find-model")
        return True

    async def _find_model(self: MainScreen, reply: Reply, endpoint: Endpoint) -> None:  # type: ignore[misc]
        conv = reply.conversation
        await self.app.engine.wait(reply)  # its final save: then a new reply may start
        try:
            models = await self.app.clients.models(endpoint)
        except ApiError as exc:
            self._no_model(reply, "The server needs a model, and asking it for its list "
                                  f"failed: {exc.details()[0]}")
            return
        ids = [m.id for m in models]
        if len(ids) == 1:
            self.notify(f"Using the server's only model, {sanitize(ids[0])}.", markup=False)
            await self.use_model(conv, ids[0], resend=reply)
        elif not ids:
            self._no_model(reply, "The server needs a model and lists none: type one in the "
                                  f"parameters ({self.app.key('edit-params')}).")
        elif conv is not self.current:
            self._no_model(reply, f"{conv.title!r}: the server needs a model; open it and "
                                  "choose one (ctrl+p, model: choose).")
        else:
            async def chosen(model: str | None) -> None:
                if model is None:  # escape: the failed turn stays; sending it again retries
                    self.query_one(PromptInput).restore(reply.prompt)
                else:
                    await self.use_model(conv, model, resend=reply)

            self.app.push_screen(self._picker(models, "The server needs a model: choose one "
                                                      "for this conversation"), chosen)

    def _picker(self, models: list[ModelInfo], title: str, current: str | None = None):  # type: ignore[no-untyped-def]
        from llama_tui.ui.screens.model_picker import ModelPickerScreen

        return ModelPickerScreen(models, title, current)

    def _no_model(self: MainScreen, reply: Reply, words: str) -> None:  # type: ignore[misc]
        self.notify(sanitize(words), title="The request failed", severity="error",
                    markup=False, timeout=15)
        if reply.conversation is self.current:
            self.query_one(PromptInput).restore(reply.prompt)

    async def use_model(  # type: ignore[misc]
        self: MainScreen, conv: Conversation | None, model: str | None,
        *, resend: Reply | None = None,
    ) -> None:
        """Ask `model` (None: the endpoint's own) in `conv` (None: the one on screen) from
        now on; with `resend`, that refused reply is tried again in its place."""
        conv = conv or self.here()
        conv.model = model
        if resend is not None and conv is self.current and conv.mode == "chat" \
                and conv.messages and conv.messages[-1] is resend.message:
            await self.regenerate(conv, resend.message, prompt=resend.prompt)
            return
        if conv.messages:
            await self.app.save(conv)
        self.update_status()

    def here(self: MainScreen) -> Conversation:  # type: ignore[misc]
        """The conversation on screen; a new one (not saved until its first message) when
        none is. Raises `ConfigError` (no usable endpoint)."""
        conv = self.current
        if conv is None:
            conv = self.fresh_conversation(self.app.endpoint_of(None))
            self.current = conv
        return conv

    # -- choosing ---------------------------------------------------------------------------

    def listed_models(self: MainScreen) -> list[ModelInfo]:  # type: ignore[misc]
        """The models the conversation's endpoint listed this session (asked or not yet)."""
        try:
            endpoint = self.app.endpoint_of(self.current)
        except ConfigError:
            return []
        return (self.app.clients.cached_models(endpoint) or []) if endpoint else []

    async def ask_models(self: MainScreen) -> None:  # type: ignore[misc]
        """Ask the conversation's endpoint for its models, once a session (the palette)."""
        try:
            endpoint = self.app.endpoint_for(self.current)
        except ConfigError:
            return
        if endpoint is None or (endpoint.name, endpoint.url) in self._asked():
            return
        self._asked().add((endpoint.name, endpoint.url))
        try:
            await self.app.clients.models(endpoint)
        except ApiError:
            pass

    def _asked(self) -> set[tuple[str, str]]:
        if not hasattr(self, "_models_asked"):
            self._models_asked = set()
        return self._models_asked

    def action_choose_model(self: MainScreen) -> None:  # type: ignore[misc]
        self.run_worker(self._choose_model(), group="choose-model", exclusive=True)

    async def _choose_model(self: MainScreen) -> None:  # type: ignore[misc]
        try:
            conv = self.here()
            endpoint = self.app.endpoint_for(conv)
            if endpoint is None:
                raise ConfigError(None, None, "no endpoint configured",
                                  f"open settings ({self.app.key('settings')})")
            models = await self.app.clients.models(endpoint)
        except (ConfigError, ApiError) as exc:
            words = exc.details()[0] if isinstance(exc, ApiError) else str(exc)
            self.notify(sanitize(words), title="Cannot list the models", severity="error",
                        markup=False)
            return
        if not models:
            self.notify("The endpoint lists no models: type one in the parameters "
                        f"({self.app.key('edit-params')}).", severity="warning")
            return

        async def chosen(model: str | None) -> None:
            if model is not None:
                await self.use_model(conv, model)
                self.notify(f"This conversation asks {sanitize(model)} now.", markup=False)

        self.app.push_screen(self._picker(models, f"Models of {endpoint.name}",
                                          endpoint.model), chosen)

    async def set_endpoint(self: MainScreen, name: str) -> None:  # type: ignore[misc]
        """Use endpoint `name` for the conversation on screen from now on (its model is
        the endpoint's then: models differ between servers)."""
        try:
            endpoint = self.app.config.choose_endpoint(name)
        except ConfigError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        conv = self.current
        if conv is None or (not conv.messages and conv.endpoint is None):
            fresh = self.fresh_conversation(endpoint)
            if conv is not None:
                fresh.params, fresh.system = conv.params, conv.system
            conv = fresh
            self.current = conv
        elif conv.endpoint != name:
            conv.endpoint, conv.model = name, None
            if conv.messages:
                await self.app.save(conv)
        self.update_status()
        self.notify(f"This conversation uses {name} now.", markup=False)

    # -- usage and context ------------------------------------------------------------------

    def context_length(self: MainScreen, conv: Conversation | None) -> int | None:  # type: ignore[misc]
        """The context length of the model `conv` asks, when its endpoint listed it."""
        try:
            endpoint = self.app.endpoint_of(conv)
        except ConfigError:
            return None
        models = self.app.clients.cached_models(endpoint) if endpoint else None
        if not models or endpoint is None:
            return None
        wanted = endpoint.model or (models[0].id if len(models) == 1 else None)
        return next((m.context_length for m in models if m.id == wanted), None)

    def usage_status(self: MainScreen, conv: Conversation | None,  # type: ignore[misc]
                     k: int | None) -> tuple[str | None, str | None]:
        """The status line's words on tokens: the next request's size against the model's
        context (None while that is not known), and the last reply's usage (None: none)."""
        used = usage_words(last_usage(conv))
        context = self.context_length(conv)
        if context is None:
            return None, f"last: {used}" if used else None
        estimate = self.estimate(conv, self.query_one(PromptInput).text, k)
        return f"next request ~{estimate:,} of {context:,} tokens", \
            f"last: {used}" if used else None

    def estimate(self: MainScreen, conv: Conversation | None, text: str, k: int | None) -> int:  # type: ignore[misc]
        return estimate_tokens(conv, text, k, self.app.config.system_prompt)

    def warn_if_too_long(self: MainScreen, conv: Conversation, text: str) -> None:  # type: ignore[misc]
        """Before sending: a warning when the request is estimated not to fit the model's
        context (it is sent anyway: the estimate is rough, the server decides)."""
        context = self.context_length(conv)
        if context is None or conv.mode != "chat":
            return
        estimate = self.estimate(conv, text, conv.params.memory_window)
        if estimate > context:
            self.notify(f"This request is about {estimate:,} tokens, more than the model's "
                        f"context of {context:,}: the server may refuse it or drop its start. "
                        f"A shorter memory ({self.app.key('edit-params')}) sends less.",
                        title="Too long for the model?", severity="warning", timeout=10)

    def learn_context(self: MainScreen, reply: Reply) -> None:  # type: ignore[misc]
        """After a reply with usage, ask its endpoint's models once (their context lengths)
        so the status line can say how full the next request is."""
        if reply.message.usage is None:
            return
        try:
            endpoint = self.app.endpoint_for(reply.conversation)
        except ConfigError:
            return
        if endpoint is None or self.app.clients.cached_models(endpoint) is not None \
                or (endpoint.name, endpoint.url) in self._asked():
            return

        async def ask() -> None:
            await self.ask_models()
            self.update_status()

        if reply.conversation is self.current:
            self.run_worker(ask(), group="ask-models")
