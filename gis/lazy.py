"""Lazy re-exports for the capability packages (PEP 562): a package names its public things without
importing its modules, so importing a package costs nothing and its modules can import each other
without a circle through the package's __init__."""
from __future__ import annotations

from importlib import import_module
from typing import Callable


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], object], list[str]]:
    """`(__getattr__, __all__)` for `package`, where `exports` maps a public name to its module."""

    def __getattr__(name: str):
        if name in exports:
            return getattr(import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__, sorted(exports)
