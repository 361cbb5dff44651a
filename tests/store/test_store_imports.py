"""The store of record stands alone: no module of gis.store imports another gis subpackage (only the
vocabulary, the settings and the planar helpers), so every capability can build on it without a circle."""
from __future__ import annotations

import ast
from pathlib import Path

import gis.store

ALLOWED = ("gis.store", "gis.vocab", "gis.settings", "gis.planar", "gis.lazy")


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_store_imports_none_of_its_siblings():
    root = Path(gis.store.__file__).parent
    files = sorted(root.rglob("*.py"))
    assert len(files) > 5
    bad = {f"{p.relative_to(root)}: {m}" for p in files for m in _imports(p)
           if m.startswith("gis") and not m.startswith(ALLOWED)}
    assert not bad, sorted(bad)
