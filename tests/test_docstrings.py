"""Every public module member in gis/, api/, maps/ and data/ says in a docstring what it is and why
(ruff's pydocstyle D1 rules as configured in pyproject.toml: packages' __init__, magic methods and
__init__ excepted), so a newcomer can read what each one is for."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("gis", "api", "maps", "data")


def undocumented() -> list[str]:
    """`path:line code` of each public definition ruff finds without a docstring."""
    p = subprocess.run([sys.executable, "-m", "ruff", "check", "--output-format", "json", "--exit-zero",
                        *PACKAGES], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    return sorted(f"{Path(f['filename']).resolve().relative_to(ROOT)}:{f['location']['row']} {f['code']}"
                  for f in json.loads(p.stdout))


def test_public_members_have_docstrings():
    assert undocumented() == []


def test_the_check_finds_a_missing_docstring(tmp_path):
    """The rule is live: a module with an undocumented public function is reported."""
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    (tmp_path / "m.py").write_text('"""A module."""\n\n\ndef f():\n    return 1\n')
    p = subprocess.run([sys.executable, "-m", "ruff", "check", "--output-format", "json", "--exit-zero", "m.py"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120, check=True)
    assert [f["code"] for f in json.loads(p.stdout)] == ["D103"]
