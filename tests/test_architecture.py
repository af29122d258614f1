"""The architecture enforces itself: import-linter contracts in pyproject.toml (`lint-imports`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT.exists(), reason="import-linter is not installed (pip install -e '.[dev]')")


def _lint(cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([str(LINT), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_contracts_hold_on_the_tree():
    res = _lint(ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "0 broken" in res.stdout
    for name in (
        "layers",
        "device side",
        "only the hwquant.convert package imports TensorFlow",
        "public hwquant API",
        "backends are independent",
    ):
        assert name in res.stdout


def _copy_tree(tmp_path: Path) -> Path:
    """A copy of the packages and the contracts, importable from tmp_path ahead of the install."""
    src = tmp_path / "src"
    for pkg in ("hwquant", "hwquant_backends"):
        shutil.copytree(ROOT / "src" / pkg, src / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", src / "pyproject.toml")
    return src


@pytest.mark.parametrize(
    "module, line, contract",
    [
        ("hwquant/device/runtime.py", "import tflite_micro  # noqa", "device side"),
        ("hwquant/device/runtime.py", "from hwquant.report import result as report  # noqa", "layers"),
        (
            "hwquant/choice/search.py",
            "import tensorflow  # noqa",
            "only the hwquant.convert package imports TensorFlow",
        ),
        ("hwquant/choice/decide.py", "import keras  # noqa", "only the hwquant.convert package imports TensorFlow"),
        (
            "hwquant/report/gates.py",
            "from hwquant.convert import converter  # noqa",
            "report, gates and check run without TensorFlow",
        ),
        (
            "hwquant_backends/mcu/fpu.py",
            "import tensorflow  # noqa",
            "only the hwquant.convert package imports TensorFlow",
        ),
        (
            "hwquant/device/inspect.py",
            "import tensorflow  # noqa",
            "only the hwquant.convert package imports TensorFlow",
        ),
        ("hwquant/plugin/recipe.py", "from hwquant.cache import store as cache  # noqa", "layers"),
        ("hwquant_backends/_litert/ops.py", "from hwquant.plugin.backend import Backend  # noqa", "public hwquant API"),
        ("hwquant_backends/ethosu/mapping.py", "import hwquant_backends.mcu.ops  # noqa", "backends are independent"),
        (
            "hwquant_backends/ethosu/boards.py",
            "from hwquant_backends.mcu import boards  # noqa",
            "backends are independent",
        ),
        (
            "hwquant_backends/gpu/ops.py",
            "from hwquant_backends.cpu import CpuBackend  # noqa",
            "backends are independent",
        ),
        # the shared package importing one backend would join the others to it indirectly
        ("hwquant_backends/_tflm/arena.py", "import hwquant_backends.mcu.fpu  # noqa", "backends are independent"),
    ],
)
def test_a_forbidden_import_breaks_a_contract(tmp_path, module, line, contract):
    src = _copy_tree(tmp_path)
    assert _lint(src, src).returncode == 0  # the copy itself is clean
    f = src / module
    f.write_text(f.read_text() + "\n" + line + "\n")
    res = _lint(src, src)
    assert res.returncode != 0, res.stdout
    broken = [ln for ln in res.stdout.splitlines() if ln.endswith("BROKEN")]
    assert any(contract in ln for ln in broken) or contract in res.stdout.split("Broken contracts")[-1], res.stdout
