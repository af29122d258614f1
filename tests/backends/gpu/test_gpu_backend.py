"""GPU backend: recipe rule, op table and preflight (merged with TFLite's analysis), GPU verify."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hwquant.common.errors import UsageError
from hwquant.device import runtime
from hwquant.device.tflite_model import TfliteModel
from hwquant.plugin.backend import BuildContext, rule
from hwquant.plugin.facts import BuildOptions, CheckRequest, ModelFacts
from hwquant.plugin.manager import registry
from hwquant.plugin.recipe import preset
from hwquant_backends.gpu import GpuBackend, analyzer_text, gpu_check, ops
from tests.helpers import models

# Real output of an older analyzer that still ran the per-op GPU checks (TF 2.13), quoted from
# tensorflow/tensorflow#61743; the current one prints the same layout without the warnings.
OLD_ANALYZER_OUTPUT = """\
Subgraph#0 main(T#0) -> [T#31]
  Op#0 EXPAND_DIMS(T#0, T#13[1]) -> [T#15]
GPU COMPATIBILITY WARNING: Not supported op EXPAND_DIMS
  Op#1 TILE(T#15, T#7[1, 4, 1]) -> [T#16]
  Op#2 SHAPE(T#0) -> [T#17]
GPU COMPATIBILITY WARNING: Not supported op SHAPE
  Op#3 STRIDED_SLICE(T#17, T#9[1], T#10[0], T#9[1]) -> [T#18]
GPU COMPATIBILITY WARNING: STRIDED_SLICE supports for 3 or 4 dimensional tensors only.

GPU COMPATIBILITY WARNING: Subgraph#0 has GPU delegate compatibility issues at nodes 0, 2, 3 with TFLite runtime version 2.13.0

Tensors of Subgraph#0
  T#0(serving_default_input:0) shape:[1, 4], type:FLOAT32
"""


def _float16(converter_src, out: Path) -> Path:
    tf = models._tf()
    conv = converter_src(tf)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.target_spec.supported_types = [tf.float16]
    out.write_bytes(conv.convert())
    return out


@pytest.fixture(scope="module")
def gpu_models(static_keras_model, tmp_path_factory):
    d = tmp_path_factory.mktemp("gpu_models")

    def keras_src(tf):
        return tf.lite.TFLiteConverter.from_keras_model(tf.keras.models.load_model(static_keras_model))

    def argmax_src(tf):
        class Head(tf.Module):
            @tf.function(input_signature=[tf.TensorSpec([1, 4, 4, 3], tf.float32, name="x")])
            def serve(self, x):
                y = tf.nn.relu(x) * 2.0
                return {"y": y, "cls": tf.argmax(tf.reshape(y, [1, 48]), axis=1)}

        m = Head()
        return tf.lite.TFLiteConverter.from_concrete_functions([m.serve.get_concrete_function()], m)

    def depthwise_src(tf):
        tf.keras.utils.set_random_seed(0)
        inp = tf.keras.Input((6, 6, 3), batch_size=1)
        out = tf.keras.layers.DepthwiseConv2D(3, depth_multiplier=2)(inp)
        return tf.lite.TFLiteConverter.from_keras_model(tf.keras.Model(inp, out))

    return {
        "cnn": _float16(keras_src, d / "cnn_f16.tflite"),
        "argmax": _float16(argmax_src, d / "argmax.tflite"),
        "depthwise": _float16(depthwise_src, d / "dw.tflite"),
    }


def _facts() -> ModelFacts:
    return ModelFacts(path="m.keras", format="keras", loader="tf2-keras", signatures=(), float_size_bytes=1)


# -- recipes --------------------------------------------------------------------------------------------
def test_registered_and_described():
    b = registry().get("gpu")
    assert isinstance(b, GpuBackend)
    d = b.describe()
    assert d["recipes"] == ["float16", "float32"] and d["toolchain"]["available"] is True
    assert "GPU check" in d["toolchain"]["detail"]


def test_default_recipe_is_float16_with_the_precision_note():
    recipe, reasons = GpuBackend().choose_recipe(_facts(), BuildOptions(model=Path("m.keras"), target="gpu"))
    assert recipe.name == "float16" and recipe.weights == "float16"
    text = " ".join(reasons)
    assert "computes in float16" in text and "dequantize" in text and "float32" in text


def test_float32_selectable():
    opts = BuildOptions(model=Path("m.keras"), target="gpu", recipe="float32")
    recipe, reasons = GpuBackend().choose_recipe(_facts(), opts)
    assert recipe.name == "float32" and any("--recipe" in r for r in reasons)


@pytest.mark.parametrize(
    "name", ["dynamic-int8", "int8-float-fallback", "int8-only", "int16x8", "int16x8-float-fallback"]
)
def test_integer_recipes_refused_with_reason(name):
    opts = BuildOptions(model=Path("m.keras"), target="gpu", recipe=name, data="random:4")
    with pytest.raises(UsageError) as exc:
        GpuBackend().choose_recipe(_facts(), opts)
    assert exc.value.exit_code == 2
    assert f"does not allow recipe {name!r}: " in exc.value.message and "GPU delegate" in exc.value.message
    assert "float16" in exc.value.hint


def test_refusal_reason_reaches_the_command_line(tmp_path):
    from click.testing import CliRunner

    from hwquant.cli.main import main

    r = CliRunner().invoke(main, ["build", str(tmp_path / "m.keras"), "--target", "gpu", "--recipe", "int8-only"])
    assert r.exit_code == 2
    assert "does not allow recipe 'int8-only': the GPU delegate has no integer kernels" in r.output


def test_unknown_recipe_is_reported_as_unknown():
    with pytest.raises(UsageError, match="unknown recipe"):
        GpuBackend().choose_recipe(_facts(), BuildOptions(model=Path("m"), target="gpu", recipe="int4"))


# -- op table and preflight -------------------------------------------------------------------------------
def test_every_constraint_states_its_rule():
    for fn in [*ops.SUPPORT.generic, *(c for cs in ops.SUPPORT.specific.values() for c in cs)]:
        assert fn.__doc__ and rule(fn) and not rule(fn).startswith(fn.__name__)
    table = GpuBackend().op_table()
    rows = {r["op"]: r for r in table["ops"]}
    # TOPK_V2 has a case in the cited gpu_compatibility.cc revision; ARG_MAX and SCATTER_ND do not
    assert "CONV_2D" in rows and "TOPK_V2" in rows and "ARG_MAX" not in rows and "SCATTER_ND" not in rows
    assert any("depth_multiplier" in c for c in rows["DEPTHWISE_CONV_2D"]["constraints"])
    assert rows["SOFTMAX"]["constraints"] == ["SOFTMAX: beta is 1."]


def test_static_cnn_runs_fully_on_gpu(gpu_models):
    report = GpuBackend().check(TfliteModel.from_file(gpu_models["cnn"]), CheckRequest())
    assert report.counts() == {"target": len(report.verdicts)}, report.table()
    assert {"CONV_2D", "MAX_POOL_2D", "FULLY_CONNECTED", "SOFTMAX"} <= {v.op for v in report.verdicts}
    assert any("float16" in n for n in report.notes)
    assert any("GPU compatibility analysis" in n for n in report.notes)


def test_unsupported_ops_fall_back_with_reasons(gpu_models):
    report = GpuBackend().check(TfliteModel.from_file(gpu_models["argmax"]), CheckRequest())
    fb = {v.op: v for v in report.verdicts if v.placement == "fallback"}
    assert "ARG_MAX" in fb and "not in this target's supported operations" in fb["ARG_MAX"].reasons[0]
    assert fb["ARG_MAX"].status == "falls back to CPU"
    assert not report.unsupported  # the CPU runs what the GPU cannot: not a reason to fail the build
    assert any("do not run on the GPU" in n for n in report.notes)
    # the bundled analyzer says "compatible" (its per-op checks are gone upstream): the note says so
    analysis = analyzer_text.analyze(TfliteModel.from_file(gpu_models["argmax"]).content)
    if analysis.compatible:
        assert any("77042" in n for n in report.notes)


def test_depthwise_multiplier_constraint(gpu_models):
    report = GpuBackend().check(TfliteModel.from_file(gpu_models["depthwise"]), CheckRequest())
    dw = [v for v in report.verdicts if v.op == "DEPTHWISE_CONV_2D"]
    assert dw and dw[0].placement == "fallback"
    assert any("depth_multiplier 2 with 3 input channels" in r for r in dw[0].reasons)


# -- TFLite's analysis ------------------------------------------------------------------------------------
def test_analyzer_runs_without_tensorflow_and_parses(gpu_models):
    content = gpu_models["cnn"].read_bytes()
    text, source = analyzer_text.gpu_compatibility_report(content)
    assert source.endswith("_pywrap_analyzer_wrapper") and "Subgraph#0" in text
    rep = analyzer_text.parse(text)
    assert rep.compatible is True and rep.runtime_version and not rep.op_warnings
    assert "CONV_2D" in rep.op_names.values()
    assert analyzer_text.analyze(b"garbage" * 8).available is False


def test_analyzer_parser_reads_per_op_warnings():
    rep = analyzer_text.parse(OLD_ANALYZER_OUTPUT)
    assert rep.compatible is False and rep.runtime_version == "2.13.0"
    assert rep.incompatible_nodes == {0: [0, 2, 3]}
    assert rep.op_warnings == {
        (0, 0): ["Not supported op EXPAND_DIMS"],
        (0, 2): ["Not supported op SHAPE"],
        (0, 3): ["STRIDED_SLICE supports for 3 or 4 dimensional tensors only."],
    }
    assert rep.op_names[(0, 1)] == "TILE" and (0, 1) not in rep.op_warnings


# -- GPU verify ---------------------------------------------------------------------------------------------
def test_probe_model_is_a_valid_tflite_model():
    interp = runtime.make_interpreter(gpu_check.probe_model())
    out = interp.get_signature_runner()(x=np.arange(4, dtype=np.float32)[None])
    assert out["y"].tolist() == [[0.0, 2.0, 4.0, 6.0]]


def test_verify_reports_gpu_status_without_failing(gpu_models, tmp_path):
    content = gpu_models["cnn"].read_bytes()
    sample = {models.KERAS_INPUT: np.random.default_rng(0).random((1, *models.KERAS_SHAPE), dtype=np.float32)}
    logs = []
    ctx = BuildContext(
        options=BuildOptions(model=Path("m.keras"), target="gpu"),
        facts=_facts(),
        recipe=preset("float16"),
        artifact=content,
        float_model=content,
        model=TfliteModel(content),
        calibration=None,
        evaluation=[("serving_default", sample)] * 3,
        out_dir=tmp_path,
        log=logs.append,
    )
    result = GpuBackend().verify(ctx)
    gpu = result["gpu"]
    assert "float16" in result["precision"]
    if gpu_check.probe()["available"]:
        assert gpu["status"] == "ran on GPU" and isinstance(gpu["fully_accelerated"], bool)
        assert gpu["fidelity_vs_cpu"]["output_0"]["cosine"] > 0.999
    else:
        assert gpu == {**gpu, "status": "no GPU adapter", "available": False}
        assert "No adapters found" in gpu["detail"] or "no GPU adapter" in gpu["detail"]
        assert any("verified on the CPU interpreter only" in line for line in logs)
