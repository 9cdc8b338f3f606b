"""The map in docs/architecture.md stays true: every module is on it, and no module imports one
listed above it (the package is a stack; an import running back up is a design change to make
on purpose, in the map first)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "daptools"


def stack() -> list[str]:
    """The modules in the map's order, bottom first (a subpackage by its name)."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    return [m.strip("/") for m in re.findall(r"^\| \w+ \| `([a-z_/]+)` \|", text, flags=re.M)]


def top_module(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def imported_modules(path: Path) -> set[str]:
    """The daptools modules ``path`` imports (at the top or inside a function), by top-level name."""
    inside_subpackage = len(path.relative_to(PACKAGE).parts) > 1
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            up = node.level - (1 if inside_subpackage else 0)  # levels above the package root
            if up < 0 or (up == 0 and node.level == 1 and inside_subpackage):
                continue  # within the same subpackage
            names = [node.module.split(".")[0]] if node.module else [a.name for a in node.names]
            found.update(names)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found.update(m.split(".")[1] for m in mods if m.startswith("daptools."))
    return found


def test_every_module_is_on_the_map():
    on_map = set(stack())
    modules = {top_module(p) for p in PACKAGE.rglob("*.py")} - {"__init__", "__main__"}
    assert modules == on_map, f"not on the map: {sorted(modules - on_map)}; gone: {sorted(on_map - modules)}"


def test_no_import_runs_up_the_stack():
    order = {m: i for i, m in enumerate(stack())}
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        mod = top_module(path)
        if mod not in order:
            continue
        for target in imported_modules(path) & set(order):
            if target != mod and order[target] > order[mod]:
                upward.append(f"{path.relative_to(ROOT)} imports {target}")
    assert not upward, upward


def test_the_parser_sees_every_kind_of_import():
    # fit imports metrics inside a function; runner imports executors from its subpackage (..), and
    # its own siblings (.ledger) are not package modules
    assert "metrics" in imported_modules(PACKAGE / "fit.py")
    runner = imported_modules(PACKAGE / "experiments" / "runner.py")
    assert "executors" in runner and "ledger" not in runner
    assert "fit" not in imported_modules(PACKAGE / "spectral.py")
