"""The layout keeps its promises: a pure engine, no import cycles, a thin CLI."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import digitnet

PACKAGE = Path(digitnet.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _module_level_imports(path: Path) -> set[str]:
    """The digitnet modules ``path`` imports when it is loaded (not inside functions)."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("digitnet"):
                for alias in node.names:  # `from digitnet.nn import parallel`: a module
                    sub = f"{node.module}.{alias.name}"
                    names.add(
                        sub
                        if (PACKAGE.parent / sub.replace(".", "/")).with_suffix(".py").exists()
                        else node.module
                    )
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("digitnet"))
    return names


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _module_level_imports(p) for p in PACKAGE.rglob("*.py")}


def test_importing_the_engine_imports_nothing_else_of_digitnet():
    code = (
        "import sys, digitnet.nn; print(sorted(m for m in sys.modules "
        "if m.startswith('digitnet') and m != 'digitnet' and not m.startswith('digitnet.nn')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"


def test_engine_sources_name_no_other_digitnet_module():
    """Also imports inside functions: the engine never reaches out of digitnet.nn."""
    for path in (PACKAGE / "nn").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                mod = node.module
            elif isinstance(node, ast.Import):
                mod = node.names[0].name
            else:
                continue
            assert not mod.startswith("digitnet") or mod.startswith("digitnet.nn"), (
                f"{path.relative_to(PACKAGE)} imports {mod}"
            )


def test_no_import_cycle_between_modules():
    """Module-level imports form no cycle (a package's __init__ importing its own modules
    is the one expected back-edge of `import pkg.mod`, so edges into a package's own
    __init__ from inside it are counted, the reverse is not)."""
    graph = _graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if node.startswith(dep + ".") is False and dep.startswith(node + "."):
                continue  # a package importing its own submodule
            if state.get(dep) == 1:
                cycles.append(stack[stack.index(dep) :] + [dep] if dep in stack else [dep])
            elif dep in graph and not state.get(dep):
                visit(dep, stack + [dep])
        state[node] = 2

    for name in sorted(graph):
        if not state.get(name):
            visit(name, [name])
    assert cycles == []


#: the layers, lowest first: a module imports only from its own layer or those below it,
#: at module level or inside functions (docs/architecture.md explains each)
LAYERS: list[tuple[str, ...]] = [
    ("digitnet", "digitnet.errors", "digitnet.progress", "digitnet.files"),
    ("digitnet.nn",),
    ("digitnet.imaging",),
    ("digitnet.data",),
    ("digitnet.modelfile", "digitnet.models"),
    ("digitnet.evaluation",),
    ("digitnet.training",),
    ("digitnet.reading",),
    ("digitnet.report",),
    ("digitnet.interop",),
    ("digitnet.apps", "digitnet.__main__"),
]


def layer_of(module: str) -> int:
    """The index in :data:`LAYERS` of the longest prefix of ``module`` listed there."""
    best, depth = None, -1
    for i, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and prefix.count(".") > depth:
                best, depth = i, prefix.count(".")
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best


def _all_imports(path: Path) -> set[str]:
    """Every digitnet module ``path`` imports, anywhere in the file (functions included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("digitnet"):
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    is_module = (PACKAGE.parent / sub.replace(".", "/")).with_suffix(
                        ".py"
                    ).exists() or (PACKAGE.parent / sub.replace(".", "/")).is_dir()
                    names.add(sub if is_module else node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("digitnet"))
    return names


def test_every_import_goes_down_the_layers():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = _module_name(path)
        for dep in sorted(_all_imports(path)):
            if layer_of(dep) > layer_of(here):
                wrong.append(
                    f"{here} (layer {layer_of(here)}) imports {dep} (layer {layer_of(dep)})"
                )
    assert wrong == []


def test_the_layer_check_sees_an_import_inside_a_function(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("def f():\n    from digitnet.apps.cli import main\n")
    assert "digitnet.apps.cli" in _all_imports(src)
    assert layer_of("digitnet.apps.cli") > layer_of("digitnet.nn.layers")


def test_importing_the_web_app_loads_no_matplotlib():
    code = (
        "import sys, digitnet.apps.serve, digitnet.apps.serve.app, digitnet.reading; "
        "print(any(m.startswith('matplotlib') for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "False"
