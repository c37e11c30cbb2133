"""docs/design.md §1: nothing outside llama_tui.ui imports Textual (or Rich); the core never
imports the UI; no two modules import each other (directly or in a circle)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "llama_tui"

CORE = ("llama_tui, llama_tui.client, llama_tui.storage.store, llama_tui.config, llama_tui.prompts, "
        "llama_tui.engine, llama_tui.cli, llama_tui.commands.ask, llama_tui.commands.history")


def test_core_imports_no_textual_or_rich() -> None:
    code = (f"import sys, json\nimport {CORE}\n"
            "print(json.dumps(sorted(m for m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    modules = json.loads(done.stdout)
    assert "llama_tui.commands.history" in modules  # the imports really happened
    leaked = [m for m in modules if m.split(".")[0] in ("textual", "rich") or
              m.startswith(("textual_", "rich_"))]
    assert leaked == []


class _ImportVisitor(ast.NodeVisitor):
    """The absolute imports of one module, but (unless `typing` is set) those under
    `if TYPE_CHECKING:`."""

    def __init__(self, typing: bool = False) -> None:
        self.found: set[str] = set()
        self.typing = typing

    def visit_If(self, node: ast.If) -> None:
        if "TYPE_CHECKING" in ast.unparse(node.test) and not self.typing:
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.found.update(alias.name for alias in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module and node.level == 0:
            self.found.add(node.module)
            self.found.update(f"{node.module}.{alias.name}" for alias in node.names)


def _imports(typing: bool = False) -> dict[str, set[str]]:
    """Each module of the package and the package modules it imports: at the top or inside a
    function (a lazy import is still a dependency), and with `typing` those for type
    checking only too."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        visitor = _ImportVisitor(typing)
        visitor.visit(ast.parse(path.read_text("utf-8")))
        graph[name] = {dep for dep in visitor.found if dep in modules and dep != name}
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for dep in graph[node]:
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                circles.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return circles


def test_no_import_circles() -> None:
    graph = _imports()
    assert "llama_tui.commands.common" in graph["llama_tui.cli"]  # the walk sees imports
    assert _circles(graph) == []


def test_no_import_circles_even_for_type_checking() -> None:
    """Screens get what they need of the app as `Services`: none names the app, not even
    for its type, so no module and the app depend on each other."""
    graph = _imports(typing=True)
    assert _circles(graph) == []
    assert sorted(name for name, deps in graph.items() if "llama_tui.ui.app" in deps) == [
        "llama_tui.commands.tui"]


def test_the_core_never_imports_the_ui() -> None:
    graph = _imports()
    core = [name for name in graph if not name.startswith(("llama_tui.ui", "llama_tui.commands.tui"))]
    assert [(name, sorted(d for d in graph[name] if d.startswith("llama_tui.ui")))
            for name in core if any(d.startswith("llama_tui.ui") for d in graph[name])] == []
