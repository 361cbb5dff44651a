"""Every public module, class, function and method in api/ says in a docstring what it is for (the
same rule as ruff's pydocstyle D1, minus packages, magic methods and __init__), read with ast so the
check needs nothing installed."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def undocumented(path: Path) -> list[str]:
    """`file:line name` of each public definition in `path` without a docstring."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    rel = path.relative_to(ROOT)
    out = [] if path.name == "__init__.py" or ast.get_docstring(tree) else [f"{rel}:1 module"]

    def walk(body, public_scope: bool) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                public = public_scope and not node.name.startswith("_")
                if public and not ast.get_docstring(node):
                    out.append(f"{rel}:{node.lineno} {node.name}")
                if isinstance(node, ast.ClassDef):
                    walk(node.body, public)

    walk(tree.body, True)
    return out


def test_every_public_definition_in_api_has_a_docstring():
    missing = [m for p in sorted((ROOT / "api").rglob("*.py")) for m in undocumented(p)]
    assert not missing, "no docstring: " + ", ".join(missing)


def test_the_check_finds_a_missing_one(tmp_path, monkeypatch):
    f = tmp_path / "m.py"
    f.write_text('"""A module."""\n\ndef ok():\n    """Yes."""\n\ndef bad():\n    pass\n\n'
                 'class C:\n    """A class."""\n\n    def method(self):\n        pass\n\n    def _private(self):\n'
                 '        pass\n', encoding="utf-8")
    import tests.api.test_docstrings as me
    monkeypatch.setattr(me, "ROOT", tmp_path)
    assert undocumented(f) == ["m.py:6 bad", "m.py:12 method"]
