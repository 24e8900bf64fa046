"""The import layering of visionzoo, enforced: no import cycle between modules, no import that goes upward.

Every ``visionzoo/**/*.py`` is parsed with `ast`. Every import statement counts, wherever it stands: at module
level, inside a function (a "lazy" import), in a ``try`` or a class body. A function-local import hides a
dependency from the import-time order, but it is still a dependency: the module cannot work without the
other one, so it counts for cycles and for the layer order alike. Only imports under ``if TYPE_CHECKING:``
are left out (type hints, never executed).

An import of ``a.b.c`` depends on ``a.b.c`` and on the packages ``a.b`` and ``a`` whose ``__init__`` it runs,
except the importer's own packages (Python has already started them) and the root package ``visionzoo`` (the
public facade, which imports everything by design).

The layer order, bottom to top (a module may import its own layer and the layers below it):

0. ``constants``, ``utils``: neutral helpers (ImageNet statistics, atomic writes, the safe loader); import
   nothing of visionzoo but each other.
1. ``layers`` (attention blocks, embeddings, MLPs), ``data`` (datasets and file formats; no model code).
2. ``registry``: the tables (names -> entrypoints, name.tag -> `WeightEntry` data). No weights code.
3. ``weights``: `WeightEntry`, the converter registry (keyed by model class), checkpoint reading and strict
   loading, download/cache/hub. Never backbones, heads or models.
4. ``factory``: `create_model`, above the registry and the weights machinery, below every model family
   (DETR builds its backbone by name through it).
5. ``backbones``: one module per family, with its entrypoints, weight tags, converters and tiny config.
6. ``heads``.
7. ``models``: assembly (segmenters, detectors) of backbones and heads.
8. ``export``, ``visualize``: uses of finished models.
9. ``visionzoo`` (the package ``__init__``): the public API.
10. ``engine`` (the only mmengine user; it may import everything, the public API included).
11. ``cli`` (the ``visionzoo`` command, the tools behind ``tools/*.py``, and the benchmarking code: reference
    builders, timing, tables) and ``__main__`` (``python -m visionzoo``): the top layer, which nothing imports.
"""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "visionzoo"
PACKAGE = "visionzoo"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("constants", "utils", "_memory"),  # _memory: set before torch is imported, imports nothing
    ("layers", "data"),
    ("registry",),
    ("weights",),
    ("factory",),
    ("backbones",),
    ("heads",),
    ("models",),
    ("export", "visualize"),
    ("",),  # the root package visionzoo/__init__.py
    ("engine",),
    ("cli", "__main__"),
)

# Known exceptions, each with the reason it still exists; the test fails when one is no longer needed.
ALLOWED: dict[tuple[str, str], str] = {}


def _module_names() -> dict[str, Path]:
    names = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


MODULES = _module_names()


def _is_package(name: str) -> bool:
    return MODULES.get(name, Path()).name == "__init__.py"


def _type_checking_block(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(module: str, tree: ast.AST) -> set[str]:
    """The visionzoo modules an import anywhere in `tree` names (absolute, resolved against `module`)."""
    package = module if _is_package(module) else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking_block(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {name for name in found if name == PACKAGE or name.startswith(PACKAGE + ".")}


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _resolve(name: str) -> str:
    """The nearest existing module for an imported name (``visionzoo.layers.X`` where X is a class -> ``visionzoo.layers``)."""
    while name not in MODULES and "." in name:
        name = name.rpartition(".")[0]
    return name


def import_graph() -> dict[str, set[str]]:
    """module -> the visionzoo modules it depends on (see the module docstring for what counts)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in MODULES.items():
        graph[module]  # every module is a node
        own = set(_ancestors(module)) | {module}
        for target in _imported(module, ast.parse(path.read_text(encoding="utf-8"), str(path))):
            target = _resolve(target)
            for dep in [*_ancestors(target), target]:
                if dep in own or (dep == PACKAGE and target != PACKAGE):  # the root runs first for every import
                    continue
                graph[module].add(dep)
    return graph


def layer_of(module: str) -> int:
    rest = module[len(PACKAGE) + 1:] if module != PACKAGE else ""
    top = rest.split(".")[0]
    for rank, names in enumerate(LAYERS):
        if top in names:
            return rank
    raise KeyError(f"{module} is in no layer: add {top!r} to LAYERS in tests/test_layering.py")


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted, largest first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return sorted(out, key=lambda c: (-len(c), c))


def _edges_without_allowed(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    return {m: {d for d in deps if (m, d) not in ALLOWED} for m, deps in graph.items()}


@pytest.fixture(scope="module")
def graph():
    return import_graph()


def test_every_module_has_a_layer(graph):
    for module in graph:
        layer_of(module)


def test_no_import_cycle(graph):
    cycles = import_cycles(_edges_without_allowed(graph))
    lines = [f"{len(c)} modules: {' -> '.join(c)}" for c in cycles]
    assert not cycles, f"{len(cycles)} import cycle(s) in visionzoo/:\n" + "\n".join(lines)


def test_no_upward_import(graph):
    upward = sorted(
        f"{m} (layer {layer_of(m)}) imports {d} (layer {layer_of(d)})"
        for m, deps in _edges_without_allowed(graph).items()
        for d in deps
        if layer_of(d) > layer_of(m)
    )
    order = "; ".join(f"{i}: {', '.join(n or 'visionzoo/__init__' for n in names)}" for i, names in enumerate(LAYERS))
    assert not upward, f"{len(upward)} upward import(s) (layer order {order}):\n" + "\n".join(upward)


def test_allowed_exceptions_are_still_needed(graph):
    stale = [f"{m} -> {d}" for (m, d) in ALLOWED if d not in graph.get(m, ())]
    assert not stale, f"remove these from ALLOWED in tests/test_layering.py, the imports are gone: {stale}"


def test_the_checker_sees_lazy_and_relative_imports():
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "from . import swin\n"
        "from ..registry import register_model\n"
        "if TYPE_CHECKING:\n    from ..models import detr\n"
        "def f():\n    from ..weights.checkpoint import read_checkpoint\n"
    )
    found = _imported("visionzoo.backbones.vit", tree)
    assert found >= {"visionzoo.backbones.swin", "visionzoo.registry", "visionzoo.weights.checkpoint"}
    assert not any(name.startswith("visionzoo.models") for name in found)
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


BLOCKER = r'''
import importlib.abc, importlib.machinery, sys

BLOCKED = {"mmengine", "monai", "onnx", "onnxruntime", "onnxscript"}


class _Refuse(importlib.abc.Loader):
    def create_module(self, spec):
        raise ImportError(f"{spec.name} is blocked by tests/test_layering.py", name=spec.name)

    def exec_module(self, module):  # pragma: no cover - create_module always raises
        raise ImportError(module.__name__)


class _Blocker(importlib.abc.MetaPathFinder):
    """Importing a blocked package raises ImportError (find_spec still answers, as torch probes optional packages)."""

    def find_spec(self, name, path=None, target=None):
        return importlib.machinery.ModuleSpec(name, _Refuse()) if name.split(".")[0] in BLOCKED else None


sys.meta_path.insert(0, _Blocker())
import visionzoo as vz

model = vz.create_model("vit_tiny_patch16_224", depth=1, num_classes=3)
assert vz.list_models("swin*") and vz.list_pretrained("vit*")
loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED and sys.modules[m] is not None)
assert not loaded, loaded
print("ok")
'''


def test_import_visionzoo_without_mmengine_monai_onnx():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", BLOCKER], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]
