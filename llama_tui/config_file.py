"""Writing config.toml, a file people edit by hand (STYLE: "edited in place keeping comments").

- Never over a file that fails to load: the app's settings are then read-only.
- In place with tomlkit: only the keys that changed since the config was loaded are touched,
  so comments, order and layout stay, and what someone else changed meanwhile stays too.
- Through symlinks (a dotfile manager's link stays a link; its target is replaced atomically).
- A rolling backup first: config.toml.bak.1 (newest) .. .bak.3, next to config.toml.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.container import Container
from tomlkit.items import AoT, InlineTable, Table

from llama_tui import paths
from llama_tui.config import Config, ConfigError, ConfigNotSaved, config_from_text, config_to_dict
from llama_tui.storage.atomic import atomic_write

BACKUPS = 3
#: Endpoint keys that say the same thing (TLS checking): when it changes, all are rewritten.
_VERIFY_KEYS = ("verify", "insecure", "ca_bundle")


def backup_path(path: Path, number: int) -> Path:
    return path.with_name(f"{path.name}.bak.{number}")


def save_config(config: Config, path: Path | None = None) -> Path:
    """Write `config` into config.toml: in place, after a backup, through a symlink, mode 0600
    for a new file. Raises `ConfigNotSaved` when the config or the file on disk fails to load,
    `OSError` when the file cannot be written; either way nothing was changed."""
    path = path or config.path or paths.config_file()
    if config.load_error is not None:
        error = config.load_error
        raise ConfigNotSaved(error.path, error.key, f"not saved until this is fixed: {error.problem}",
                             error.hint, line=error.line)
    target = Path(os.path.realpath(path))  # the file a symlink points to
    try:
        before = target.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        before = None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigNotSaved(path, None, f"not saved: cannot read the file ({exc})") from None
    document = tomlkit.parse(before) if before is not None else tomlkit.document()
    old = config.loaded
    if old is None or before is None:
        old = _loads(before, path) if before is not None else {}
    elif before is not None:
        _loads(before, path)  # changed by hand since, into something that fails: leave it
    if before is None:
        document.add(tomlkit.comment(
            "llama-tui settings (written by the settings screen; edits by hand are welcome)"))
    new = config_to_dict(config)
    _merge(document, old, new, depth=0)
    text = tomlkit.dumps(document)
    if text == before:  # nothing changed: no write, and the backups stay older versions
        config.path, config.loaded = path, new
        return path
    _loads(text, path)  # what is written must load: never trade a working file for a broken one
    if before is not None:
        _rotate_backups(path, before.encode("utf-8"))
    mode = 0o600 if before is None else (stat.S_IMODE(target.stat().st_mode) & 0o700) | 0o600
    atomic_write(target, text.encode("utf-8"), mode=mode)
    config.path, config.loaded = path, new
    return path


def _loads(text: str, path: Path) -> dict[str, Any]:
    try:
        return config_to_dict(config_from_text(text, path))
    except ConfigError as exc:
        raise ConfigNotSaved(path, exc.key, f"not saved: {exc.problem}", exc.hint,
                             line=exc.line) from None


def _rotate_backups(path: Path, current: bytes) -> None:
    for number in range(BACKUPS - 1, 0, -1):
        older = backup_path(path, number)
        if older.exists():
            os.replace(older, backup_path(path, number + 1))
    atomic_write(backup_path(path, 1), current, mode=0o600)


def _merge(table: Any, old: dict[str, Any], new: dict[str, Any], depth: int) -> None:
    """Apply the change from `old` to `new` to the tomlkit `table`, touching nothing else."""
    if depth == 2 and _verify_of(old) != _verify_of(new):  # an endpoint's TLS setting
        for key in _VERIFY_KEYS:
            if key in table:
                del table[key]
        old = {k: v for k, v in old.items() if k not in _VERIFY_KEYS}
    for key in [k for k in old if k not in new]:
        if key not in table:
            continue
        if depth == 0 and isinstance(old[key], dict) and isinstance(table[key], Table):
            _merge(table[key], old[key], {}, depth + 1)  # an emptied section keeps its comments
        else:
            del table[key]  # a removed endpoint, header or value
    for key, value in new.items():
        if old.get(key) == value:
            continue  # unchanged by the app: whatever the file says now stays
        current = table.get(key) if key in table else None
        if isinstance(value, dict) and isinstance(old.get(key), dict) \
                and isinstance(current, (Table, InlineTable)):
            _merge(current, old[key], value, depth + 1)
        elif key in table or isinstance(table, InlineTable):
            table[key] = _item(key, value)
        else:
            _add(table, key, _item(key, value))


def _add(table: Any, key: str, item: Any) -> None:
    """A new key goes after the table's last key, not after the comments and blank lines that
    end it (they belong to what follows: "# the work endpoint" above `[endpoints.work]`)."""
    container = table if isinstance(table, Container) else table.value
    last = None
    if not isinstance(item, Table | AoT | dict):
        for body_key, body_item in container.body:
            if body_key is not None and not isinstance(body_item, Table | AoT):
                last = body_key
    try:
        if last is not None:
            container._insert_after(last, key, item)  # tomlkit has no public "insert after"
            return
    except Exception:  # its private API changed: appending is still correct TOML
        pass
    table[key] = item


def _verify_of(endpoint: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(endpoint.get(key) for key in _VERIFY_KEYS)


def _item(key: str, value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    if key == "headers":
        inline = tomlkit.inline_table()
        inline.update(value)
        return inline
    table = tomlkit.table(is_super_table=key == "endpoints")
    for name, item in value.items():
        table[name] = _item(name, item)
    return table
