"""The manual builds without a warning, and the README's commands are the ones CI runs."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CI_RUN = ROOT / ".ci" / "run"
MAX_README_LINES = 250


def test_docs_build_without_warnings(tmp_path):
    pytest.importorskip("sphinx")
    result = subprocess.run([sys.executable, "-m", "sphinx", "-W", "-b", "html", "docs", str(tmp_path / "html")],
                            cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        print(result.stdout)
        print(result.stderr)
    assert result.returncode == 0, "sphinx-build -W failed; its output is printed above"


def _readme_test_command():
    """The command of the README's ``## Tests`` section: the first line of its first bash block."""
    text = README.read_text(encoding="utf-8")
    section = re.search(r"^## Tests\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert section, "README.md has no '## Tests' section"
    block = re.search(r"```bash\n(.*?)```", section.group(1), re.S)
    assert block, "the README's Tests section has no bash block"
    lines = [line.strip() for line in block.group(1).splitlines() if line.strip()]
    assert len(lines) == 1, f"the README's test command should be one line, got {lines}"
    return lines[0]


def _ci_command():
    """The line of ``.ci/run`` that installs and runs the tests."""
    lines = [line.strip() for line in CI_RUN.read_text(encoding="utf-8").splitlines()
             if line.strip().startswith("python -m pip install")]
    assert len(lines) == 1, f".ci/run should have one install-and-test line, got {lines}"
    return lines[0]


def test_readme_test_command_is_what_ci_runs():
    command = _readme_test_command()
    assert command == _ci_command()
    assert command == ('python -m pip install -e ".[test,docs,bench,cuda]" && python -m pytest -n auto && '
                       'NUMBA_ENABLE_CUDASIM=1 python -m pytest -n auto tests/cuda')


def test_readme_is_short():
    n_lines = len(README.read_text(encoding="utf-8").splitlines())
    assert n_lines <= MAX_README_LINES, f"README.md has {n_lines} lines; keep it under {MAX_README_LINES}"
