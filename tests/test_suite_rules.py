"""The test suite's own rules: a hang fails the test that hangs, by name, instead of stalling the whole run."""
from __future__ import annotations

import subprocess
import sys

from conftest import ROOT

HANGING_TEST = '''
import time


def test_that_never_returns():
    time.sleep(3600)
'''


def test_every_test_runs_under_a_time_limit_from_the_project_configuration(request):
    assert request.config.pluginmanager.hasplugin("timeout"), "pytest-timeout (tests/requirements.txt) is missing"
    limit = float(request.config.getini("timeout") or 0)      # "" where the configuration sets none
    assert 0 < limit <= 900, f"per-test time limit {limit} s (pyproject.toml's [tool.pytest.ini_options])"


def test_a_hanging_test_fails_with_its_name(tmp_path):
    """The project's configuration, its limit lowered to 2 s: the run ends at once and names the test."""
    (tmp_path / "test_hang.py").write_text(HANGING_TEST)
    result = subprocess.run([sys.executable, "-m", "pytest", str(tmp_path / "test_hang.py"), "-q",
                             "-p", "no:cacheprovider", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path),
                             "-o", "timeout=2"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Timeout" in result.stdout and "test_that_never_returns" in result.stdout
