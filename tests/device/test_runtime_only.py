"""A runtime-only install (no TensorFlow) runs `hwquant inspect` and `hwquant bench`.

Creates a plain virtual environment (no system site-packages), installs the repository without
the `build` extra from PyPI, and runs both commands there on models converted here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import models

pytestmark = pytest.mark.slow

NETWORK_ERRORS = (
    "Could not find a version",
    "NewConnectionError",
    "Temporary failure in name resolution",
    "No matching distribution",
    "ConnectionError",
    "Network is unreachable",
)


@pytest.fixture(scope="module")
def runtime_venv(repo_root, tmp_path_factory) -> Path:
    """A fresh venv with `pip install <repo copy>` (base dependencies only)."""
    base = tmp_path_factory.mktemp("runtime_only")
    src = base / "src"
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=repo_root, check=True, capture_output=True, text=True
    ).stdout.split("\n")
    for rel in filter(None, files):  # copy the checkout so the build leaves nothing in the repo
        if (repo_root / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(repo_root / rel, src / rel)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    res = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(src)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if res.returncode != 0:
        if any(e in res.stderr for e in NETWORK_ERRORS):
            pytest.skip(f"PyPI unreachable: {res.stderr.strip().splitlines()[-1]}")
        pytest.fail(f"pip install failed:\n{res.stderr[-3000:]}")
    return venv


def _hwquant(venv: Path, repo_root: Path) -> list[str]:
    """The installed `hwquant` console script."""
    return [str(venv / "bin" / "hwquant")]


def test_installed_package_ships_toolchain_files(runtime_venv):
    py = str(runtime_venv / "bin" / "python")
    code = (
        "import pathlib, hwquant_backends as b; r = pathlib.Path(b.__file__).parent; "
        "print(r, all((r / p).is_file() for p in ('_tflm/templates/main.cc.in', "
        "'_tflm/templates/cmake/CMakeLists.txt.in', 'ethosu/templates/npu_link.cmake.in', "
        "'edgetpu/toolchain/Dockerfile')))"
    )
    res = subprocess.run([py, "-c", code], capture_output=True, text=True)
    assert res.stdout.strip().endswith("True"), res.stderr
    assert "site-packages" in res.stdout


def test_no_tensorflow_in_runtime_venv(runtime_venv):
    py = str(runtime_venv / "bin" / "python")
    res = subprocess.run([py, "-c", "import tensorflow"], capture_output=True, text=True)
    assert res.returncode != 0 and "No module named 'tensorflow'" in res.stderr
    res = subprocess.run(
        [py, "-c", "import ai_edge_litert.interpreter, numpy, click, rich, hwquant; print('ok')"],
        capture_output=True,
        text=True,
    )
    assert res.stdout.strip() == "ok", res.stderr


def test_inspect_and_bench_in_runtime_venv(runtime_venv, repo_root, static_keras_model, tmp_path):
    f32 = models.convert_tflite(static_keras_model, "float32", tmp_path / "f32.tflite")
    i8 = models.convert_tflite(static_keras_model, "int8", tmp_path / "i8.tflite")
    data = tmp_path / "data.npz"
    np.savez(data, **{models.KERAS_INPUT: np.random.default_rng(2).random((8, *models.KERAS_SHAPE), np.float32)})
    cli = _hwquant(runtime_venv, repo_root)

    res = subprocess.run([*cli, "inspect", str(i8), "--json"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert any(r["op"] == "CONV_2D" and r["dtype"] == "int8" for r in info["ops"])

    res = subprocess.run(
        [*cli, "bench", str(f32), str(i8), "--num-runs", "10", "--data", str(data), "--reference", str(f32), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert [m["latency_ms"]["count"] for m in report["models"]] == [10, 10]
    assert report["models"][1]["fidelity"]["outputs"]["output_0"]["snr_db"] > 15
    assert report["models"][1]["vs_first"]["size_ratio"] < 1

    res = subprocess.run([*cli, "bench", str(i8), "--num-runs", "3"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and "p99" in res.stdout, res.stderr
