"""The import graph of gis, api, maps and data (every import statement, function-level ones included,
read with ast): no circles, gis never imports api or maps, and gis.store imports none of gis's other
capabilities (it is what they stand on)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("gis", "api", "maps", "data")
CAPABILITIES = ("gis.locate", "gis.address", "gis.reach", "gis.command", "gis.redraw", "gis.importers")


def module_name(path: Path) -> str:
    """gis/store/db.py → gis.store.db; gis/store/__init__.py → gis.store."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    """Every module of the project's packages, by dotted name."""
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules `name` imports anywhere in its body (a `from pkg import x` counts as pkg.x
    when x is a module, else as pkg)."""
    is_pkg = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_pkg else name.split(".")[:-1]
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:  # `import gis.store.db.x` style: the nearest known module
                t = t.rpartition(".")[0]
            if t and t != name:
                out.add(t)
    return out


def graph() -> dict[str, set[str]]:
    """module → the project modules it imports."""
    mods = modules()
    known = set(mods)
    return {name: imported(name, path, known) for name, path in mods.items()}


def circles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def path_in(g: dict[str, set[str]], comp: list[str]) -> str:
    """One circle through the component, written a → b → … → a, to name it in a failure."""
    members, start = set(comp), comp[0]
    seen, trail = {start: None}, [start]
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(g[v] & members):
                if w == start:
                    chain = [v]
                    while seen[chain[-1]] is not None:
                        chain.append(seen[chain[-1]])
                    return " → ".join(reversed(chain)) + f" → {start}"
                if w not in seen:
                    seen[w] = v
                    nxt.append(w)
        frontier = nxt
    return ", ".join(trail)


@pytest.fixture(scope="module")
def g():
    return graph()


def test_the_walk_sees_the_packages(g):
    assert {"gis.coords", "gis.store.db", "api.app", "api.http", "maps.pages", "data.load_demo"} <= set(g)
    assert "api.http" in g["api.routers.locate"]  # a top-level import is seen
    assert "gis.address.geocode" in g["api.deps"]  # and one inside a function


def test_no_import_circles(g):
    found = [path_in(g, comp) for comp in circles(g)]
    assert not found, "import circles: " + "; ".join(found)


def test_circles_are_found_when_there_are_some():
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(g) == [["a", "b", "c"]]
    assert path_in(g, ["a", "b", "c"]) == "a → b → c → a"


def test_gis_imports_neither_api_nor_maps(g):
    bad = sorted(f"{m} → {t}" for m, ts in g.items() if m.split(".")[0] == "gis"
                 for t in ts if t.split(".")[0] in ("api", "maps"))
    assert not bad, bad


def test_store_imports_no_other_capability(g):
    bad = sorted(f"{m} → {t}" for m, ts in g.items() if m == "gis.store" or m.startswith("gis.store.")
                 for t in ts if any(t == c or t.startswith(c + ".") for c in CAPABILITIES))
    assert not bad, bad
