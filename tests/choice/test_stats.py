"""Statistics in every decision (issue 18, item 2): intervals, verdicts, and a budget that does not let
one sample decide the build. Unit tests on plain numbers; one build of the bundled digits classifier
with 40 eval samples through the real converter and LiteRT."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from hwquant.choice import budget, stats
from hwquant.choice.verify import OutputComparison
from hwquant.cli.main import main
from hwquant.config import data
from hwquant.config.data import DataSet
from hwquant.device import metrics
from hwquant.plugin.facts import BuildOptions


def test_wilson_matches_the_textbook_values():
    lo, hi = stats.wilson(39, 40)
    assert lo == pytest.approx(0.8712, abs=1e-3) and hi == pytest.approx(0.9956, abs=1e-3)
    lo, hi = stats.wilson(40, 40)
    assert hi == 1.0 and lo == pytest.approx(0.9124, abs=1e-3)
    assert stats.wilson(0, 0) == (0.0, 1.0)


def test_paired_accuracy_uses_only_the_discordant_samples():
    f = np.array([True] * 90 + [False] * 10)
    q = f.copy()
    q[:2] = False  # two samples the float model got right and the artifact wrong
    iv = stats.paired_accuracy(f, q)
    assert iv.value == pytest.approx(-2.0) and iv.samples == 100 and iv.method == "mcnemar"
    assert iv.low < -2.0 < iv.high and iv.high > 0  # two discordant samples decide nothing
    assert iv.p_value == pytest.approx(0.5)  # exact binomial: 2 of 2 at 1/2, two-sided
    q2 = f.copy()
    q2[:30] = False
    assert stats.paired_accuracy(f, q2).high < 0  # thirty do


def test_bootstrap_intervals_are_deterministic_and_contain_the_estimate():
    rng = np.random.default_rng(1)
    ref = rng.normal(size=(50, 16))
    got = ref + rng.normal(scale=0.1, size=ref.shape)
    from hwquant.device import metrics

    v = metrics.snr_db(ref, got)
    a, b = stats.snr(ref, got, v), stats.snr(ref, got, v)
    assert a == b and a.low < v < a.high and a.samples == 50
    c = stats.cosine(ref, got, metrics.cosine(ref, got))
    assert c.low <= c.value <= c.high <= 1.0
    same = stats.snr(ref, ref, float("inf"))
    assert same.low == same.high == float("inf")


def _agreement(hits: int, n: int, snr: float = 30.0) -> OutputComparison:
    credits = np.array([1.0] * hits + [0.0] * (n - hits))
    return OutputComparison(
        samples=n,
        max_abs_error=0.1,
        mean_abs_error=0.01,
        snr_db=snr,
        cosine=0.999,
        class_scores=True,
        top1_agreement=hits / n,
        intervals={"top1_agreement": stats.proportion(credits)},
    )


def _fid(o: OutputComparison) -> dict:
    return {"outputs": {"probs": o.to_dict()}, "samples": o.samples}


def test_one_disagreement_in_40_is_undecided_not_a_miss():
    b = budget.Budget({"min_agreement": 0.98}, "default")
    fid = _fid(_agreement(39, 40))
    assert b.misses(fid) == []  # the proposal is kept: no search
    (line,) = b.undecided(fid)
    assert "undecided on 40 samples" in line and "0.871" in line and "limit 0.98" in line
    need = int(line.split("about ")[1].split(" ")[0])
    assert need > 1000  # 0.975 vs 0.98 takes thousands of samples to tell apart
    judged = b.judged_fidelity(fid)["outputs"]["probs"]["measures"]["top1_agreement"]
    assert judged["verdict"] == "undecided" and judged["samples"] == 40 and judged["limit"] == 0.98
    assert judged["low"] < 0.98 < judged["high"] and judged["samples_to_decide"] == need


def test_a_confident_miss_still_overrides_and_a_given_budget_decides_on_the_point():
    default = budget.Budget({"min_agreement": 0.98}, "default")
    bad = _fid(_agreement(30, 40))
    assert [x.split(":")[0] for x in default.misses(bad)] == ["min-agreement"]
    assert default.judged_fidelity(bad)["outputs"]["probs"]["measures"]["top1_agreement"]["verdict"] == "miss"
    given = budget.Budget({"min_agreement": 0.98}, "command line")
    one_off = _fid(_agreement(39, 40))
    assert len(given.misses(one_off)) == 1 and given.undecided(one_off) == []
    m = given.judged_fidelity(one_off)["outputs"]["probs"]["measures"]["top1_agreement"]
    assert m["verdict"] == "miss" and m["low"] is not None  # the interval is shown beside the point verdict
    ok = default.judged_fidelity(_fid(_agreement(40, 40)))["outputs"]["probs"]["measures"]
    assert ok["top1_agreement"]["verdict"] == "pass"


def test_samples_to_decide_makes_the_miss_confident():
    iv = stats.proportion(np.array([1.0] * 97 + [0.0] * 3))
    assert iv.high >= 0.98  # undecided on 100 samples
    n = stats.samples_to_decide(iv, 0.98, "min")
    assert n is not None and 100 < n < 10_000
    assert stats.wilson(round(0.97 * n), n)[1] < 0.98 <= stats.wilson(round(0.97 * n * 0.8), round(n * 0.8))[1]
    assert stats.samples_to_decide(iv, 0.9, "min") is None  # the estimate meets the limit


def _samples(n: int) -> DataSet:
    return DataSet([("", {"x": np.zeros((1, 2), np.float32)}) for _ in range(n)], "calib.npz", "npz", "h")


def test_the_default_split_keeps_100_eval_samples_and_warns_below():
    calib, held = data.split(_samples(300), None, BuildOptions(model="m"))
    assert len(held) == 100 and len(calib) == 200 and not calib.warnings
    calib, held = data.split(_samples(150), None, BuildOptions(model="m"))
    assert len(held) == 50 and len(calib) == 100  # calibration keeps the 100 the TFLite guide recommends
    assert any("only 50 eval samples held back from calib.npz" in w for w in calib.warnings)
    _, held = data.split(_samples(20), None, BuildOptions(model="m"))
    assert len(held) == 4  # too few for both: the fraction
    _, held = data.split(_samples(300), None, BuildOptions(model="m", eval_fraction=0.1))
    assert len(held) == 30  # a fraction the user gave is kept


@pytest.mark.slow
def test_digits_with_40_eval_samples_reports_intervals_and_keeps_the_proposal(repo_root, tmp_path):
    ex = repo_root / "examples" / "digits"
    with np.load(ex / "eval.npz") as z:
        small = {k: z[k][:40] for k in z.files}
    np.savez(tmp_path / "eval40.npz", **small)
    out = tmp_path / "out"
    args = ["build", str(ex / "model.keras"), "--target", "cpu", "--data", str(ex / "calibration.npz")]
    r = CliRunner().invoke(main, [*args, "--eval-data", str(tmp_path / "eval40.npz"), "--out", str(out), "--no-cache"])
    assert r.exit_code == 0, r.output
    assert "only 40 eval samples in" in r.output and "for calibration" not in r.output.split("only 40 eval")[1][:120]
    rep = json.loads((out / "cpu" / "report.json").read_text())
    (m,) = rep["fidelity"]["outputs"].values()
    agree = m["measures"]["top1_agreement"]
    assert agree["samples"] == 40 and agree["method"] == "wilson"
    assert agree["low"] <= agree["value"] <= agree["high"] and agree["limit"] == 0.98
    assert agree["verdict"] in ("pass", "undecided")  # 40 samples cannot make a confident miss of one slip
    drop = m["measures"]["accuracy_drop_points"]
    assert drop["method"] == "mcnemar" and drop["limit"] == 1.0 and drop["verdict"] in stats.VERDICTS
    assert rep["recipe"]["name"] == "int8-float-fallback" and "search" not in rep


@pytest.mark.slow
def test_one_real_disagreement_in_40_eval_samples_does_not_flip_the_recipe(repo_root, tmp_path):
    """The issue's case, for real: the digits int8 artifact disagrees with float on one eval sample; an
    eval set of 40 holding it measures 0.975 < 0.98. The build keeps the rule's proposal (no search) and
    says the measure is undecided on 40 samples."""
    import tensorflow as tf

    from hwquant.choice import verify
    from hwquant.config.data import DataSet

    ex = repo_root / "examples" / "digits"
    out = tmp_path / "full"
    args = ["build", str(ex / "model.keras"), "--target", "cpu", "--data", str(ex / "calibration.npz")]
    r = CliRunner().invoke(main, [*args, "--eval-data", str(ex / "eval.npz"), "--out", str(out), "--no-cache"])
    assert r.exit_code == 0, r.output
    with np.load(ex / "eval.npz") as z:
        arrays = {k: z[k] for k in z.files}
    (name,) = [k for k in arrays if k != "labels"]
    x = arrays[name]
    keras = tf.keras.models.load_model(ex / "model.keras")
    ref = np.asarray(keras(x.astype(np.float32), training=False))
    samples = [("", {name: x[i : i + 1]}) for i in range(len(x))]
    artifact = (out / "cpu" / "model.tflite").read_bytes()
    got = next(iter(verify.outputs(artifact, DataSet(samples, "eval", "npz", "h"), _Facts(), "artifact").values()))
    credits = metrics.top1_credits(ref, got.reshape(ref.shape))
    bad = np.flatnonzero(credits < 1)
    assert bad.size >= 1, "the digits int8 artifact agrees on every sample: this test needs one disagreement"
    keep = [int(bad[0]), *[int(i) for i in np.flatnonzero(credits == 1)[:39]]]
    np.savez(tmp_path / "eval40.npz", **{k: v[keep] for k, v in arrays.items()})
    out40 = tmp_path / "forty"
    r = CliRunner().invoke(
        main, [*args, "--eval-data", str(tmp_path / "eval40.npz"), "--out", str(out40), "--no-cache"]
    )
    assert r.exit_code == 0, r.output
    rep = json.loads((out40 / "cpu" / "report.json").read_text())
    (m,) = rep["fidelity"]["outputs"].values()
    agree = m["measures"]["top1_agreement"]
    assert agree["value"] == pytest.approx(0.975) and agree["verdict"] == "undecided" and agree["samples_to_decide"]
    assert rep["recipe"]["name"] == "int8-float-fallback" and "search" not in rep  # the proposal is kept
    assert any("undecided on 40 samples" in w for w in rep["warnings"])


class _Facts:
    multi_signature = False
