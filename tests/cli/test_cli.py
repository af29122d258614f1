"""The command line as a user meets it: summaries, targets, preflight, quiet by default."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from hwquant.cli.main import main
from hwquant.plugin.manager import registry

HWQUANT = [sys.executable, "-m", "hwquant.cli"]


def test_targets_lists_builtins_with_toolchain_status():
    r = CliRunner().invoke(main, ["targets", "--json"])
    assert r.exit_code == 0, r.output
    rows = {t["name"]: t for t in json.loads(r.output)}
    assert {"cpu", "edgetpu", "mcu", "gpu"} <= set(rows)
    for t in rows.values():
        assert t["recipe_rule"] and t["recipes"] and isinstance(t["toolchain"]["available"], bool)


@pytest.mark.parametrize("name", ["cpu", "edgetpu", "mcu", "gpu"])
def test_op_tables_come_from_constraint_docstrings(name):
    backend = registry().get(name)
    r = CliRunner().invoke(main, ["targets", name, "--ops"])
    assert r.exit_code == 0, r.output
    table = backend.op_table()
    rules = table["generic"] + [c for row in table["ops"] for c in row["constraints"]]
    assert rules, f"{name} declares no constraints"
    from hwquant.plugin.backend import iter_constraints, rule

    docs = {rule(c) for c in iter_constraints(backend.support)}
    assert set(rules) <= docs  # every printed rule is a constraint's docstring
    assert rules[0].split()[0] in r.output


def test_build_summary_and_report(digits_dir, tmp_path):
    r = CliRunner().invoke(
        main,
        [
            "build",
            str(digits_dir / "model.keras"),
            "--data",
            str(digits_dir / "calibration.npz"),
            "-o",
            str(tmp_path),
            "--no-cache",
        ],
    )
    assert r.exit_code == 0, r.output
    for words in (
        "recipe int8-float-fallback",
        "because representative data",
        "CONV_2D",
        "size: float32",
        "fidelity vs float32",
        "SNR dB",
        "time: load",
        "wrote",
    ):
        assert words in r.output, words
    report = json.loads((tmp_path / "cpu" / "report.json").read_text())
    assert report["verify"]["samples"] == 100  # the default split keeps 100 of the 256 samples (issue 18)
    assert report["inputs"]["data"]["samples"] == 156


def test_preflight_only_writes_report_without_artifact(digits_dir, tmp_path):
    r = CliRunner().invoke(
        main,
        [
            "build",
            str(digits_dir / "model.keras"),
            "--target",
            "edgetpu",
            "--data",
            str(digits_dir / "calibration.npz"),
            "--preflight-only",
            "-o",
            str(tmp_path),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "Mapped to Edge TPU" in r.output
    assert sorted(p.name for p in (tmp_path / "edgetpu").iterdir() if p.name != ".hwquant-build") == [
        "report.html",
        "report.json",
    ]
    report = json.loads((tmp_path / "edgetpu" / "report.json").read_text())
    assert report["preflight_only"] and report["ops"]["counts"] == {"target": len(report["ops"]["ops"])}


def test_preflight_only_with_a_budget_skips_it_with_a_note(digits_dir, tmp_path):
    """A preflight converts nothing it could measure: a gate or budget is not applied (and not failed)."""
    args = ["build", str(digits_dir / "model.keras"), "-t", "mcu", "--data", str(digits_dir / "calibration.npz")]
    r = CliRunner().invoke(main, [*args, "--preflight-only", "--min-snr", "60", "--max-size", "1", "-o", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "--preflight-only builds no artifact" in r.output and "min_snr=60" in r.output
    assert "gate(s) failed" not in r.output


@pytest.mark.slow
def test_quiet_by_default_verbose_shows_tensorflow(keras_model, tmp_path):
    args = ["build", str(keras_model), "--recipe", "int8-only", "--data", "random:8", "--no-cache"]
    quiet = subprocess.run([*HWQUANT, *args, "-o", str(tmp_path / "q")], capture_output=True, text=True)
    assert quiet.returncode == 0, quiet.stderr
    loud = subprocess.run([*HWQUANT, "-v", *args, "-o", str(tmp_path / "v")], capture_output=True, text=True)
    assert loud.returncode == 0, loud.stderr
    noise = ("fully_quantize", "oneDNN", "XNNPACK")
    assert not any(n in quiet.stdout + quiet.stderr for n in noise)
    assert any(n in loud.stdout + loud.stderr for n in noise)


def test_preflight_exits_3_when_nothing_maps(tmp_path):
    """int8 IO and LEAKY_RELU first: the Edge TPU segment ends before it starts; the table is shown and stored."""
    import tensorflow as tf

    inp = tf.keras.Input((8, 8, 1), batch_size=1, name="image")
    x = tf.keras.layers.LeakyReLU()(inp)
    x = tf.keras.layers.Conv2D(4, 3)(x)
    model = tf.keras.Model(inp, tf.keras.layers.Dense(3)(tf.keras.layers.Flatten()(x)))
    model.save(tmp_path / "m.keras")
    r = CliRunner().invoke(
        main,
        [
            "build",
            str(tmp_path / "m.keras"),
            "--target",
            "edgetpu",
            "--io-dtype",
            "int8",
            "--data",
            "random:20",
            "--preflight-only",
            "--no-cache",
            "-o",
            str(tmp_path / "o"),
        ],
    )
    assert r.exit_code == 3, r.output
    assert "nothing in the model maps to target 'edgetpu'" in r.output and "LEAKY_RELU" in r.output
    report = json.loads((tmp_path / "o" / "edgetpu" / "report.json").read_text())
    assert report["preflight_only"] and "target" not in report["ops"]["counts"]


def test_one_failing_target_does_not_stop_the_others(keras_model, tmp_path):
    """cpu builds, edgetpu has no compiler (no engine or no image): both are reported, exit 4."""
    r = CliRunner().invoke(
        main,
        [
            "build",
            str(keras_model),
            "--target",
            "edgetpu,cpu",
            "--data",
            "random:12",
            "--edgetpu-image",
            "hwquant-test/absent:0",
            "--edgetpu-toolchain",
            "docker",
            "--no-cache",
            "-o",
            str(tmp_path),
        ],
    )
    assert r.exit_code == 4, r.output
    assert "1 of 2 targets failed" in r.output and "edgetpu (exit 4)" in r.output
    assert "wrote " in r.output and (tmp_path / "cpu" / "model.tflite").is_file()
    assert not (tmp_path / "edgetpu").exists()
