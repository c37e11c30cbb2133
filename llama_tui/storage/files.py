"""Reading files from folders other programs can write to: regular files only, bounded.

A conversations folder is shared with sync tools, editors and whoever else can write there, so
any name ending in `.toml` may be a FIFO (opening it for reading blocks forever), a symlink to
`/dev/zero` (reading never ends), a directory or a file of any size. Everything the store reads
goes through `read_regular`: opened without blocking, checked on the open descriptor (so a file
swapped after a `stat` is still caught), and read up to a limit.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

#: The largest conversation file opened in full. A long chat is well under 1 MiB; past this,
#: parsing costs seconds and hundreds of MB, so the file is refused with its size named.
MAX_CONVERSATION_BYTES = 8 * 1024 * 1024

_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)


class NotRegularFile(OSError):
    """A FIFO, device, socket or directory where a file was expected."""


class FileTooLarge(OSError):
    """A file over the size limit; `size` says how big it is."""

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        self.size = size


def kind_of(mode: int) -> str:
    """A file type in words, for messages."""
    for test, word in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return word
    return "not a regular file"


def size_words(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB" if size >= 1024 * 1024 else f"{size} bytes"


def too_large_message(size: int, limit: int = MAX_CONVERSATION_BYTES) -> str:
    return f"too large to open ({size_words(size)}; the limit is {size_words(limit)})"


def check_regular(st: os.stat_result, limit: int | None = None) -> None:
    """Raise `NotRegularFile` or `FileTooLarge` for what `read_regular` would refuse."""
    if not stat.S_ISREG(st.st_mode):
        raise NotRegularFile(f"{kind_of(st.st_mode)}, not a conversation file")
    if limit is not None and st.st_size > limit:
        raise FileTooLarge(too_large_message(st.st_size, limit), st.st_size)


def open_regular(path: Path, limit: int | None = MAX_CONVERSATION_BYTES) -> BinaryIO:
    """`path` opened for reading in binary, when it is a regular file no larger than `limit`.
    Never blocks on a FIFO or a device. Raises OSError (`NotRegularFile`, `FileTooLarge`)."""
    fd = os.open(path, _FLAGS)
    try:
        check_regular(os.fstat(fd), limit)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: Path, limit: int = MAX_CONVERSATION_BYTES) -> tuple[bytes, os.stat_result]:
    """The bytes of a regular file and its stat, refusing (`FileTooLarge`) past `limit` bytes,
    even when the file grows while it is read. Raises OSError (`NotRegularFile` among them)."""
    with open_regular(path, limit) as handle:
        st = os.fstat(handle.fileno())
        data = handle.read(limit + 1)  # one byte more tells a file that grew past the limit
    if len(data) > limit:
        raise FileTooLarge(too_large_message(len(data), limit), len(data))
    return data, st


def write_target(path: Path) -> Path:
    """Where writing `path` must go: a symlink's final target (so the link stays a link and
    the file it names is replaced atomically), else `path` itself."""
    if path.is_symlink():
        return Path(os.path.realpath(path))
    return path
