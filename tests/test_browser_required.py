"""The browser tests fail, not skip, when Chromium is missing; only WANGGE_SKIP_BROWSER=1 lets them
skip. Checked by running a browser test in a child pytest whose PATH has no Chromium."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BROWSER_TEST = '''
import pytest
from tests.browser import CHROMIUM, load_page

@pytest.mark.skipif(CHROMIUM is None, reason="WANGGE_SKIP_BROWSER=1 and no Chromium")
def test_page():
    page = load_page("data:text/html,<p>hi</p>")
    assert "hi" in page.dom
'''


def run_pytest(tmp_path: Path, path: str, skip: str | None) -> subprocess.CompletedProcess:
    """pytest on one browser test, with PATH as given (and WANGGE_SKIP_BROWSER if `skip`)."""
    (tmp_path / "test_one_page.py").write_text(BROWSER_TEST, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "WANGGE_SKIP_BROWSER"}
    env.update(PATH=path, PYTHONPATH=str(ROOT))
    if skip is not None:
        env["WANGGE_SKIP_BROWSER"] = skip
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
                           str(tmp_path / "test_one_page.py")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=180)


def test_missing_chromium_fails_with_the_way_to_install_it(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    p = run_pytest(tmp_path, str(empty), skip=None)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "1 failed" in p.stdout and "skipped" not in p.stdout
    assert "Chromium is needed: scripts/setup.sh --test installs it" in p.stdout
    # anything but "1" is not an explicit request to skip
    p = run_pytest(tmp_path, str(empty), skip="yes")
    assert p.returncode == 1 and "1 failed" in p.stdout, p.stdout


def test_missing_chromium_skips_only_when_asked(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    p = run_pytest(tmp_path, str(empty), skip="1")
    assert p.returncode == 0 and "1 skipped" in p.stdout and "WANGGE_SKIP_BROWSER=1" in p.stdout, p.stdout


def test_present_chromium_runs_even_when_skipping_is_allowed(tmp_path):
    # the variable permits a missing browser; a browser that is there is used
    p = run_pytest(tmp_path, os.environ.get("PATH", ""), skip="1")
    assert p.returncode == 0 and "1 passed" in p.stdout, p.stdout + p.stderr
