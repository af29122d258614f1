"""The measured recipe choice (issue 12): budget, search, mixed precision, doctor, sensitivity.

Real TFLiteConverter, QuantizationDebugger and LiteRT on a small trained classifier whose one
activation tensor is dominated by a constant channel (tests/helpers/models_search.py).
"""

from __future__ import annotations

import json
import sys

import pytest
from click.testing import CliRunner

from hwquant.cli.main import main
from tests.helpers import models_search


@pytest.fixture(scope="module")
def outlier(tmp_path_factory):
    return models_search.outlier_classifier(tmp_path_factory.mktemp("outlier"))


def _build(args, out):
    r = CliRunner().invoke(main, ["build", *map(str, args), "--out", str(out), "--no-cache"])
    report = out / "cpu" / "report.json"
    return r, (json.loads(report.read_text()) if report.is_file() else None)


@pytest.fixture(scope="module")
def auto(outlier, tmp_path_factory):
    model, calib, ev = outlier
    out = tmp_path_factory.mktemp("auto")
    r, rep = _build(
        [model, "--target", "cpu", "--recipe", "auto", "--max-accuracy-drop", "1", "--data", calib, "--eval-data", ev],
        out,
    )
    assert r.exit_code == 0, r.output
    return rep, out, r.output


@pytest.mark.slow
def test_auto_search_recovers_with_mixed_precision(auto):
    rep, out, text = auto
    cands = {c["label"]: c for c in rep["search"]["candidates"]}
    # every allowed recipe was measured, and the uniform ones collapse for the known reason
    for name in ("float32", "float16", "dynamic-int8", "int8-float-fallback", "int8-only", "int16x8"):
        assert name in cands
    for name in ("dynamic-int8", "int8-float-fallback", "int16x8"):
        assert not cands[name]["within_budget"], cands[name]
    acc = rep["fidelity"]["outputs"]["output_0"]["accuracy"]
    assert acc["float"] > 0.9 and acc["delta_points"] >= -1.0
    chosen = [c for c in rep["search"]["candidates"] if c["chosen"]]
    assert len(chosen) == 1 and chosen[0]["float_layers"] and chosen[0]["origin"].startswith("mixed precision")
    # the kept-float layers are both sides of the dominated tensor, and the recipe records them
    layers = rep["recipe"]["fields"]["float_layers"]
    assert any("narrow" in n for n in layers) and any("wide" in n for n in layers)
    assert rep["size_bytes"]["artifact"] < 0.75 * cands["float16"]["size_bytes"]
    # sensitivity ranks the dominated tensor worst
    worst = min((s for s in rep["sensitivity"] if s["channel_snr_db"] is not None), key=lambda s: s["channel_snr_db"])
    assert "narrow" in worst["tensor"] and worst["channel_snr_db"] < 0
    assert (out / "cpu" / "search.png").stat().st_size > 1000
    assert "recipe search" in text and "int8 sensitivity per layer" in text
    assert rep["budget"] == {"source": "command line", "applied": True, "limits": {"max_accuracy_drop": 1.0}}


@pytest.mark.slow
def test_one_side_float_is_not_enough_and_pinned_float_layers_reproduce(auto, outlier, tmp_path):
    rep, _, _ = auto
    model, calib, ev = outlier
    layers = rep["recipe"]["fields"]["float_layers"]
    common = [model, "--target", "cpu", "--recipe", "int8-float-fallback", "--data", calib, "--eval-data", ev]
    for one in layers:  # only the producer, or only the consumer: the tensor is still int8 -> collapse
        r, _ = _build([*common, "--float-layer", one], tmp_path / "one")
        assert r.exit_code == 5 and "collapsed" in r.output, r.output
    args = [*common]
    for n in layers:
        args += ["--float-layer", n]
    r, again = _build(args, tmp_path / "both")
    assert r.exit_code == 0, r.output
    assert again["recipe"]["fields"]["float_layers"] == layers and "search" not in again  # pinned: no search
    assert again["size_bytes"]["artifact"] == rep["size_bytes"]["artifact"]


@pytest.mark.slow
def test_default_build_overrides_the_rule_when_it_misses_the_default_budget(outlier, tmp_path):
    model, calib, ev = outlier
    r, rep = _build([model, "--target", "cpu", "--data", calib, "--eval-data", ev], tmp_path)
    assert r.exit_code == 0, r.output
    assert rep["budget"]["source"] == "default" and rep["budget"]["limits"]["max_accuracy_drop"] == 1.0
    assert "missed the budget" in rep["search"]["why"]
    assert any("the rule proposed int8-float-fallback" in why for why in rep["recipe"]["reasons"])
    assert rep["recipe"]["fields"]["float_layers"]


@pytest.mark.slow
def test_integer_only_target_that_cannot_meet_the_budget_exits_5_with_the_layer_table(outlier, tmp_path):
    model, calib, ev = outlier
    r = CliRunner().invoke(
        main,
        [
            "build",
            str(model),
            "--target",
            "mcu",
            "--data",
            str(calib),
            "--eval-data",
            str(ev),
            "--min-agreement",
            "0.9",
            "--out",
            str(tmp_path),
            "--no-cache",
        ],
    )
    assert r.exit_code == 5, r.output
    assert "no recipe allowed on mcu meets" in r.output and "worst layers" in r.output
    assert "narrow" in r.output and "fix:" in r.output and "clip the activation" in r.output
    assert (
        "int16x8 [tensor arena bytes" in r.output
    )  # tried (TFLM has 16x8 FULLY_CONNECTED and SOFTMAX), with its arena
    assert "not tried: int8-float-fallback (mcu keeps every layer integer" in r.output  # no --mcu-allow-float
    assert "--mcu-allow-float" in r.output
    assert not (tmp_path / "mcu").exists()


@pytest.mark.slow
def test_sensitivity_only_writes_the_layer_table_and_no_artifact(outlier, tmp_path):
    model, calib, _ = outlier
    r, rep = _build([model, "--target", "cpu", "--sensitivity", "--data", calib], tmp_path)
    assert r.exit_code == 0, r.output
    assert rep["sensitivity_only"] and not (tmp_path / "cpu" / "model.tflite").exists()
    assert {"tensor", "op", "channel_snr_db", "rmse_over_scale"} <= set(rep["sensitivity"][0])
    assert "int8 sensitivity per layer" in r.output


def test_digits_default_build_stays_int8_within_the_default_budget(repo_root, tmp_path):
    ex = repo_root / "examples" / "digits"
    r, rep = _build(
        [ex / "model.keras", "--target", "cpu", "--data", ex / "calibration.npz", "--eval-data", ex / "eval.npz"],
        tmp_path,
    )
    assert r.exit_code == 0, r.output
    assert rep["recipe"]["name"] == "int8-float-fallback" and not rep["recipe"]["fields"]["float_layers"]
    assert rep["budget"]["source"] == "default" and rep["budget"]["applied"] and "search" not in rep
    assert rep["timings_s"].keys() >= {"convert", "verify"} and "search" not in rep["timings_s"]


def test_pinned_recipe_is_built_without_search(repo_root, tmp_path):
    ex = repo_root / "examples" / "digits"
    r, rep = _build(
        [
            ex / "model.keras",
            "--target",
            "cpu",
            "--recipe",
            "float16",
            "--data",
            ex / "calibration.npz",
            "--eval-data",
            ex / "eval.npz",
            "--min-agreement",
            "0.99",
        ],
        tmp_path,
    )
    assert r.exit_code == 0, r.output
    assert rep["recipe"]["name"] == "float16" and "search" not in rep and "gates passed" in r.output


def test_max_accuracy_drop_needs_labels(repo_root, tmp_path):
    ex = repo_root / "examples" / "digits"
    r, _ = _build(
        [ex / "model.keras", "--target", "cpu", "--data", ex / "calibration.npz", "--max-accuracy-drop", "1"], tmp_path
    )
    assert r.exit_code == 2 and "needs labelled eval data" in r.output


def test_float_model_with_non_finite_outputs_is_bad_input(tmp_path):
    import numpy as np
    import tensorflow as tf

    class Log(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32, name="x")])
        def serve(self, x):
            return {"y": tf.math.log(x)}

    m = Log()
    tf.saved_model.save(m, str(tmp_path / "log"), signatures={"serving_default": m.serve})
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "calib.npz", x=rng.uniform(0.5, 1.0, (20, 4)).astype(np.float32))
    ev = rng.uniform(0.5, 1.0, (20, 4)).astype(np.float32)
    ev[3, 1] = 0.0  # log(0) = -inf in the float model already
    np.savez(tmp_path / "eval.npz", x=ev)
    r = CliRunner().invoke(
        main,
        [
            "build",
            str(tmp_path / "log"),
            "--target",
            "cpu",
            "--data",
            str(tmp_path / "calib.npz"),
            "--eval-data",
            str(tmp_path / "eval.npz"),
            "--out",
            str(tmp_path / "out"),
            "--no-cache",
        ],
    )
    assert r.exit_code == 2, r.output
    assert "float32 model itself outputs NaN or inf" in r.output and not (tmp_path / "out" / "cpu").exists()


@pytest.mark.slow
def test_objective_latency_times_every_candidate_and_picks_the_fastest(repo_root, tmp_path):
    ex = repo_root / "examples" / "digits"
    r, rep = _build(
        [
            ex / "model.keras",
            "--target",
            "cpu",
            "--recipe",
            "auto",
            "--objective",
            "latency",
            "--num-threads",
            "2",
            "--data",
            ex / "calibration.npz",
            "--eval-data",
            ex / "eval.npz",
        ],
        tmp_path,
    )
    assert r.exit_code == 0, r.output
    ok = [c for c in rep["search"]["candidates"] if c["within_budget"]]
    assert all(c["latency_ms"] > 0 for c in ok) and rep["search"]["objective"] == "latency"
    chosen = next(c for c in ok if c["chosen"])
    assert chosen["latency_ms"] == min(c["latency_ms"] for c in ok)


@pytest.mark.slow
def test_mcu_auto_measures_int16x8_and_its_arena(repo_root, tmp_path):
    ex = repo_root / "examples" / "digits"
    r = CliRunner().invoke(
        main,
        [
            "build",
            str(ex / "model.keras"),
            "--target",
            "mcu",
            "--recipe",
            "auto",
            "--data",
            str(ex / "calibration.npz"),
            "--eval-data",
            str(ex / "eval.npz"),
            "--out",
            str(tmp_path),
            "--no-cache",
        ],
    )
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "mcu" / "report.json").read_text())
    cands = {c["recipe"]: c for c in rep["search"]["candidates"]}
    assert cands["int8-only"]["chosen"] and cands["int16x8"]["within_budget"]
    arena8, arena16 = (cands[n]["target"]["tensor_arena_bytes"] for n in ("int8-only", "int16x8"))
    assert arena16 > arena8 == rep["mcu"]["tensor_arena"]["exact_bytes"]
    assert "tensor_arena_bytes" in r.output


@pytest.mark.slow
def test_mcu_with_allow_float_on_an_fpu_board_recovers_with_float_layers(outlier, tmp_path):
    model, calib, ev = outlier
    r = CliRunner().invoke(
        main,
        [
            "build",
            str(model),
            "--target",
            "mcu",
            "--data",
            str(calib),
            "--eval-data",
            str(ev),
            "--max-accuracy-drop",
            "1",
            "--mcu-allow-float",
            "--mcu-board",
            "nrf52840",
            "--out",
            str(tmp_path),
            "--no-cache",
        ],
    )
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "mcu" / "report.json").read_text())
    cands = {c["label"]: c for c in rep["search"]["candidates"]}
    chosen = next(c for c in cands.values() if c["chosen"])
    assert chosen["recipe"] == "int8-float-fallback" and chosen["float_layers"] and chosen["within_budget"]
    assert not cands["int8-only"]["within_budget"] and not cands["int16x8"]["within_budget"]
    assert rep["recipe"]["fields"]["float_layers"] == chosen["float_layers"]
    assert any("board 'nrf52840' has a single-precision FPU" in w for w in rep["recipe"]["reasons"])
    assert abs(rep["fidelity"]["outputs"]["output_0"]["accuracy"]["delta_points"]) <= 1
    # float tensors cost arena: measured in TFLM for the mixed model, reported per candidate
    arena_int8, arena_mixed = cands["int8-only"]["target"]["tensor_arena_bytes"], chosen["target"]["tensor_arena_bytes"]
    assert arena_mixed > arena_int8 and arena_mixed == rep["mcu"]["tensor_arena"]["exact_bytes"]
    float_ops = {(row["operator"], row["dtype"]) for row in rep["ops"]["table"] if row["placement"] == "target"}
    assert ("FULLY_CONNECTED", "float32") in float_ops and not rep["ops"]["counts"].get("unsupported")
    assert rep["verify"]["mcu"]["agree"] and "float layers" in rep["verify"]["mcu"]["tolerance"]
    assert rep["mcu"]["footprint"]["board"]["fpu"] is True


@pytest.mark.slow
def test_mcu_on_a_board_without_fpu_does_not_try_float_layers_and_says_why(outlier, tmp_path):
    model, calib, ev = outlier
    r = CliRunner().invoke(
        main,
        [
            "build",
            str(model),
            "--target",
            "mcu",
            "--data",
            str(calib),
            "--eval-data",
            str(ev),
            "--max-accuracy-drop",
            "1",
            "--mcu-allow-float",
            "--mcu-board",
            "rp2040",
            "--out",
            str(tmp_path),
            "--no-cache",
        ],
    )
    assert r.exit_code == 5, r.output
    assert "not tried: int8-float-fallback (board 'rp2040' has no single-precision FPU" in r.output
    assert "float layer" not in r.output.split("not tried")[0]  # no mixed-precision candidate was measured
    assert not (tmp_path / "mcu").exists()


def _without_matplotlib(monkeypatch):
    from hwquant.choice import plot

    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` raises ImportError
    monkeypatch.setattr(plot, "_noted_missing", False)
    return plot


def test_without_matplotlib_no_plot_is_written_and_the_note_comes_once(monkeypatch, tmp_path):
    from hwquant.choice.search import Candidate
    from hwquant.plugin.recipe import preset

    plot = _without_matplotlib(monkeypatch)
    lines: list[str] = []
    candidates = [Candidate(preset("int8-float-fallback"), "rule proposal", b"\0" * 64)]
    assert plot.write(tmp_path / "search.png", candidates, lines.append) == []
    assert plot.write(tmp_path / "search.png", candidates, lines.append) == []
    assert lines == ["note: matplotlib is not installed, so no search.png (pip install matplotlib)"]
    assert not (tmp_path / "search.png").exists()


@pytest.mark.slow
def test_a_search_build_without_matplotlib_still_builds_every_target(monkeypatch, repo_root, tmp_path):
    _without_matplotlib(monkeypatch)
    ex = repo_root / "examples" / "digits"
    args = ["--target", "cpu,mcu", "--recipe", "auto", "--data", ex / "calibration.npz", "--eval-data", ex / "eval.npz"]
    r = CliRunner().invoke(
        main, ["build", str(ex / "model.keras"), *map(str, args), "--out", str(tmp_path), "--no-cache"]
    )
    assert r.exit_code == 0, r.output
    assert r.output.count("matplotlib is not installed") == 1
    for target in ("cpu", "mcu"):
        rep = json.loads((tmp_path / target / "report.json").read_text())
        assert rep["search"]["candidates"] and "search.png" not in rep["artifacts"]
        assert not (tmp_path / target / "search.png").exists()
