"""`hwquant check` gives the verdict the build gave: the manifest's [gates] recorded in report.json are
applied again, and a report whose target's latest build failed is `fail`, never `pass` (issue 18)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from hwquant.cli.main import main
from hwquant.common.errors import IncompatibleError
from hwquant.pipeline.many import _mark_earlier_build

MANIFEST = 'model = "model.keras"\ndata = "random:16"\nout = "dist"\n[targets.cpu]\n[gates]\nmax_size = "{size}"\n'


def _hwquant(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HWQUANT_CACHE_DIR": str(cwd / ".cache")}
    cmd = [sys.executable, "-m", "hwquant.cli", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _project(keras_model: Path, where: Path, size: str) -> Path:
    where.mkdir()
    shutil.copy(keras_model, where / "model.keras")
    (where / "hwquant.toml").write_text(MANIFEST.format(size=size))
    return where


def test_a_manifest_gate_the_build_missed_is_recorded_and_check_fails_it(keras_model, tmp_path):
    d = _project(keras_model, tmp_path / "small", "1")  # no artifact is 1 byte: the gate fails
    built = _hwquant("build", "--no-cache", cwd=d)
    assert built.returncode == 5, built.stderr
    report = json.loads((d / "dist" / "cpu" / "report.json").read_text())
    assert report["gates"]["limits"] == {"max_size": 1} and report["gates"]["verdict"] == "fail"
    assert any("max-size" in f for f in report["gates"]["fails"])

    tree = CliRunner().invoke(main, ["check", str(d / "dist")])  # no gate flag: the recorded ones apply
    assert tree.exit_code == 5, tree.output
    assert "fail" in tree.output and "max-size" in tree.output and "pass" not in tree.output.split("verdict")[-1]
    one = CliRunner().invoke(main, ["check", str(d / "dist" / "cpu" / "report.json")])
    assert one.exit_code == 5 and "max-size: artifact is" in one.output, one.output


def test_a_manifest_gate_the_build_met_passes_and_command_line_gates_still_apply(keras_model, tmp_path):
    d = _project(keras_model, tmp_path / "big", "10MB")
    built = _hwquant("build", "--no-cache", cwd=d)
    assert built.returncode == 0, built.stderr
    report = json.loads((d / "dist" / "cpu" / "report.json").read_text())
    assert report["gates"] == {"limits": {"max_size": 10_000_000}, "verdict": "pass", "fails": []}

    ok = CliRunner().invoke(main, ["check", str(d / "dist")])
    assert ok.exit_code == 0 and "verdict: pass" in ok.output and "max_size=10000000 (recorded)" in ok.output
    stricter = CliRunner().invoke(main, ["check", str(d / "dist"), "--max-size", "10"])
    assert stricter.exit_code == 5 and "limit 10" in stricter.output, stricter.output


@pytest.mark.slow
def test_an_earlier_build_left_by_a_failed_build_is_checked_as_fail(keras_model, tmp_path):
    """A failed target keeps its earlier build (all-or-nothing output); its report says the latest build
    failed, so `check` (and `check --plan`) cannot pass the stale report."""
    d = _project(keras_model, tmp_path / "stale", "10MB")
    assert _hwquant("build", "--no-cache", cwd=d).returncode == 0
    exc = IncompatibleError("3 op(s) cannot run on target 'cpu'", hint="see `hwquant targets cpu --ops`")
    _mark_earlier_build(d / "dist" / "cpu", exc)
    report = json.loads((d / "dist" / "cpu" / "report.json").read_text())
    assert report["latest_failure"]["exit_code"] == 3 and (d / "dist" / "cpu" / "model.tflite").is_file()

    res = CliRunner().invoke(main, ["check", str(d / "dist"), "--max-size", "10MB"])
    assert res.exit_code == 5, res.output
    assert "the latest build failed (exit 3)" in " ".join(res.output.split())


def test_an_unowned_or_missing_folder_is_never_marked(tmp_path):
    exc = IncompatibleError("no")
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "report.json").write_text('{"target": "cpu"}')  # no .hwquant-build marker: not ours
    _mark_earlier_build(tmp_path / "cpu", exc)
    _mark_earlier_build(tmp_path / "absent", exc)
    assert json.loads((tmp_path / "cpu" / "report.json").read_text()) == {"target": "cpu"}
    assert not (tmp_path / "absent").exists()


def test_check_without_flags_on_reports_that_recorded_no_gate_is_still_a_usage_error(tmp_path):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "report.json").write_text('{"target": "cpu", "size_bytes": {"artifact": 5}}')
    res = CliRunner().invoke(main, ["check", str(tmp_path)])
    assert res.exit_code == 2 and "no gate given" in res.output, res.output
