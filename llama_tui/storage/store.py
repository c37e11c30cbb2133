"""The conversations folder: list fast, load, save atomically, trash, detect conflicts.

Listing reads only each file's header (the top-level keys before the first table) and caches
the result in a small index keyed by file name, mtime and size, so a warm start costs one
`stat` per file and files changed by other programs are re-read. Files that fail to parse are
reported and never touched.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llama_tui import paths
from llama_tui.model import Conversation, new_id
from llama_tui.storage import codec, ids
from llama_tui.storage.atomic import atomic_write, cleanup_temp_files
from llama_tui.storage.files import (
    MAX_CONVERSATION_BYTES,
    FileTooLarge,
    NotRegularFile,
    check_regular,
    read_regular,
    write_target,
)
from llama_tui.storage.summary import (
    EMPTY,
    Summary,
    cached_summary,
    decode,
    parse_toml,
    read_summary,
    sort_summaries,
    summarize,
    summary_to_json,
)

__all__ = ["ConversationStore", "Problem", "SaveResult", "StoreError", "Summary", "Trashed",
           "read_summary", "sort_summaries", "summarize"]

log = logging.getLogger(__name__)

INDEX_VERSION = 1
_INDEX_MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Problem:
    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path.name}: {self.message}"


@dataclass(frozen=True)
class SaveResult:
    """What `ConversationStore.save` did. The conversation passed in is never changed."""

    #: The conversation's file in the folder (when it is a symlink, its target was written).
    path: Path
    #: Set when the file had changed on disk since we read it (or is a file we never read):
    #: the id of the conversation whose file was left alone.
    conflict_with: str | None = None
    #: With `conflict_with`: the (id, title) the copy was written under. The caller applies
    #: them to its conversation, on its own thread, so later saves go to the copy.
    renamed_to: tuple[str, str] | None = None


@dataclass(frozen=True)
class Trashed:
    """A deleted conversation's file in the trash, and the name to restore it under."""

    path: Path
    name: str
    conv_id: str


class StoreError(Exception):
    pass


class ConversationStore:
    """The conversations folder. Safe to use from several threads at once (the list's scan
    thread, save threads, the event loop): one lock guards the id/path maps and the record
    of what was read, and is held for the whole of a save (check, then write)."""

    def __init__(self, directory: Path | None = None, index_path: Path | None = None) -> None:
        self.directory = directory or paths.conversations_dir()
        self.index_path = index_path or paths.index_file()
        self._lock = threading.RLock()
        #: id -> the real file holding it, as last listed (ids from files never become paths).
        self._paths: dict[str, Path] = {}
        #: id -> the file a conversation was loaded from or saved to: where it is saved, even
        #: when a later scan gives that id to another file (one that appeared named after it).
        self._homes: dict[str, Path] = {}
        #: file name -> (the id it declares, the id it was given), see `ids`.
        self._ids: dict[str, tuple[str, str]] = {}
        #: Each file as we last read or wrote it, for conflict checks.
        self._seen: dict[Path, _Seen] = {}

    # -- listing ----------------------------------------------------------------------------

    def scan(self) -> tuple[list[Summary], list[Problem]]:
        """All conversations, pinned first then newest first, and the files that were skipped."""
        summaries, problems, _ = self.scan_newest(None)
        return summaries, problems

    def scan_newest(self, limit: int | None) -> tuple[list[Summary], list[Problem], bool]:
        """Like `scan`, but parses at most `limit` files missing from the index (the most
        recently modified ones); returns whether the listing is complete. A cold start with
        thousands of new files shows the newest at once and the rest after a full `scan`."""
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            entries = list(os.scandir(self.directory))
        except OSError as exc:  # a read-only or unreadable data folder: say so, list nothing
            return [], [Problem(self.directory, f"cannot use this folder: {exc.strerror}")], True
        cleanup_temp_files(self.directory)
        cache = self._read_index()
        fresh: dict[str, Any] = {}
        found: list[Summary] = []
        problems: list[Problem] = []
        misses: list[tuple[str, list[int]]] = []
        for entry in entries:
            if not entry.name.endswith(".toml") or entry.name.startswith("."):
                continue
            path = self.directory / entry.name
            try:
                st = entry.stat()  # follows a symlink: what matters is what it points to
                check_regular(st, MAX_CONVERSATION_BYTES)
            except FileNotFoundError:  # gone since the listing, or a dangling link
                if entry.is_symlink():
                    problems.append(Problem(path, "a symlink to a file that does not exist"))
                continue
            except OSError as exc:
                problems.append(Problem(path, _describe(exc)))
                continue
            key = [st.st_mtime_ns, st.st_size]
            cached = cache.get(entry.name)
            summary = cached_summary(cached, key, self.directory, entry.name)
            if summary is None:
                misses.append((entry.name, key))
                continue
            fresh[entry.name] = cached
            found.append(summary)
        misses.sort(key=lambda miss: miss[1][0], reverse=True)
        complete = limit is None or len(misses) <= limit
        for name, key in misses if limit is None else misses[:limit]:
            path = self.directory / name
            try:
                summary = read_summary(path)
            except (codec.CodecError, OSError, UnicodeDecodeError) as exc:
                problems.append(Problem(path, _describe(exc)))
                continue
            fresh[name] = [*key, summary_to_json(summary)]
            found.append(summary)
        names = {entry.name for entry in entries}
        summaries = self._assign_ids(found, names, problems)
        if complete and fresh != cache:
            self._write_index(fresh)
        return sort_summaries(summaries), problems, complete

    def _assign_ids(self, found: list[Summary], names: set[str],
                    problems: list[Problem]) -> list[Summary]:
        """Give every listed file its id (see `ids`) and remember which file holds which id."""
        claims: list[tuple[str, str]] = []
        for summary in found:
            got = ids.claim(summary.id, summary.path.name, names.__contains__)
            if got is None:
                problems.append(Problem(summary.path, _unusable_id(summary.id)))
            else:
                claims.append((summary.path.name, got))
        given = ids.unique(claims)
        summaries = [dataclasses.replace(s, id=given[s.path.name]) for s in found
                     if s.path.name in given]
        declared = {s.path.name: s.id for s in found}
        with self._lock:
            for name, conv_id in given.items():
                path = self.directory / name
                old = self._ids.get(name)
                if old is not None and old[1] != conv_id and self._paths.get(old[1]) == path:
                    del self._paths[old[1]]
                self._ids[name] = (declared[name], conv_id)
                self._paths[conv_id] = path
        return summaries

    def _read_index(self) -> dict[str, Any]:
        try:
            raw, _ = read_regular(self.index_path, _INDEX_MAX_BYTES)
            data = json.loads(raw.decode("utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("version") != INDEX_VERSION \
                or data.get("dir") != str(self.directory):
            return {}
        entries = data.get("entries")
        return entries if isinstance(entries, dict) else {}

    def _write_index(self, entries: dict[str, Any]) -> None:
        payload = {"version": INDEX_VERSION, "dir": str(self.directory), "entries": entries}
        try:
            with self._lock:
                atomic_write(self.index_path, json.dumps(payload).encode("utf-8"))
        except OSError as exc:  # a cache: losing it only costs time
            log.warning("could not write the index %s: %s", self.index_path, exc)

    # -- one conversation -------------------------------------------------------------------

    def path_for(self, conv_id: str) -> Path:
        """The file holding `conv_id`: the one it was read from or written to, else (a new
        conversation) `<id>.toml`. Raises `StoreError` for an id that cannot be a file name."""
        with self._lock:
            known = self._paths.get(conv_id)
        if known is not None:
            return known
        if not ids.is_safe_id(conv_id):
            raise StoreError(f"{conv_id!r} is not a conversation id")
        return self.directory / f"{conv_id}{ids.SUFFIX}"

    def load(self, conv_id: str) -> Conversation:
        return self.load_path(self.path_for(conv_id))

    def load_path(self, path: Path) -> Conversation:
        """Parse one file. Raises `codec.CodecError` (with the file named) or `StoreError`."""
        try:
            raw, st = read_regular(path)
        except FileNotFoundError:
            raise StoreError(f"{path.name}: the file is gone (deleted or moved)") from None
        except (NotRegularFile, FileTooLarge) as exc:
            raise StoreError(f"{path.name}: {exc}") from None
        except OSError as exc:
            raise StoreError(f"{path.name}: cannot read: {exc.strerror}") from None
        if not raw.strip():
            raise codec.CodecError(f"{path.name}: {EMPTY}")
        try:
            conv = decode(parse_toml(raw.decode("utf-8")), path)
        except UnicodeDecodeError:
            raise codec.CodecError(f"{path.name}: not UTF-8 text") from None
        except codec.CodecError as exc:
            raise type(exc)(f"{path.name}: {exc}") from None
        declared = conv.id
        with self._lock:
            conv.id = self._id_of(path, declared)
            self._paths[conv.id] = self._homes[conv.id] = path
            self._ids[path.name] = (declared, conv.id)
            self._seen[path] = _Seen.of(st, raw)
        return conv

    def _id_of(self, path: Path, declared: str) -> str:
        """The id of the file at `path` that declares `declared` (lock held)."""
        known = self._ids.get(path.name)
        if known is not None and known[0] == declared:
            return known[1]
        got = ids.claim(declared, path.name, lambda name: os.path.lexists(self.directory / name))
        if got is None:
            raise codec.CodecError(f"{path.name}: {_unusable_id(declared)}")
        holder = self._paths.get(got)
        if holder is not None and holder != path:  # another file has this id: two conversations
            got = ids.unique([(holder.name, got), (path.name, got)])[path.name]
        return got

    def save(self, conv: Conversation) -> SaveResult:
        """Write `conv` atomically; `conv` itself is never changed. If its file changed under
        us since we read or wrote it (another instance, another tool), or is a file we never
        read, write a conflict copy under a new id instead, leave that file alone, and say so
        in `SaveResult.renamed_to`. Raises OSError (disk full, read-only), CodecError or
        StoreError; then nothing changed on disk."""
        with self._lock:
            path = self._homes.get(conv.id) or self.path_for(conv.id)
            if not self._conflict(path, conv.id):
                data = codec.dumps(conv).encode("utf-8")
                return SaveResult(self._write(conv.id, path, data))
            renamed = new_id(), f"{conv.title} (conflict copy)"
            copy = dataclasses.replace(conv, id=renamed[0], title=renamed[1])
            written = self._write(copy.id, self.path_for(copy.id),
                                  codec.dumps(copy).encode("utf-8"))
        log.warning("%s changed on disk; saved a conflict copy %s", path.name, written.name)
        return SaveResult(written, conflict_with=conv.id, renamed_to=renamed)

    def _conflict(self, path: Path, conv_id: str) -> bool:
        """Whether writing `conv_id` as `path` would overwrite someone else's work (lock held)."""
        seen = self._seen.get(path)
        if seen is not None:
            return seen.changed(path)
        if not os.path.lexists(path):
            return False
        # A file we never read: another instance's copy of this conversation may be replaced
        # (as that instance would replace ours), another conversation's file never.
        try:
            declared = read_summary(path).id
        except (codec.CodecError, OSError, UnicodeDecodeError):
            return True
        exists = lambda name: os.path.lexists(self.directory / name)  # noqa: E731
        return ids.claim(declared, path.name, exists) != conv_id

    def _write(self, conv_id: str, path: Path, data: bytes) -> Path:
        """Write `data` as `path` (lock held). A symlink stays a link: its target is replaced."""
        target = write_target(path)
        atomic_write(target, data)
        self._paths[conv_id] = self._homes[conv_id] = path
        self._ids[path.name] = (conv_id, conv_id)
        self._seen[path] = _Seen.of(target.stat(), data)
        return path

    @property
    def trash_directory(self) -> Path:
        if self.directory == paths.conversations_dir():
            return paths.trash_dir()
        return self.directory.parent / "trash"

    def delete(self, conv_id: str) -> Trashed:
        """Move the file into the trash folder; returns where it went (for `restore`)."""
        with self._lock:
            path = self.path_for(conv_id)
            trash = self.trash_directory
            trash.mkdir(mode=0o700, parents=True, exist_ok=True)
            target = trash / path.name
            if os.path.lexists(target):  # deleted before, restored, deleted again
                target = trash / f"{ids.stem(path.name)}.{new_id()}{ids.SUFFIX}"
            shutil.move(str(path), target)
            if not target.is_symlink():  # private, like the folder it came from
                with contextlib.suppress(OSError):
                    os.chmod(target, target.stat().st_mode & 0o600)
            self._paths.pop(conv_id, None)
            if self._homes.get(conv_id) == path:
                del self._homes[conv_id]
            self._ids.pop(path.name, None)
            self._seen.pop(path, None)
        return Trashed(target, path.name, conv_id)

    def restore(self, trashed: Trashed) -> Path:
        """Undo a delete: move the file back under the name it had."""
        if not trashed.name.endswith(ids.SUFFIX) or Path(trashed.name).name != trashed.name \
                or trashed.name.startswith("."):
            raise StoreError(f"{trashed.name!r} is not a conversation file name")
        with self._lock:
            target = self.directory / trashed.name
            if os.path.lexists(target):
                raise StoreError(f"{target.name} exists again; the trashed copy stays in "
                                 f"{trashed.path}")
            shutil.move(str(trashed.path), target)
            self._paths[trashed.conv_id] = target
            self._ids.pop(target.name, None)
        return target

    def empty_trash(self) -> int:
        """Delete the trashed files for good. Returns how many."""
        count = 0
        trash = self.trash_directory
        for entry in trash.glob("*.toml") if trash.is_dir() else ():
            if entry.is_dir() and not entry.is_symlink():
                continue
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
                count += 1
        return count

    def summary_of(self, conv: Conversation) -> Summary:
        """The list entry for a conversation this process just saved (no rescan needed)."""
        return summarize(conv, self.path_for(conv.id))

    def latest(self) -> Summary | None:
        summaries, _ = self.scan()
        return max(summaries, key=lambda s: s.updated_at, default=None)


@dataclass(frozen=True)
class _Seen:
    """A file as we last read or wrote it: stat for the cheap check, a hash for the sure one."""

    mtime_ns: int
    size: int
    sha256: bytes

    @classmethod
    def of(cls, st: os.stat_result, data: bytes) -> _Seen:
        return cls(st.st_mtime_ns, st.st_size, hashlib.sha256(data).digest())

    def changed(self, path: Path) -> bool:
        """Whether someone else changed the file. Same mtime and size: no (one `stat`).
        Otherwise compare contents, so a `touch` or an identical rewrite (a sync tool) is not
        a conflict. A file deleted elsewhere is not one either: writing it back loses nothing."""
        try:
            st = path.stat()
            if (st.st_mtime_ns, st.st_size) == (self.mtime_ns, self.size):
                return False
            return hashlib.sha256(read_regular(path)[0]).digest() != self.sha256
        except FileNotFoundError:
            return False
        except OSError:  # now a FIFO, a folder, too large: not what we wrote, so keep it
            return True


def _unusable_id(declared: object) -> str:
    shown = repr(declared[:40] + ("…" if len(declared) > 40 else "")) \
        if isinstance(declared, str) else type(declared).__name__
    return (f"the id {shown} cannot be used (letters, digits, - and _ only, up to 64), and "
            "neither can the file name; rename the file to <id>.toml to open it")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    if isinstance(exc, (NotRegularFile, FileTooLarge)):
        return str(exc)
    if isinstance(exc, OSError):
        return f"cannot read: {exc.strerror}"
    return str(exc)
