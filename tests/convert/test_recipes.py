"""Every recipe yields the tensor types the TFLite quantization guide promises (real converter)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from hwquant.common.errors import UsageError
from hwquant.device.tflite_model import TfliteModel
from hwquant.pipeline.prepare import prepare
from hwquant.pipeline.target import build_target
from hwquant.plugin.facts import BuildOptions
from hwquant.plugin.manager import registry
from hwquant.plugin.recipe import PRESETS, Recipe, preset
from tests.helpers import models


@pytest.fixture(scope="module")
def prep(tmp_path_factory):
    d = tmp_path_factory.mktemp("recipes")
    model = models.keras_cnn(d)
    np.savez(d / "calib.npz", image=models.keras_samples(120))
    p = prepare(BuildOptions(model=model, data=str(d / "calib.npz"), out=d / "out"), log=lambda s: None)
    yield p
    p.loaded.cleanup()


def _build(prep, recipe, io=None):
    options = replace(prep.options, recipe=recipe, io_dtype=io)
    res = build_target(prep, registry().get("cpu"), log=lambda s: None, options=options)
    return res, TfliteModel(res.artifact_path.read_bytes())


def _weights(m: TfliteModel, op_name: str):
    op = next(o for o in m.ops if o.name == op_name)
    return op, op.inputs[1]


def _io(m):
    ins, outs = m.io()
    return {t.dtype for t in ins}, {t.dtype for t in outs}


def _activation_dtypes(m):
    """dtypes of non-constant tensors produced by compute ops (not QUANTIZE/DEQUANTIZE)."""
    return {t.dtype for op in m.ops if op.name in ("CONV_2D", "FULLY_CONNECTED", "MAX_POOL_2D") for t in op.outputs}


def _assert_int8_per_axis(m):
    _op, w = _weights(m, "CONV_2D")
    assert w.dtype == "int8"
    assert w.quant.per_axis and w.quant.scale.size == w.shape[0]  # one scale per output channel
    assert np.all(w.quant.zero_point == 0)
    data = m.constant(w)
    assert data.min() >= -127 and data.max() <= 127


def test_float32(prep):
    _, m = _build(prep, "float32")
    assert {t.dtype for ts in m.subgraph_tensors for t in ts} <= {"float32", "int32"}


def test_dynamic_int8(prep):
    res, m = _build(prep, "dynamic-int8")
    # The converter quantizes weight tensors of 1024+ elements only: the dense layer (128x10).
    _, w = _weights(m, "FULLY_CONNECTED")
    assert w.dtype == "int8" and np.all(w.quant.zero_point == 0)
    assert np.abs(m.constant(w)).max() <= 127
    assert _activation_dtypes(m) == {"float32"}
    assert _io(m) == ({"float32"}, {"float32"})
    assert res.recipe["name"] == "dynamic-int8"


def test_int8_float_fallback(prep):
    _, m = _build(prep, "int8-float-fallback")
    _assert_int8_per_axis(m)
    assert _activation_dtypes(m) == {"int8"}
    for op in m.ops:
        for t in op.outputs:
            if t.dtype == "int8":
                assert t.quant is not None and not t.quant.per_axis  # per-tensor activations
                assert -128 <= int(t.quant.zero_point[0]) <= 127
    assert _io(m) == ({"float32"}, {"float32"})


@pytest.mark.parametrize("io", ["int8", "uint8"])
def test_int8_only(prep, io):
    res, m = _build(prep, "int8-only", io)
    _assert_int8_per_axis(m)
    assert _io(m) == ({io}, {io})
    assert _activation_dtypes(m) == {"int8"}
    # int8 IO: the integer graph is fed and read directly, no requantize op anywhere. uint8 IO: one
    # QUANTIZE takes the uint8 input to int8 and one takes the int8 result back to uint8, at the ends.
    ins, outs = m.io()
    quant = [op for op in m.ops if op.name == "QUANTIZE"]
    if io == "int8":
        assert quant == [] and "DEQUANTIZE" not in m.op_counts()
    else:
        assert [(op.inputs[0].dtype, op.outputs[0].dtype) for op in quant] == [("uint8", "int8"), ("int8", "uint8")]
        assert quant[0].inputs[0].index == ins[0].index and quant[-1].outputs[0].index == outs[0].index
    assert res.fidelity["outputs"]["output_0"]["cosine"] > 0.95


def test_float16(prep):
    _, m = _build(prep, "float16")
    _op, w = _weights(m, "CONV_2D")
    # float16 weights are stored as float16 constants and dequantized to float32 for the CPU kernel
    deq_inputs = [o.inputs[0] for o in m.ops if o.name == "DEQUANTIZE"]
    assert deq_inputs and all(t.dtype == "float16" and t.is_constant for t in deq_inputs)
    assert w.dtype == "float32" and not w.is_constant  # the DEQUANTIZE output feeds the conv
    assert _io(m) == ({"float32"}, {"float32"})


def test_int16x8(prep):
    _, m = _build(prep, "int16x8")
    _assert_int8_per_axis(m)
    assert _activation_dtypes(m) == {"int16"}
    for op in m.ops:
        for t in op.outputs:
            if t.dtype == "int16":
                assert np.all(t.quant.zero_point == 0)  # symmetric int16 activations


def test_int16x8_io(prep):
    _, m = _build(prep, "int16x8", "int16")
    assert _io(m) == ({"int16"}, {"int16"})


def test_int16x8_float_fallback(prep):
    res, m = _build(prep, "int16x8-float-fallback")
    assert _activation_dtypes(m) == {"int16"}
    assert res.fidelity["outputs"]["output_0"]["snr_db"] > 20


def test_recipe_round_trips():
    for r in PRESETS.values():
        assert Recipe.from_dict(r.to_dict()) == r
    assert preset("int8-only", "uint8").io_dtype == "uint8"


def test_recipe_validates_itself():
    with pytest.raises(UsageError, match="cannot have uint8"):
        preset("int8-float-fallback", "uint8")
    with pytest.raises(UsageError, match="unknown recipe"):
        preset("int4")
    with pytest.raises(UsageError, match="representative data"):
        Recipe("x", "int8", "int8", optimize=True)


def test_prepared_computes_each_shared_step_once_and_owns_its_memos(prep, monkeypatch):
    """Prepared's steps are methods computed once per build; nothing outside assigns their memos."""
    from hwquant.choice import verify
    from hwquant.convert import converter

    calls: list[str] = []

    def counted(module, name):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, **k: calls.append(name) or real(*a, **k))

    for name in ("convert", "calibrate", "quantize_calibrated", "layer_sensitivity"):
        counted(converter, name)
    counted(verify, "outputs")
    int8, dynamic = preset("int8-float-fallback"), preset("dynamic-int8")
    first = (prep.artifact(int8), prep.artifact(dynamic), prep.calibration_result(), prep.reference())
    rows = prep.sensitivity()
    made = list(calls)
    again = (prep.artifact(int8), prep.artifact(dynamic), prep.calibration_result(), prep.reference())
    assert all(a is b for a, b in zip(first, again)) and prep.sensitivity() is rows
    assert calls == made, f"recomputed: {calls[len(made) :]}"
    assert prep.calibrated is first[2] and prep.sensitivity_computed and rows
    before = calls.count("outputs")
    assert prep.compare(first[0]).to_dict() == prep.compare(first[0]).to_dict()
    assert calls.count("outputs") == before + 2  # the artifact each time; the float reference is shared
    with pytest.raises(AttributeError):
        prep.calibrated = None  # read-only: the memo belongs to Prepared
    with pytest.raises(AttributeError, match="fixed once prepared"):
        prep.float_model = b""
    prep.measure_latency = prep.measure_latency  # the caller's settings stay assignable
    for old in ("converted", "reference_outputs", "range_warnings_memo"):
        assert not hasattr(prep, old)


def test_a_decisions_warnings_are_its_own_not_the_builds_shared_memo(prep):
    """A warning one target adds (e.g. 'no recipe meets the default budget') must not reach the next
    target through the shared range-warnings memo (it did when Decision held the memo's list)."""
    from hwquant.choice import decide

    cpu = registry().get("cpu")
    recipe, reasons = cpu.choose_recipe(prep.facts, prep.options)
    d = decide.decide(prep, cpu, prep.options, recipe, reasons, prep.artifact(recipe), log=lambda s: None)
    shared = list(prep.range_warnings())
    d.warnings.append("a warning of this target only")
    assert prep.range_warnings() == shared and d.warnings is not prep.range_warnings()
    assert d.sections["budget"]["source"] == "default" and d.fidelity == d.budget.judged_fidelity(d.comparison)
    assert d.fidelity.keys() == d.comparison.to_dict().keys()  # the comparison, with limits and verdicts added
