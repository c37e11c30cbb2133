"""The `[keymap]` table checked against the app's own bindings before Textual sees it.

The binding ids come from one place: the `BINDINGS` of every class in `llama_tui.ui`. Each bad
entry (a key Textual cannot read, an id no binding has, a key another binding of the same
place already uses) is named once and dropped, so that binding keeps its default key.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import pkgutil
from dataclasses import dataclass
from functools import cache

from textual.app import App
from textual.binding import Binding
from textual.keys import Keys, _normalize_key_list, key_to_character

MODIFIERS = frozenset({"ctrl", "shift", "alt", "meta", "super", "hyper"})
_KEY_NAMES = frozenset(k.value.rsplit("+", 1)[-1] for k in Keys if not k.value.startswith("<"))


@dataclass(frozen=True)
class BindingInfo:
    id: str
    keys: tuple[str, ...]
    #: The class whose BINDINGS hold it; an App's bindings apply everywhere.
    owner: type
    description: str


@cache
def app_bindings() -> dict[str, list[BindingInfo]]:
    """Every binding with an id in `llama_tui.ui`, by id (an id may be on several classes)."""
    import llama_tui.ui as ui

    found: dict[str, list[BindingInfo]] = {}
    for module_info in pkgutil.walk_packages(ui.__path__, ui.__name__ + "."):
        module = importlib.import_module(module_info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__ or "BINDINGS" not in vars(cls):
                continue
            for binding in vars(cls)["BINDINGS"]:
                if isinstance(binding, Binding) and binding.id:
                    keys = tuple(_split(_normalize_key_list(binding.key)))
                    found.setdefault(binding.id, []).append(
                        BindingInfo(binding.id, keys, cls, binding.description))
    return found


def binding_ids() -> list[str]:
    return sorted(app_bindings())


def key_problem(keys: str) -> str | None:
    """Why Textual could not read `keys` ("ctrl+t", "f9", "up,k"), or None."""
    if not keys.strip():
        return "no key given"
    for key in _split(keys):
        *modifiers, name = key.split("+")
        if not name or any(not m for m in modifiers):
            return f"{key!r} is not a key"
        unknown = [m for m in modifiers if m not in MODIFIERS]
        if unknown:
            return f"{unknown[0]!r} is not a modifier (use ctrl, shift, alt, meta)"
        if len(name) > 1 and name not in _KEY_NAMES and key_to_character(name) is None:
            return f"{name!r} is not a key name (such as f9, escape, up, pageup, space)"
    return None


def check_keymap(keymap: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """The usable entries of `keymap`, and one sentence per entry dropped."""
    known = app_bindings()
    usable: dict[str, str] = {}
    problems: list[str] = []
    later = {i: k for i, k in keymap.items() if i in known and isinstance(k, str)
             and key_problem(k) is None}
    for binding_id, keys in keymap.items():
        later.pop(binding_id, None)
        if binding_id not in known:
            close = difflib.get_close_matches(binding_id, list(known), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else "the README lists the ids"
            problems.append(f"keymap: {binding_id!r} is not a binding id ({hint})")
        elif problem := (key_problem(keys) if isinstance(keys, str) else "not a string"):
            problems.append(f"keymap: {binding_id} = {keys!r}: {problem}")
        elif clash := _clash(binding_id, keys, usable, later, known):
            default = ",".join(known[binding_id][0].keys)
            problems.append(f"keymap: {binding_id} = {keys!r} clashes with {clash}; "
                            f"{binding_id} keeps {default}")
        else:
            usable[binding_id] = keys
    return usable, problems


def _clash(binding_id: str, keys: str, usable: dict[str, str], later: dict[str, str],
           known: dict[str, list[BindingInfo]]) -> str | None:
    """Another binding active in the same place (same class, or app-wide) with one of `keys`:
    with its key from an entry accepted before, else its default. An entry still to come is
    taken as remapped (a swap is fine); a clash with it is named when it comes."""
    wanted = set(_split(_normalize_key_list(keys)))
    owners = {info.owner for info in known[binding_id]}
    for other_id, infos in known.items():
        if other_id == binding_id or other_id in later:
            continue
        other_keys = set(_split(_normalize_key_list(usable[other_id]))) if other_id in usable \
            else {k for info in infos for k in info.keys}
        shared = wanted & other_keys
        if not shared:
            continue
        other_owners = {info.owner for info in infos}
        global_ = any(issubclass(o, App) for o in owners | other_owners)
        if global_ or owners & other_owners:
            return f"{other_id} ({', '.join(sorted(shared))})"
    return None


def _split(keys: str) -> list[str]:
    return [key.strip() for key in keys.split(",") if key.strip()]


def key_label(binding_id: str, keymap: dict[str, str] | None = None) -> str:
    """The key to name in help text for `binding_id`: its first key in the active `keymap`
    (the checked `[keymap]` table), else its default ("ctrl+n", "F2", "escape"). Hints built
    from this follow a remap; a literal key in a hint would go stale."""
    keys = (keymap or {}).get(binding_id)
    if keys:
        first = _split(keys)[0]
    else:
        infos = app_bindings().get(binding_id)
        first = infos[0].keys[0] if infos and infos[0].keys else binding_id
    *modifiers, name = first.split("+")
    if len(name) > 1 and name[0] == "f" and name[1:].isdigit():
        name = name.upper()
    return "+".join([*modifiers, name])
