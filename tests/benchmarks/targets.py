"""The programs the benchmarks drive, and how each is started, made ready and asked.

Every target gets a fresh home folder, the benchmark stream server as its endpoint, and runs
in a 120x36 pty (ptyharness). `ready` is text that shows the program is waiting for input;
`send` is what is typed then (None: the program asks by itself on start).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = Path(__file__).resolve().parent / "apps"
ELIA = os.environ.get("BENCH_ELIA", "/tmp/elia-venv/bin/elia")
SIDEBAR = 34  # llama-tui's conversation list: reply text is matched right of it


@dataclass
class Target:
    name: str
    argv: list[str]
    ready: str | None = "New conversation. Type below and press Enter"
    send: str | None = "hello\r"
    columns: tuple[int, int] = (SIDEBAR, 120)
    env: dict[str, str] = field(default_factory=dict)
    slow: bool = False  # quadratic: one run only, bigger timeout
    draws: bool = True  # False: the reply never shows (a floor measurement)

    def prepare(self, base_url: str) -> tuple[dict[str, str], str]:
        """Environment for one run (a fresh home) and that home, to delete afterwards."""
        home = tempfile.mkdtemp(prefix="llama-tui-bench-")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LLAMA_TUI_", "XDG_"))}
        env.update({"LLAMA_TUI_HOME": home, "LLAMA_TUI_BASE_URL": base_url + "/v1",
                    "HOME": home, "PYTHONDONTWRITEBYTECODE": "1"})
        env.update(self.env)
        if self.name.startswith("Elia"):
            write_elia_config(home, base_url)
            env.update({"XDG_CONFIG_HOME": f"{home}/config", "XDG_DATA_HOME": f"{home}/data",
                        "OPENAI_API_KEY": "sk-bench", "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
        return env, home


def write_elia_config(home: str, base_url: str) -> None:
    config = Path(home) / "config" / "elia"
    config.mkdir(parents=True)
    (config / "config.toml").write_text(
        'default_model = "bench"\n'
        "[[models]]\n"
        'id = "bench"\n'
        'name = "openai/fake-model"\n'
        f'api_base = "{base_url}/v1"\n'
        'api_key = "sk-bench"\n'
    )


def llama_tui_argv() -> list[str]:
    script = Path(sys.executable).with_name("llama-tui")
    return [str(script)] if script.exists() else [sys.executable, "-m", "llama_tui"]


def variant(spec: str) -> Target:
    """llama-tui with other renderer knobs: "FPS:STEP" (frames/s of the tail, growth step),
    "off" (replies not drawn: what the rest of the app costs), or "@PATH": the llama-tui of
    another checkout (a git worktree of an older commit), to compare versions in one run."""
    if spec.startswith("@"):
        return Target(f"llama-tui at {spec[1:]}",
                      [sys.executable, str(Path(spec[1:]) / "tests/benchmarks/apps/variant_app.py")])
    if spec == "off":
        return Target("llama-tui, replies not drawn (floor)",
                      [sys.executable, str(APPS / "variant_app.py")], env={"BENCH_RENDER": "off"},
                      draws=False)
    fps, _, step = spec.partition(":")
    env = {"BENCH_FPS": fps or "20", "BENCH_STEP": step or "8"}
    return Target(f"llama-tui, {env['BENCH_FPS']} fps, growth step {env['BENCH_STEP']}",
                  [sys.executable, str(APPS / "variant_app.py")], env=env)


def all_targets() -> dict[str, Target]:
    py = sys.executable
    targets = [
        Target("llama-tui", llama_tui_argv()),
        Target("llama-tui with MarkdownStream (before #6)", [py, str(APPS / "legacy_app.py")],
               slow=True),
        Target("Markdown.get_stream() alone", [py, str(APPS / "getstream_app.py")],
               ready="READY", send="\r", columns=(0, 120)),
        Target("plain printer (llama-tui ask)", [*llama_tui_argv(), "ask", "hello"],
               ready=None, send=None, columns=(0, 120)),
    ]
    if shutil.which(ELIA) or Path(ELIA).exists():
        targets.append(Target("Elia 1.10 (elia-chat)", [ELIA, "hello"], ready=None, send=None,
                              columns=(0, 120), slow=True))
    return {t.name: t for t in targets}
