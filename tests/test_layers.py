"""The layers of DESIGN.md, checked mechanically: imports point down only, there are no import
cycles, and the inference, serving and NumPy packages load without torch.

Every import counts: module-level, function-level and those under ``if TYPE_CHECKING:`` (a
type-only import is still a dependency a reader must follow, and the usual way a cycle hides).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# Lowest first; a module may import its own layer and any lower one. Each entry: (name, prefixes).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("gatecast._version", "gatecast.errors", "gatecast.types", "gatecast.artifacts")),
    ("data | nn", ("gatecast.data", "gatecast.nn")),
    ("plots", ("gatecast.plots",)),
    ("train", ("gatecast.training",)),
    # the inference core: spec, model-folder reader, pipeline, engines, frozen classical recursions
    ("inference", ("gatecast.inference",)),
    # the streams and the NumPy model folder (its `.stream()` makes a Stream); the recurrent
    # models return Streams and `open_stream` serves with `load_numpy`, so serve stays below models
    ("serve", ("gatecast.serve",)),
    ("models", ("gatecast.models",)),
    ("evaluate", ("gatecast.evaluation",)),
    ("experiment", ("gatecast.experiment",)),
    ("cli", ("gatecast.cli", "gatecast.__main__")),
    # the public face: `import gatecast as gc` (its names imported on first use) and the jobs as
    # one call each; nothing inside gatecast imports it
    ("face", ("gatecast.jobs",)),
]
# `gatecast.nn` is the self-contained NumPy engine: it imports only itself and the exception family
# (so that its errors are GatecastErrors, which the CLI prints as one line).
NN_MAY_IMPORT = ("gatecast.nn", "gatecast.errors")
# Siblings on one layer that must stay independent of each other.
APART = [("gatecast.data", "gatecast.nn")]


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted((SRC / "gatecast").rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _imports(module: str) -> list[tuple[str, int]]:
    """(imported gatecast module, line) for every import statement anywhere in ``module``."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: `from . import x`, `from ..data import y`
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from gatecast.cli import app` imports the module gatecast.cli.app
            names = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names
            ]
        else:
            continue
        for name in names:
            if _within(name, "gatecast"):
                # `import gatecast.data.features.x` names an attribute: keep the longest module
                while name not in MODULES and "." in name:
                    name = name.rpartition(".")[0]
                out.append((name, node.lineno))
    return sorted(set(out))


def _layer(module: str) -> int | None:
    if module == "gatecast":  # the package __init__: the public face, above everything
        return len(LAYERS) - 1
    for rank, (_, prefixes) in enumerate(LAYERS):
        if any(_within(module, p) for p in prefixes):
            return rank
    return None


def _break(module: str, imported: str) -> str | None:
    """Why ``module`` may not import ``imported``, or None when it may."""
    if _within(module, "gatecast.nn") and not any(_within(imported, p) for p in NN_MAY_IMPORT):
        return f"gatecast.nn may import only {' and '.join(NN_MAY_IMPORT)}"
    for a, b in APART:
        if (_within(module, a) and _within(imported, b)) or (
            _within(module, b) and _within(imported, a)
        ):
            return f"{a} and {b} must not import each other"
    mine, theirs = _layer(module), _layer(imported)
    assert mine is not None and theirs is not None
    if theirs > mine:
        return (
            f"layer {LAYERS[mine][0]!r} may not import from layer {LAYERS[theirs][0]!r} above it "
            f"(lowest first: {' < '.join(name for name, _ in LAYERS)})"
        )
    return None


def test_every_module_has_a_layer() -> None:
    unplaced = [m for m in MODULES if _layer(m) is None]
    assert not unplaced, f"modules in no layer (add them to LAYERS in {__file__}): {unplaced}"


def test_imports_point_down_only() -> None:
    breaks = []
    for module in MODULES:
        if _layer(module) is None:
            continue
        for imported, line in _imports(module):
            why = _break(module, imported) if _layer(imported) is not None else None
            if why:
                breaks.append(
                    f"{MODULES[module].relative_to(SRC)}:{line}: {module} imports {imported}: {why}"
                )
    assert not breaks, f"{len(breaks)} import(s) against the layers:\n" + "\n".join(breaks)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles() -> None:
    graph = {m: {i for i, _ in _imports(m) if i != m} for m in MODULES}
    cycles = _cycles(graph)
    assert not cycles, "modules that import each other (directly or round a loop):\n" + "\n".join(
        " <-> ".join(c) for c in cycles
    )


def test_cycle_finder_finds_a_loop_of_three() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


@pytest.mark.parametrize(
    "package", ["gatecast", "gatecast.jobs", "gatecast.inference", "gatecast.serve", "gatecast.nn"]
)
def test_package_imports_without_torch(package: str) -> None:
    code = f"import sys, {package}; sys.exit('torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"`import {package}` imported torch (or failed):\n{proc.stderr}"


def test_the_settings_groups_load_no_statistics_library() -> None:
    """Every command's options are built from the settings groups when the CLI starts
    (`gatecast --help`); the model confidence set's arch and the DM test's statsmodels load on
    first use, not then (they cost about a third of a second of each start)."""
    code = (
        "import sys, gatecast.experiment.settings; "
        "print(','.join(m for m in ('arch.bootstrap', 'statsmodels') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"loaded at import: {proc.stdout}"
