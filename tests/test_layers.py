"""The package's imports flow one way: no import circle among its files (imports inside
functions counted too), every import points down the layers of docs/design.md, and the
vocabulary at the bottom imports no torch."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import ganorama

PACKAGE = Path(ganorama.__file__).parent

# Bottom to top, as in docs/design.md. A module imports only modules of its own layer or
# below (within a layer, the no-circle test keeps the order one way).
LAYERS = (
    ("vocabulary", ("ganorama", "ganorama.errors", "ganorama.checks", "ganorama.formats", "ganorama.resources", "ganorama.files",
                    "ganorama.urls", "ganorama.engines", "ganorama.platforms", "ganorama.canvas", "ganorama.canvas.tiling", "ganorama.canvas.layouts",
                    "ganorama.models", "ganorama.models.imagenet", "ganorama.models.config", "ganorama.request",
                    "ganorama.walks")),
    ("geometry and the model", ("ganorama.geometry", "ganorama.devices", "ganorama.latents", "ganorama.memory",
                                "ganorama.models.checkpoint", "ganorama.models.weights", "ganorama.models.convert",
                                "ganorama.models.importing",
                                "ganorama.models.choice", "ganorama.models.biggan", "ganorama.models.cost", "ganorama.scores")),
    ("canvases and the runner", ("ganorama.canvas.sync", "ganorama.canvas.sphere", "ganorama.canvas.plane",
                                 "ganorama.runner")),
    ("writing", ("ganorama.export", "ganorama.outputs", "ganorama.result", "ganorama.destinations")),
    ("planning and the generator", ("ganorama.planning", "ganorama.pipeline")),
    ("clients", ("ganorama.batch", "ganorama.ui", "ganorama.cli", "ganorama.__main__")),
)
# Modules that must import without torch (the --help path and request checking).
TORCH_FREE = ("ganorama.errors", "ganorama.checks", "ganorama.formats", "ganorama.engines", "ganorama.platforms", "ganorama.resources", "ganorama.files", "ganorama.urls",
              "ganorama.canvas.tiling", "ganorama.canvas.layouts", "ganorama.models.imagenet",
              "ganorama.models.config", "ganorama.models.weights", "ganorama.models.choice", "ganorama.request",
              "ganorama.walks", "ganorama.cli")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _imports(name: str, path: Path, known: set[str]) -> dict[str, int]:
    """The package's modules that ``name`` imports anywhere in its file (module level,
    inside functions, under TYPE_CHECKING), each with the first line that does."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # "from ganorama.ui import form" imports the module ganorama.ui.form.
            submodules = [f"{module}.{alias.name}" for alias in node.names if f"{module}.{alias.name}" in known]
            targets = submodules if len(submodules) == len(node.names) else [module, *submodules]
        for target in targets:
            if target in known and target != name:
                found.setdefault(target, node.lineno)
    return found


def _graph() -> dict[str, dict[str, int]]:
    modules = _modules()
    return {name: _imports(name, path, set(modules)) for name, path in modules.items()}


def _layer(name: str) -> int:
    best = None
    for index, (_, members) in enumerate(LAYERS):
        for member in members:
            if (name == member or name.startswith(member + ".")) and (best is None or len(member) > len(best[1])):
                best = (index, member)
    assert best is not None, f"{name} is in no layer of LAYERS (add it to the one it belongs to)"
    return best[0]


def _a_circle(graph: dict[str, dict[str, int]]) -> list[str] | None:
    """One import circle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state:
                circle = visit(target)
                if circle:
                    return circle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            circle = visit(node)
            if circle:
                return circle
    return None


def test_no_import_circle_among_the_package_files_counting_imports_inside_functions():
    graph = _graph()
    circle = _a_circle(graph)
    assert circle is None, "import circle: " + " -> ".join(
        f"{a} (line {graph[a][b]})" for a, b in zip(circle, circle[1:])) + f" -> {circle[-1]}"


def test_the_circle_finder_finds_a_circle_made_by_an_import_inside_a_function():
    assert _a_circle({"a": {"b": 1}, "b": {"c": 3}, "c": {"a": 9}}) == ["a", "b", "c", "a"]
    assert _a_circle({"a": {"b": 1}, "b": {}, "c": {"a": 2}}) is None
    source = PACKAGE / "request.py"
    imports = _imports("ganorama.request", source, set(_modules()))
    assert "ganorama.models.imagenet" in imports  # imported inside a check function only


def test_every_import_points_down_the_layers():
    upward = [f"{name} ({LAYERS[_layer(name)][0]}) imports {target} ({LAYERS[_layer(target)][0]}) at line {line}"
              for name, targets in _graph().items() for target, line in targets.items()
              if _layer(target) > _layer(name)]  # fmt: skip
    assert upward == []


def test_the_vocabulary_and_the_command_line_import_no_torch():
    code = (f"import sys\nfor name in {TORCH_FREE!r}:\n    __import__(name)\n"
            "print('torch' in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))[:3])")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert output.stdout.startswith("False"), output.stdout
