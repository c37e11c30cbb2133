"""Which endpoint and model a conversation uses, and what its requests cost.

The fourth layer of the main screen (docs/design.md §1), over `RepliesBase`:

- A server that needs a `model` when none is set (`ModelRequired`): when it lists one model,
  that one is used and the reply is sent again by itself, the refused attempt dropped; when
  it lists several, the model picker opens (escape: the prompt comes back and the failed turn
  stays, so sending it again retries). Either way the choice is the conversation's
  (`Conversation.model`, saved); the model list is asked once per endpoint per session
  (`ClientPool.models`).
- The command palette's `endpoint: NAME`, `model: ID` and `model: choose`, and F3's model
  field, set them per conversation.
- After a reply with usage, the endpoint's models are asked once (their context lengths), so
  the status line can say how full the next request is (`ViewBase.usage_status`).
"""

from __future__ import annotations

from llama_tui.client.events import ApiError, ModelRequired
from llama_tui.config import ConfigError
from llama_tui.model import Conversation, Endpoint
from llama_tui.reply import Reply
from llama_tui.sanitize import sanitize
from llama_tui.ui.screens.model_picker import ModelPickerScreen
from llama_tui.ui.screens.replies import RepliesBase
from llama_tui.ui.widgets.prompt_input import PromptInput


class ModelsBase(RepliesBase):
    """Endpoint and model per conversation; the model-required answer."""

    def reply_handled(self, reply: Reply) -> bool:
        self.learn_context(reply)
        return reply.crash is None and self.model_refused(reply)

    # -- a server that needs a model -------------------------------------------------------

    def model_refused(self, reply: Reply) -> bool:
        """When `reply` failed because the server needs a model and none was set, find one
        (in a worker) and say True: the failure is then not reported as one."""
        if not isinstance(reply.error, ModelRequired) or reply.answered or reply.reasoning_parts:
            return False
        try:
            endpoint = self.services.endpoint_for(reply.conversation)
        except ConfigError:
            return False
        if endpoint is None or endpoint.model:
            return False
        self.run_worker(self._find_model(reply, endpoint), group="find-model")
        return True

    async def _find_model(self, reply: Reply, endpoint: Endpoint) -> None:
        conv = reply.conversation
        await self.services.engine.wait(reply)  # its final save: then a new reply may start
        try:
            models = await self.services.clients.models(endpoint)
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
                                  f"parameters ({self.services.key('edit-params')}).")
        elif conv is not self.current:
            self._no_model(reply, f"{conv.title!r}: the server needs a model; open it and "
                                  "choose one (ctrl+p, model: choose).")
        else:
            async def chosen(model: str | None) -> None:
                if model is None:  # escape: the failed turn stays; sending it again retries
                    self.query_one(PromptInput).restore(reply.prompt)
                else:
                    await self.use_model(conv, model, resend=reply)

            self.app.push_screen(ModelPickerScreen(models, "The server needs a model: choose one "
                                                   "for this conversation"), chosen)

    def _no_model(self, reply: Reply, words: str) -> None:
        self.notify(sanitize(words), title="The request failed", severity="error",
                    markup=False, timeout=15)
        if reply.conversation is self.current:
            self.query_one(PromptInput).restore(reply.prompt)

    async def use_model(
        self, conv: Conversation | None, model: str | None,
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
            await self.services.save(conv)
        self.update_status()

    async def switch_model(self, conv: Conversation | None, model: str | None) -> None:
        """The user chose `model` (None: the endpoint's own) for `conv`: use it, and say so."""
        await self.use_model(conv, model)
        self.notify(f"This conversation asks {sanitize(model)} now." if model else
                    "This conversation asks the endpoint's model now.", markup=False)

    def action_choose_model(self) -> None:
        self.run_worker(self._choose_model(), group="choose-model", exclusive=True)

    async def _choose_model(self) -> None:
        try:
            conv = self.here()
            endpoint = self.services.endpoint_for(conv)
            if endpoint is None:
                raise ConfigError(None, None, "no endpoint configured",
                                  f"open settings ({self.services.key('settings')})")
            models = await self.services.clients.models(endpoint)
        except (ConfigError, ApiError) as exc:
            words = exc.details()[0] if isinstance(exc, ApiError) else str(exc)
            self.notify(sanitize(words), title="Cannot list the models", severity="error",
                        markup=False)
            return
        if not models:
            self.notify("The endpoint lists no models: type one in the parameters "
                        f"({self.services.key('edit-params')}).", severity="warning")
            return

        async def chosen(model: str | None) -> None:
            if model is not None:
                await self.switch_model(conv, model)

        self.app.push_screen(ModelPickerScreen(models, f"Models of {endpoint.name}",
                                               endpoint.model), chosen)

    async def set_endpoint(self, name: str) -> None:
        """Use endpoint `name` for the conversation on screen from now on (its model is
        the endpoint's then: models differ between servers)."""
        try:
            endpoint = self.services.config.choose_endpoint(name)
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
                await self.services.save(conv)
        self.update_status()
        self.notify(f"This conversation uses {name} now.", markup=False)

    def learn_context(self, reply: Reply) -> None:
        """After a reply with usage, ask its endpoint's models once (their context lengths)
        so the status line can say how full the next request is."""
        if reply.message.usage is None:
            return
        try:
            endpoint = self.services.endpoint_for(reply.conversation)
        except ConfigError:
            return
        if endpoint is None or self.services.clients.cached_models(endpoint) is not None \
                or self.services.models_asked(reply.conversation):
            return

        async def ask() -> None:
            await self.services.ask_models(reply.conversation)
            self.update_status()

        if reply.conversation is self.current:
            self.run_worker(ask(), group="ask-models")
