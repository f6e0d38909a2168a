"""The package layout: every folder is one layer, imports run downward only (function-level
imports included), no import cycle, no module over 450 lines, re-export-only `__init__`s, and
no test that monkeypatches a module of the package."""

import ast
import pathlib
import re

import pytest


ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "brainmass_eqx"

#: The layers, bottom first: a module may import its own layer and the ones below it. The
#: package's `__init__` (`""`) re-exports every layer; only the command line sits above it.
LAYERS = ("_core", "_models", "_network", "_monitors", "_solve", "_scale", "analysis", "metrics",
          "objectives", "_learn", "datasets", "viz", "inference", "discovery", "", "cli")


def _modules() -> dict[str, pathlib.Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _imports(name: str) -> set[str]:
    """The package modules `name` imports anywhere in its body (function level included)."""
    tree = ast.parse(MODULES[name].read_text())
    package = name if _is_package(name) else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            targets = [f"{stem}.{a.name}" if f"{stem}.{a.name}" in MODULES else stem
                       for a in node.names]
        else:
            continue
        out |= {t for t in targets if t in MODULES and t != name}
    return out


GRAPH = {name: _imports(name) for name in MODULES}


def _layer(name: str) -> int:
    parts = name.split(".")
    top = parts[1] if len(parts) > 1 else ""
    return LAYERS.index(top)


def test_every_folder_is_a_known_layer():
    for name in MODULES:
        parts = name.split(".")
        assert len(parts) == 1 or parts[1] in LAYERS, f"{name} is in no layer of {LAYERS}"


def test_imports_run_downward_only():
    upward = [(a, b) for a, deps in GRAPH.items() for b in deps if _layer(b) > _layer(a)]
    assert not upward, f"upward imports: {upward}"


def test_no_import_cycle():
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for dep in sorted(GRAPH[node]):
            if state.get(dep) == 1:
                cycle = stack[stack.index(dep):] + [dep]
                pytest.fail(f"import cycle: {' -> '.join(cycle)}")
            if dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name)


def test_no_module_is_longer_than_450_lines():
    long = {name: n for name, path in MODULES.items()
            if (n := len(path.read_text().splitlines())) > 450}
    assert not long, long


def test_package_inits_only_re_export():
    for name, path in MODULES.items():
        if not _is_package(name):
            continue
        tree = ast.parse(path.read_text())
        for node in tree.body:
            ok = isinstance(node, ast.ImportFrom | ast.Import) or (
                isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
            if name == "brainmass_eqx":  # the version, read from the installed metadata
                ok = ok or (isinstance(node, ast.Assign)
                            and [t.id for t in node.targets] == ["__version__"])
            assert ok, f"{path.relative_to(ROOT)}:{node.lineno} is not a re-export"
            if isinstance(node, ast.ImportFrom) and node.level:
                bad = [a.name for a in node.names if a.asname not in (a.name, None)
                       or (a.asname is None and not a.name.startswith("_")
                           and f"{name}.{a.name}" not in MODULES)]
                assert not bad, f"{path.relative_to(ROOT)}: re-export as `X as X`: {bad}"


def test_no_test_monkeypatches_the_package():
    pattern = re.compile(r"monkeypatch\.(setattr|delattr)\(\s*(bmx|brainmass_eqx|_\w+)")
    for path in (ROOT / "tests").glob("*.py"):
        assert not pattern.search(path.read_text()), path.name
