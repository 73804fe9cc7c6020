"""The house stays as built: imports go one way through the layers, no module imports itself round a circle, and
no code outside ``pipeline/engine/`` asks which engine holds the data.

Layers, lowest first (a module may import from its own package, from its own layer where the layer is one
family of packages, and from any lower layer):

    core <- features, models <- data <- engine <- build <- training <- scoring <- outcomes <- outputs <- run <- cli

``run`` is every stage's ``run.py`` (the body of its commands, callable from Python).
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("pipeline", "features", "models")
LAYERS = {
    "pipeline.core": 0,
    "features": 1, "models": 1,
    "pipeline.data": 2,
    "pipeline.engine": 3,
    "pipeline.build": 4,
    "pipeline.training": 5,
    "pipeline.scoring": 6,
    "pipeline.outcomes": 7,
    "pipeline.outputs": 8,
    "run": 9,
    "pipeline.cli": 10,
}
SHARED_LAYERS = {1, 9}  # features and models use each other; the run modules call each other's steps


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def package_of(module: str) -> str:
    """The layer's package a module belongs to (``run`` for a stage's run.py)."""
    if module.endswith(".run"):
        return "run"
    for package in sorted(LAYERS, key=len, reverse=True):
        if module == package or module.startswith(package + "."):
            return package
    raise AssertionError(f"{module} is in no layer: add its package to LAYERS in {__file__}")


@functools.cache
def imports(path: Path, module: str) -> frozenset[str]:
    """Every project module ``path`` imports, at the top or inside functions (``from a import b`` counts as
    ``a.b`` when ``a.b`` is a module)."""
    known = modules()
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module
                     for a in node.names]
        else:
            continue
        found |= {n for n in names if n.split(".")[0] in PACKAGES and n != module}
    return frozenset(found)


def test_every_module_is_in_a_layer():
    for module in modules():
        if module != "pipeline":
            package_of(module)


def allowed(source: str, target: str) -> bool:
    if target == "pipeline":
        return True
    a, b = package_of(source), package_of(target)
    if a == b or LAYERS[b] < LAYERS[a]:
        return True
    return LAYERS[a] == LAYERS[b] and LAYERS[a] in SHARED_LAYERS


def test_imports_go_one_way_through_the_layers():
    wrong = []
    for module, path in modules().items():
        if module == "pipeline":
            continue
        for target in sorted(imports(path, module)):
            if not allowed(module, target):
                wrong.append(f"{module} ({package_of(module)}) imports {target} ({package_of(target)})")
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_no_import_circle_between_modules():
    graph = {m: {t for t in imports(p, m) if t in modules()} for m, p in modules().items()}
    # a package imports its submodules through __init__: that is not a circle of the code's own making
    graph = {m: {t for t in ts if not (t.startswith(m + ".") and modules()[m].name == "__init__.py")}
             for m, ts in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for t in sorted(graph.get(m, ())):
            if state.get(t) == 1:
                return stack[stack.index(t):] + [t]
            if t not in state and (found := visit(t)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (circle := visit(m)):
            pytest.fail("import circle: " + " -> ".join(circle))


ENGINE_NAME_TEST = re.compile(r"""(\bengine\s*[!=]=|[!=]=\s*["'](spark|duckdb)["']|["'](spark|duckdb)["']\s*[!=]=)""")


def test_no_code_outside_the_engines_asks_which_engine_runs():
    asking = []
    for module, path in modules().items():
        if module.startswith("pipeline.engine"):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if ENGINE_NAME_TEST.search(line):
                asking.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not asking, "engine names tested outside pipeline/engine/:\n" + "\n".join(asking)


def test_the_layer_check_catches_a_wrong_import():
    assert not allowed("pipeline.core.config", "pipeline.build.features")
    assert not allowed("models.bundle", "pipeline.data.sources")
    assert not allowed("pipeline.training.train", "pipeline.scoring.score")
    assert allowed("pipeline.scoring.run", "pipeline.training.tracking")
    assert allowed("pipeline.cli.scoring", "pipeline.scoring.run")
    assert not allowed("pipeline.scoring.score", "pipeline.scoring.run")
    assert ENGINE_NAME_TEST.search('if ds.engine == "spark":') and ENGINE_NAME_TEST.search("kind != 'duckdb'")
