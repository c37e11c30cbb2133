"""Writing config.toml: in place (comments, order, layout kept), never over a file that failed
to load, through symlinks, with rolling backups."""

from __future__ import annotations

import copy
import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from llama_tui.config import Config, ConfigError, ConfigNotSaved, load_config
from llama_tui.config_file import backup_path, save_config
from llama_tui.model import Endpoint

COMMENTED = '''# My llama-tui config: kept in ~/dotfiles
theme = "llama-dark"   # dark, always
memory_window = 5

[defaults]
temperature = 0.7  # warm
max_tokens = 512

# the work endpoint, key from pass
[endpoints.work]
url = "https://work.example/v1"
key_cmd = "pass show work/llama"
headers = { x-team = "ml", X-Api-Key = "sk-header-secret" }

[endpoints.local]
# llama.cpp on this machine
url = "http://127.0.0.1:8080/v1"
kind = "completion"
prompt_format = "llama2"
'''

TYPO = COMMENTED.replace('prompt_format = "llama2"', 'prompt_fromat = "llama2"')


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    path.chmod(0o600)
    return path


def test_a_change_touches_only_its_key(tmp_path: Path) -> None:
    path = write(tmp_path, COMMENTED)
    config = load_config(path)
    config.theme = "llama-light"
    save_config(config)
    assert path.read_text("utf-8") == COMMENTED.replace(
        'theme = "llama-dark"   # dark, always', 'theme = "llama-light"   # dark, always')


def test_edits_keep_comments_order_and_other_tables(tmp_path: Path) -> None:
    path = write(tmp_path, COMMENTED)
    config = load_config(path)
    config.defaults = replace(config.defaults, temperature=0.2, top_p=0.9)
    config.endpoints["local"].model = "llama-2-7b"
    config.endpoints["new"] = Endpoint("new", "https://new.example", api_key="sk-new")
    save_config(config)
    text = path.read_text("utf-8")
    for line in ("# My llama-tui config: kept in ~/dotfiles", "# the work endpoint, key from pass",
                 "# llama.cpp on this machine", "max_tokens = 512", "temperature = 0.2  # warm",
                 'headers = { x-team = "ml", X-Api-Key = "sk-header-secret" }'):
        assert line in text
    assert text.index("[endpoints.work]") < text.index("[endpoints.local]") < text.index(
        "[endpoints.new]")
    # A new key joins its table, above the comment that belongs to the next one.
    assert "max_tokens = 512\ntop_p = 0.9\n\n# the work endpoint" in text
    again = load_config(path)
    assert again.endpoints["local"].model == "llama-2-7b"
    assert again.endpoints["new"].api_key == "sk-new"
    assert (again.defaults.temperature, again.defaults.top_p) == (0.2, 0.9)


def test_a_removed_endpoint_is_removed(tmp_path: Path) -> None:
    path = write(tmp_path, COMMENTED)
    config = load_config(path)
    del config.endpoints["work"]
    save_config(config)
    text = path.read_text("utf-8")
    assert "[endpoints.work]" not in text and "pass show" not in text
    assert "# llama.cpp on this machine" in text
    assert list(load_config(path).endpoints) == ["local"]


def test_a_failed_load_is_never_written(tmp_path: Path) -> None:
    path = write(tmp_path, TYPO)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.line == TYPO.splitlines().index('prompt_fromat = "llama2"') + 1
    assert f"{path}, line {info.value.line}: endpoints.local.prompt_fromat" in str(info.value)
    defaults = Config(path=path, load_error=info.value)
    defaults.theme = "llama-light"
    with pytest.raises(ConfigNotSaved):
        save_config(defaults)
    assert path.read_text("utf-8") == TYPO
    assert not backup_path(path, 1).exists()


def test_a_file_broken_by_hand_since_loading_is_not_overwritten(tmp_path: Path) -> None:
    path = write(tmp_path, COMMENTED)
    config = load_config(path)
    path.write_text(TYPO, "utf-8")
    config.theme = "llama-light"
    with pytest.raises(ConfigNotSaved, match="prompt_fromat"):
        save_config(config)
    assert path.read_text("utf-8") == TYPO


def test_what_someone_else_changed_meanwhile_stays(tmp_path: Path) -> None:
    path = write(tmp_path, COMMENTED)
    config = load_config(path)
    path.write_text(COMMENTED + '\n[endpoints.added-by-hand]\nurl = "http://h.example"\n', "utf-8")
    config.theme = "llama-light"
    save_config(config)
    again = load_config(path)
    assert again.theme == "llama-light" and "added-by-hand" in again.endpoints


def test_backups_rotate_newest_first(tmp_path: Path) -> None:
    path = write(tmp_path, COMMENTED)
    config = load_config(path)
    written = [path.read_bytes()]
    for theme in ("one", "two", "three", "four"):
        config = copy.deepcopy(config)
        config.theme = theme
        save_config(config)
        written.append(path.read_bytes())
    assert [backup_path(path, n).read_bytes() for n in (1, 2, 3)] == written[-2:-5:-1]
    assert not backup_path(path, 4).exists()
    for n in (1, 2, 3):
        assert stat.S_IMODE(backup_path(path, n).stat().st_mode) == 0o600


def test_a_symlinked_config_stays_a_link(tmp_path: Path) -> None:
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    target = write(dotfiles, COMMENTED, "llama-tui.toml")
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    link = config_dir / "config.toml"
    link.symlink_to(target)
    config = load_config(link)
    config.theme = "llama-light"
    save_config(config)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert 'theme = "llama-light"' in target.read_text("utf-8")
    assert backup_path(link, 1).read_text("utf-8") == COMMENTED
    assert [p.name for p in dotfiles.iterdir()] == ["llama-tui.toml"]  # no temp file left


def test_a_new_file_is_0600_and_loads(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "config.toml"
    config = load_config(path)
    config.endpoints["a"] = Endpoint("a", "https://a.example", api_key="sk-a")
    save_config(config)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_config(path).endpoints["a"].api_key == "sk-a"
    assert not backup_path(path, 1).exists()


def test_a_read_only_folder_changes_nothing(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    path = write(tmp_path, COMMENTED)
    config = load_config(path)
    config.theme = "llama-light"
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(OSError):
            save_config(config)
    finally:
        tmp_path.chmod(0o700)
    assert path.read_text("utf-8") == COMMENTED


def test_changing_tls_rewrites_every_spelling(tmp_path: Path) -> None:
    path = write(tmp_path, '[endpoints.a]\nurl = "https://a.example"\nverify = false\n')
    config = load_config(path)
    config.endpoints["a"].verify = True
    save_config(config)
    assert load_config(path).endpoints["a"].verify is True
    assert "verify" not in path.read_text("utf-8")


def test_no_write_without_a_backup(tmp_path: Path) -> None:
    path = write(tmp_path, COMMENTED)
    backup_path(path, 2).write_text("older")
    backup_path(path, 3).mkdir()  # rotation cannot go on (a folder mode would not stop root)
    (backup_path(path, 3) / "x").write_text("x")
    config = load_config(path)
    config.theme = "llama-light"
    with pytest.raises(OSError):
        save_config(config)
    assert path.read_text("utf-8") == COMMENTED


def test_saving_without_a_change_writes_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, COMMENTED)
    config = load_config(path)
    inode = path.stat().st_ino
    save_config(config)
    save_config(load_config(path))
    assert path.stat().st_ino == inode and not backup_path(path, 1).exists()


def test_a_byte_order_mark_is_no_error(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b"\xef\xbb\xbf" + COMMENTED.encode("utf-8"))
    config = load_config(path)
    config.theme = "llama-light"
    save_config(config)
    assert load_config(path).theme == "llama-light"
