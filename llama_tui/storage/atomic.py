"""Write a file so that readers only ever see the old or the new content, never half of one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def atomic_write(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Temp file in the same directory, write, flush, fsync, rename, fsync the directory.

    A crash at any moment leaves either the previous file or the new one (plus, at worst, a
    `.<name>.<pid>.<random>.tmp` file that `cleanup_temp_files` removes later).

    The file is private: created 0600 less the umask (umask 077 or 022 both give 0600; a
    stricter umask gives less), never more, since conversations and exports are private
    text. `mode` sets an exact mode instead.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # mkstemp creates with 0600 and the kernel applies the umask: no process-wide umask
    # call (racy with other threads) is needed to follow it.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def cleanup_temp_files(directory: Path, older_than: float = 120.0) -> int:
    """Remove temp files left by writers that died mid-write. Returns how many.

    A temp file whose writer (the pid in its name) is no longer running goes at once; any
    other only when older than `older_than` seconds, since it may belong to a live writer
    (this process's save thread, another instance) that is writing right now.
    """
    import time

    removed = 0
    now = time.time()
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return 0
    for entry in entries:
        if entry.name.startswith(".") and entry.name.endswith(".tmp"):
            with contextlib.suppress(OSError):
                if now - entry.stat().st_mtime < older_than and _writer_alive(entry.name):
                    continue
                os.unlink(entry.path)
                removed += 1
    return removed


def _writer_alive(temp_name: str) -> bool:
    """Whether the process that made `.<name>.<pid>.<random>.tmp` may still be writing it."""
    parts = temp_name[: -len(".tmp")].rsplit(".", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return True  # not one of ours, or an older naming: let age decide
    pid = int(parts[1])
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, someone else's
        return True
    return True
