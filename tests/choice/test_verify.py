"""The verify stage runs the artifact for real: a model that fails to prepare fails the build."""

from __future__ import annotations

import flatbuffers
import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema

import hwquant
from hwquant.choice.verify import compare
from hwquant.common.errors import ToolchainError
from hwquant.config.data import DataSet


def _break_softmax_scale(content: bytes) -> bytes:
    """Give the int8 SOFTMAX output a scale other than 1/256: LiteRT's Softmax Prepare rejects it."""
    m = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    sg = m.subgraphs[0]
    for op in sg.operators:
        code = m.operatorCodes[op.opcodeIndex]
        if max(code.builtinCode, code.deprecatedBuiltinCode) == schema.BuiltinOperator.SOFTMAX:
            sg.tensors[op.outputs[0]].quantization.scale = [0.5]
            break
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def test_artifact_failing_at_prepare_fails_with_interpreter_message(keras_model, tmp_path):
    res = hwquant.build(keras_model, recipe="int8-only", data="random:12", out=tmp_path)
    good = res.artifact_path.read_bytes()
    float_model = (tmp_path / "f").mkdir() or hwquant.build(keras_model, recipe="float32", out=tmp_path / "f")
    ref = float_model.artifact_path.read_bytes()
    facts_sig = res.model["signatures"][0]
    from hwquant.plugin.facts import ModelFacts, SignatureSpec, TensorSpec

    facts = ModelFacts(
        "m",
        "keras",
        "tf2-keras",
        (
            SignatureSpec(
                facts_sig["key"],
                tuple(TensorSpec(t["name"], tuple(t["shape"]), t["dtype"]) for t in facts_sig["inputs"]),
                tuple(TensorSpec(t["name"], tuple(t["shape"]), t["dtype"]) for t in facts_sig["outputs"]),
            ),
        ),
        len(ref),
    )
    ds = DataSet(
        [("serving_default", {"image": np.random.default_rng(0).random((1, 8, 8, 1), np.float32)})], "t", "random", "x"
    )
    ok = compare(ref, good, ds, facts)
    assert ok.outputs["output_0"].cosine > 0.9
    assert ok.to_dict()["outputs"]["output_0"]["cosine"] == ok.outputs["output_0"].cosine
    with pytest.raises(ToolchainError) as err:
        compare(ref, _break_softmax_scale(good), ds, facts)
    assert "failed to allocate tensors" in str(err.value)
    assert "scale" in str(err.value).lower() or "softmax" in str(err.value).lower()
    assert err.value.exit_code == 4 and err.value.hint


@pytest.mark.parametrize(
    "kind",
    ["classifier", "collapsed", "non-finite", "regression", "labelled"],
)
def test_typed_comparison_reproduces_the_report_json_form(kind):
    """OutputComparison is the typed form of report.json's fidelity output; the JSON stays the same."""
    from hwquant.choice.verify import Comparison, OutputComparison
    from hwquant.device import metrics

    rng = np.random.default_rng(0)
    ref = rng.random((20, 5 if kind != "regression" else 1), np.float32)
    got = {
        "classifier": ref + 0.01,
        "collapsed": np.tile(np.eye(5, dtype=np.float32)[0], (20, 1)),
        "non-finite": np.where(ref > 0.9, np.nan, ref),  # (inf: metrics.snr_db raises a math domain error)
        "regression": ref * 0.5,
        "labelled": ref[:, ::-1],
    }[kind]
    m = metrics.json_safe(metrics.compare_output(ref, got))
    if kind == "labelled":
        m["accuracy"] = {"float": 0.75, "quantized": 0.5, "delta_points": -25.0}
    typed = OutputComparison.from_dict(m)
    assert typed.to_dict() == m and list(typed.to_dict()) == list(m)  # same keys, same order
    assert typed.class_scores == (kind != "regression")
    assert (typed.top1_agreement is None) == (kind in ("regression", "non-finite"))  # NaN is null in JSON
    assert typed.collapsed == (kind == "collapsed") and (typed.non_finite > 0) == (kind == "non-finite")
    whole = Comparison({"out": typed}, 20)
    assert whole.to_dict() == {"outputs": {"out": m}, "samples": 20}
