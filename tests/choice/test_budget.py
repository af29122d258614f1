"""Budget, doctor metrics and the float-layers recipe field: plain data, no TensorFlow."""

from __future__ import annotations

import numpy as np
import pytest

from hwquant.choice import budget
from hwquant.common.errors import UsageError
from hwquant.config.data import DataSet
from hwquant.device import metrics
from hwquant.plugin.recipe import Recipe, preset
from hwquant.report.gates import Gates, check


def test_a_tie_agrees_only_when_the_float_model_scores_the_tied_classes_within_one_step():
    """Issue 18: a tie that includes the float class is agreement only when the float model also scores
    every tied class within one quantization step of its top-1; when every class ties, nothing was decided."""
    step = 0.1
    ref = np.array([[0.1, 0.9, 0.0], [0.45, 0.4, 0.15], [0.8, 0.1, 0.1]])
    tied = np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.6, 0.6, 0.0]])
    # sample 0: float 0.9 vs 0.1 (8 steps apart): no; sample 1: 0.45 vs 0.4: yes; sample 2: float's class
    # ties with one it scores 0.7 lower: no
    assert metrics.top1_credits(ref, tied, step).tolist() == [0.0, 1.0, 0.0]
    unique = np.array([[0.1, 0.8, 0.1], [0.5, 0.4, 0.1], [0.1, 0.2, 0.7]])
    assert metrics.top1_credits(ref, unique, step).tolist() == [1.0, 1.0, 0.0]
    flat = np.full((3, 3), 0.0)  # every class ties: the artifact decided nothing
    assert metrics.top1_agreement(ref, flat, step) == 0.0
    assert metrics.resolution(np.array([[0.0, 0.25, 0.5]])) == 0.25


def test_collapse_and_non_finite_are_reported_and_fail_any_budget():
    ref = np.eye(4)[np.arange(16) % 4]
    got = np.tile([0.0, 1.0, 0.0, 0.0], (16, 1))
    assert not metrics.compare_output(ref[:4], got[:4]).get("collapsed")  # too few samples to tell
    m = metrics.compare_output(ref, got)
    assert m["collapsed"] is True
    nan = ref.copy()
    nan[0, 0] = np.nan
    m2 = metrics.compare_output(ref, nan)
    assert m2["non_finite"] == 1
    fid = {"outputs": {"o": metrics.json_safe(m)}, "samples": 16}
    b = budget.Budget({}, "default", applied=False, why_not="x")
    assert any("collapsed" in line for line in b.misses(fid))
    assert any("non-finite" in line for line in budget.doctor_findings({"outputs": {"o": metrics.json_safe(m2)}}))


def _ds(random=False, labels=None):
    return DataSet([], "x", "random" if random else "npz", "h", labels)


def test_default_budget_applies_per_output_kind_and_needs_real_data():
    b = budget.resolve({}, "default", _ds(), _ds(labels=np.zeros(3)))
    assert b.is_default and b.limits == budget.DEFAULT_LIMITS
    classifier = {
        "snr_db": 12.0,
        "cosine": 0.99,
        "top1_agreement": 0.99,
        "accuracy": {"float": 0.9, "quantized": 0.895, "delta_points": -0.5},
    }
    regression = {"snr_db": 12.0, "cosine": 0.99}
    assert b.misses({"outputs": {"p": classifier}}) == []  # SNR floor is for non-class outputs only
    assert [x.split(":")[0] for x in b.misses({"outputs": {"r": regression}})] == ["min-snr"]
    assert "max_accuracy_drop" not in budget.resolve({}, "default", _ds(), _ds()).limits  # no labels
    assert not budget.resolve({}, "default", _ds(random=True), _ds()).applied
    assert not budget.resolve({}, "default", None, _ds()).applied
    given = budget.resolve({"min_cosine": 0.999}, "command line", _ds(), _ds())
    assert given.limits == {"min_cosine": 0.999} and given.to_dict()["source"] == "command line"
    with pytest.raises(UsageError, match="labelled"):
        budget.resolve({"max_accuracy_drop": 1}, "command line", _ds(), _ds())


def test_budget_and_gates_share_one_definition():
    fid = {
        "outputs": {
            "o": {
                "snr_db": 30.0,
                "cosine": 0.98,
                "top1_agreement": 0.97,
                "accuracy": {"float": 0.9, "quantized": 0.87, "delta_points": -3.0},
            }
        }
    }
    limits = {"min_cosine": 0.99, "min_agreement": 0.98, "max_accuracy_drop": 1.0, "min_snr": 25.0}
    gate_lines = check({"target": "cpu", "fidelity": fid}, Gates.of(**limits))
    budget_lines = budget.Budget(limits, "command line").misses(fid)
    assert sorted(g.split(": ", 1)[1] for g in gate_lines) == sorted(budget_lines) and len(budget_lines) == 3


def test_float_layers_round_trip_and_are_validated():
    r = preset("int8-float-fallback").with_float_layers(["b", "a", "b"])
    assert r.float_layers == ("a", "b") and r.label == "int8-float-fallback + 2 float layers"
    assert Recipe.from_dict(r.to_dict()) == r and r != preset("int8-float-fallback")
    with pytest.raises(UsageError, match="cannot keep layers float"):
        preset("int8-only").with_float_layers(["a"])


def test_float_layers_and_budget_enter_the_cache_key(tmp_path):
    from dataclasses import replace

    from hwquant.cache import store as cache
    from hwquant.plugin.facts import BuildOptions
    from hwquant.plugin.manager import registry

    model = tmp_path / "m.keras"
    model.write_bytes(b"x")
    base = BuildOptions(model=model)
    keys = {
        cache.make_key(cache.key_inputs(o, registry().get("cpu"), {}))
        for o in (
            base,
            replace(base, float_layers=("a",)),
            replace(base, budget={"min_snr": 30.0}),
            replace(base, objective="latency"),
        )
    }
    assert len(keys) == 4


def test_a_direct_conversion_refuses_float_layers_rather_than_ignoring_them():
    from hwquant.common.errors import ToolchainError
    from hwquant.convert import converter as convert

    with pytest.raises(ToolchainError, match="cannot keep layers float"):
        convert.convert(None, preset("int8-float-fallback").with_float_layers(["x"]), [])
