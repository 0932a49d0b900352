"""The library's layer order, read from the source (every import, a function's own included): data flows one way
(data/models/augment -> train/regimes -> select/scores/distill -> config/runner/records/sweeps -> analysis/profile ->
audit ->
findings -> cli), no module imports a layer above its own, and no two modules import each other."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ddlib"

LAYERS = [
    {"version", "kernels", "fingerprint", "errors", "paths", "origin", "store", "choices", "profiles", "artefacts"},
    {"data", "models", "augment", "budget"},
    {"train", "regimes", "teacher"},
    {"rules", "scores", "cad", "select", "synset", "distill"},
    {"config"},
    {"runner"},
    {"picks"},
    {"records"},
    {"sweeps"},
    {"analysis", "profile", "report", "plots"},
    {"audit", "gallery"},
    {"findings", "provenance", "reproducibility", "plan", "sitecheck"},
    {"cli", "__main__", "__init__"},
]
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


def _top(module: str) -> str:
    """The layer name of a module: its first part (``distill.mtt`` is ``distill``)."""
    return module.split(".")[0]


def imports() -> dict:
    """{module: set of ddlib modules it imports}, relative and absolute imports, at any depth of the file."""
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        me = _module(path)
        package = me.split(".")[:-1] if path.name != "__init__.py" else me.split(".")
        if me == "__init__":
            package = []
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package[:len(package) - node.level + 1]
                target = base + (node.module.split(".") if node.module else [])
                for alias in node.names:
                    sub = target + [alias.name]
                    as_module = PACKAGE.joinpath(*sub).with_suffix(".py").exists() or PACKAGE.joinpath(*sub).is_dir()
                    deps.add(".".join(sub if as_module else target) or "__init__")
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                deps |= {n[len("ddlib."):] for n in names if n.startswith("ddlib.")}
                deps |= {"__init__" for n in names if n == "ddlib"}
        graph[me] = {d for d in deps if d != me}
    return graph


def test_every_module_has_a_layer():
    assert {_top(m) for m in imports()} <= set(LAYER)


@pytest.mark.parametrize("module", sorted(imports()))
def test_no_module_imports_a_layer_above_its_own(module):
    mine = LAYER[_top(module)]
    above = sorted(d for d in imports()[module] if LAYER[_top(d)] > mine)
    assert not above, f"{module} (layer {mine}) imports {above} from a higher layer"


def test_no_import_cycle():
    graph = imports()
    state = {}

    def visit(m, path):
        if state.get(m) == "done":
            return
        assert state.get(m) != "open", f"import cycle: {' -> '.join([*path, m])}"
        state[m] = "open"
        for d in sorted(graph.get(m, ())):
            visit(d, [*path, m])
        state[m] = "done"

    for m in sorted(graph):
        visit(m, [])

