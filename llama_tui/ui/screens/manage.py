"""Managing conversations and messages from the main screen: rename, delete with undo, pin,
export, import, search, fork, copy, edit & resend, regenerate.

The fifth layer of the main screen (docs/design.md §1), over `ModelsBase`. Every operation
goes through the core (`export`, `search`, the store); widgets only ask.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from textual.content import Content
from textual.widgets import Input, Static

from llama_tui import paths
from llama_tui.client.events import ApiError
from llama_tui.config import ConfigError
from llama_tui.export import (
    ConversationImportError,
    fork,
    message_at,
    read_import,
    to_markdown,
    write_exports,
)
from llama_tui.model import Conversation, Message, Role
from llama_tui.sanitize import sanitize
from llama_tui.search import Hit
from llama_tui.session import title_from_reply, title_request
from llama_tui.storage.codec import CodecError
from llama_tui.storage.store import StoreError, Trashed
from llama_tui.ui.screens.models import ModelsBase
from llama_tui.ui.widgets.conversation_list import ConversationList
from llama_tui.ui.widgets.message_view import MessageActions
from llama_tui.ui.widgets.prompt_input import PromptInput

_FENCE = re.compile(r"^(`{3,}|~{3,})([^\n]*)\n(.*?)^\1[ \t]*$", re.M | re.S)


def code_blocks(markdown: str) -> list[tuple[str, str]]:
    """The fenced code blocks of a reply, in order: (language or "", code)."""
    return [((m.group(2).split() or [""])[0], m.group(3)) for m in _FENCE.finditer(markdown)]


def code_label(language: str, code: str) -> str:
    """How the picker names a block: "python · 12 lines", then its first line."""
    count = len(code.splitlines())
    first = (code.strip().splitlines() or [""])[0].strip()
    size = f"{count} line" + ("" if count == 1 else "s")
    return f"{language or 'code'} · {size}" + (f" · {first[:60]}" if first else "")


class ManageBase(ModelsBase):
    """Actions on conversations and messages."""

    _last_deleted: tuple[Trashed, str, str] | None = None

    # -- which conversation ----------------------------------------------------------------

    def _target(self) -> Conversation | None:
        """The highlighted conversation when the list has focus, else the one on screen."""
        sidebar = self.query_one(ConversationList)
        if sidebar.has_focus and sidebar.highlighted_id:
            conv_id = sidebar.highlighted_id
            if self.current is not None and self.current.id == conv_id:
                return self.current
            if (reply := self.services.engine.reply_for(conv_id)) is not None:
                return reply.conversation
            try:
                return self.services.store.load(conv_id)
            except (CodecError, StoreError) as exc:
                self.notify(sanitize(str(exc)), severity="error", markup=False)
                return None
        if self.current is not None and self.current.messages:
            return self.current
        self.notify("No saved conversation selected.")
        return None

    # -- conversation actions --------------------------------------------------------------

    def action_rename(self) -> None:
        from llama_tui.ui.screens.dialogs import AskScreen

        conv = self._target()
        if conv is None:
            return

        async def renamed(title: str | None) -> None:
            if title:
                conv.title = " ".join(title.split())
                await self.services.save(conv)
                self.upsert(conv)
                if conv is self.current:
                    await self.open_conversation(conv)

        self.app.push_screen(AskScreen("Rename conversation", conv.title), renamed)

    def action_generate_title(self) -> None:
        """Ask the model for a short title (one small request; rename stays for your own)."""
        conv = self._target()
        if conv is None:
            return
        try:
            endpoint = self.services.endpoint_for(conv)
        except ConfigError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        if endpoint is None:
            self.notify("No endpoint yet: add one in settings.", severity="warning")
            return
        client = self.services.clients.get(endpoint)

        async def generate() -> None:
            try:
                reply = await client.complete(title_request(conv))
            except ApiError as exc:
                self.notify(exc.details()[0], title="No title", severity="error", markup=False)
                return
            title = title_from_reply(reply.text)
            if title is None:
                self.notify("The model gave no title.", severity="warning")
                return
            conv.title = title
            await self.services.save(conv)
            self.upsert(conv)
            if conv is self.current:
                self.query_one("#chat-title", Static).update(Content(sanitize(title)))
            self.notify(f"Titled {title!r}.", markup=False)

        self.run_worker(generate(), group="title", exclusive=True)

    async def action_delete(self) -> None:
        conv = self._target()
        if conv is None:
            return
        if self.services.engine.reply_for(conv) is not None:
            self.notify(f"Stop the reply first ({self.services.key('stop')}).", severity="warning")
            return
        try:
            trashed = await asyncio.to_thread(self.services.store.delete, conv.id)
        except (OSError, StoreError) as exc:
            self.notify(sanitize(f"Could not delete: {exc}"), severity="error", markup=False)
            return
        self._last_deleted = (trashed, conv.id, conv.title)
        if self.current is not None and self.current.id == conv.id:
            await self.open_conversation(None)
        self.refresh_list()
        self.notify(f"Deleted {conv.title!r} (moved to the trash). "
                    f"{self.services.key('undo-delete')} undoes.", markup=False)

    async def action_undo_delete(self) -> None:
        if self._last_deleted is None:
            self.notify("Nothing to undo.")
            return
        trashed, conv_id, title = self._last_deleted
        try:
            await asyncio.to_thread(self.services.store.restore, trashed)
        except (OSError, StoreError) as exc:
            self.notify(sanitize(f"Could not restore: {exc}"), severity="error", markup=False)
            return
        self._last_deleted = None
        self.refresh_list()
        await self.open_id(conv_id)
        self.notify(f"Restored {title!r}.", markup=False)

    async def action_empty_trash(self) -> None:
        count = await asyncio.to_thread(self.services.store.empty_trash)
        self._last_deleted = None
        self.notify(f"Emptied the trash ({count} conversations deleted for good).")

    async def action_pin(self) -> None:
        conv = self._target()
        if conv is None:
            return
        conv.pinned = not conv.pinned
        await self.services.save(conv)
        self.upsert(conv)
        self.notify(("Pinned " if conv.pinned else "Unpinned ") + repr(conv.title), markup=False)

    async def action_export(self) -> None:
        """Markdown and JSON files in the exports folder, and the Markdown on the clipboard."""
        conv = self._target()
        if conv is None:
            return
        try:
            base = await asyncio.to_thread(write_exports, conv, paths.data_dir() / "exports")
        except OSError as exc:
            self.notify(f"Could not export: {exc}", severity="error", markup=False)
            return
        self.app.copy_to_clipboard(to_markdown(conv))
        self.notify(
            f"Exported to {base}.md and .json; the Markdown is on the clipboard.", markup=False, timeout=10
        )

    def action_import(self) -> None:
        from llama_tui.ui.screens.dialogs import AskScreen

        async def chosen(path: str | None) -> None:
            if not path:
                return
            try:
                conv = await asyncio.to_thread(read_import, Path(path).expanduser())
            except ConversationImportError as exc:
                self.notify(sanitize(str(exc)), title="Import failed", severity="error", markup=False)
                return
            await self.services.save(conv)
            self.upsert(conv)
            await self.open_conversation(conv)
            self.notify(f"Imported {conv.title!r}.", markup=False)

        self.app.push_screen(
            AskScreen("Import a conversation (a .json export or a llama-tui .toml file)", placeholder="path"),
            chosen,
        )

    def action_search(self) -> None:
        from llama_tui.ui.screens.search import SearchScreen

        query = self.query_one("#filter", Input).value

        async def opened(hit: Hit | None) -> None:
            if hit is not None:
                await self.open_id(hit.conversation_id, focus_index=hit.message_index,
                                   mark=hit.query)

        self.app.push_screen(SearchScreen(self.services.store, query), opened)

    # -- the sidebar filter ----------------------------------------------------------------

    # (Handlers here use naming-convention names: `@on` only registers in widget classes.)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.query_one(ConversationList).set_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "filter":
            return
        if event.value.strip():
            self.action_search()
        else:
            self.action_focus_rows()

    # -- the prompt in an editor -----------------------------------------------------------

    def on_prompt_input_editor_requested(self) -> None:
        """The prompt's text in $VISUAL / $EDITOR, the app suspended meanwhile (the editor
        has the terminal); what was saved comes back in the prompt, cursor at its end."""
        from textual.app import SuspendNotSupported

        from llama_tui.editor import EditorError, edit_text

        prompt = self.query_one(PromptInput)
        try:
            with self.app.suspend():
                text = edit_text(prompt.text)
        except SuspendNotSupported:
            self.notify("This terminal cannot hand itself over to an editor.",
                        severity="warning")
            return
        except EditorError as exc:
            self.notify(sanitize(str(exc)), title="Editor", severity="error", markup=False)
            return
        prompt.load_text(text)
        prompt.move_cursor(prompt.document.end)
        self.focus_prompt()

    # -- message actions -------------------------------------------------------------------

    async def on_message_actions_action_requested(
        self, event: MessageActions.ActionRequested
    ) -> None:
        conv = self.current
        if conv is None:
            return
        message = event.message
        self.services.engine.fill_message(conv)  # a reply still streaming: its text so far
        if event.action == "leave":
            self.focus_prompt()
        elif event.action == "copy":
            self.app.copy_to_clipboard(message.content)
            self.notify("Message copied to the clipboard.")
        elif event.action == "copy-code":
            await self._copy_code(message.content)
        elif event.action == "fork":
            await self._fork_at(conv, message)
        elif event.action == "edit" and message.role == Role.USER:
            self._edit_and_resend(conv, message)
        elif event.action in ("regenerate", "retry"):
            await self.regenerate(conv, message)

    async def _fork_at(self, conv: Conversation, message: Message) -> None:
        """A fork to go on from `message`: it ends with a reply; at a user message it ends
        before it, and that message waits in the prompt, to edit and send."""
        prompt = self.query_one(PromptInput)
        index = message_at(conv, message)
        at_prompt = message.role == Role.USER
        forked = fork(conv, index - 1 if at_prompt else index)
        if forked.messages:  # a fork of nothing yet is saved when its first turn is
            await self.services.save(forked)
            self.upsert(forked)
        typed = prompt.text
        await self.open_conversation(forked)
        if at_prompt or (typed and not prompt.text):
            prompt.load_text(message.content if at_prompt else typed)
            prompt.move_cursor(prompt.document.end)
        self.focus_prompt()  # a fork is made to go on from there
        self.notify(f"Forked into {forked.title!r}"
                    + (": the message is in the prompt, to edit and send." if at_prompt
                       else "."), markup=False)

    async def _copy_code(self, markdown: str) -> None:
        from llama_tui.ui.screens.dialogs import PickScreen

        found = code_blocks(markdown)
        blocks = [code for _, code in found]
        if not blocks:
            self.notify("This message has no code block.")
            return
        if len(blocks) == 1:
            self.app.copy_to_clipboard(blocks[0])
            self.notify("Code block copied to the clipboard.")
            return

        def picked(index: int | None) -> None:
            if index is not None:
                self.app.copy_to_clipboard(blocks[index])
                self.notify(f"Code block {index + 1} copied to the clipboard.")

        previews = [sanitize(f"{i + 1}. {code_label(language, code)}")
                    for i, (language, code) in enumerate(found)]
        self.app.push_screen(PickScreen("Which code block?", previews), picked)

    def _edit_and_resend(self, conv: Conversation, message: Message) -> None:
        """Edit a user message: a fork with the history before it, then the edited text is sent
        there (the original conversation stays as it was)."""
        from llama_tui.ui.screens.dialogs import AskScreen

        index = message_at(conv, message)

        async def edited(text: str | None) -> None:
            if not text:
                return
            forked = fork(conv, index - 1)
            await self.services.save(forked)
            await self.open_conversation(forked)
            await self.send(text)

        self.app.push_screen(
            AskScreen("Edit and resend (in a fork of this conversation)", message.content, multiline=True),
            edited,
        )
