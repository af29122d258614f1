"""Edge TPU preflight: predicted mapping on tiny int8 models converted in the test (real converter)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hwquant.common.errors import InputError, UsageError
from hwquant.device.tflite_model import TfliteModel
from hwquant.plugin.facts import BuildOptions, CheckRequest
from hwquant.plugin.manager import registry
from hwquant_backends.edgetpu import EdgeTpuBackend
from hwquant_backends.edgetpu import ops as O
from hwquant_backends.edgetpu.compiler_log import parse
from hwquant_backends.edgetpu.preflight import compare, format_table, predict
from tests.helpers.edgetpu_standin.int8 import convert as int8_convert

tf = pytest.importorskip("tensorflow")
keras = tf.keras
L = keras.layers


def int8(model, io=None) -> TfliteModel:
    """Full-integer conversion (TFLITE_BUILTINS_INT8), as the int8-only recipe does."""
    return TfliteModel(int8_convert(model, "uint8" if io is tf.uint8 else "int8"))


def cnn(leaky_at: str | None = None, batch: int | None = 1):
    """conv -> conv -> global average pool -> dense, with a LEAKY_RELU (no Edge TPU kernel) where asked."""
    keras.utils.set_random_seed(0)
    x = inp = keras.Input((8, 8, 3), batch_size=batch)
    if leaky_at == "start":
        x = L.LeakyReLU(0.1)(x)
    x = L.Conv2D(8, 3, padding="same", activation="relu")(x)
    if leaky_at == "middle":
        x = L.LeakyReLU(0.1)(x)
    x = L.Conv2D(8, 3, padding="same")(x)
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dense(4)(x)
    if leaky_at == "end":
        x = L.LeakyReLU(0.1)(x)
    return keras.Model(inp, x)


def rows(report):
    return [(v.op, v.placement, v.status) for v in report.verdicts]


T, F = "target", "fallback"


def test_fully_mapped_with_uint8_io():
    report = predict(int8(cnn(), io=tf.uint8))
    assert rows(report) == [
        ("QUANTIZE", T, O.MAPPED),
        ("CONV_2D", T, O.MAPPED),
        ("CONV_2D", T, O.MAPPED),
        ("MEAN", T, O.MAPPED),
        ("FULLY_CONNECTED", T, O.MAPPED),
        ("QUANTIZE", T, O.MAPPED),
    ]
    assert report.counts() == {"target": 6}
    assert report.notes[0].startswith("predicted: 6 of 6 ops on the Edge TPU, 0 on the CPU, 1 Edge TPU segment(s)")


def test_unsupported_op_at_start_sends_everything_to_cpu():
    report = predict(int8(cnn("start")))
    assert rows(report) == [
        ("LEAKY_RELU", F, O.NOT_SUPPORTED),
        ("CONV_2D", F, O.AFTER_PARTITION),
        ("CONV_2D", F, O.AFTER_PARTITION),
        ("MEAN", F, O.AFTER_PARTITION),
        ("FULLY_CONNECTED", F, O.AFTER_PARTITION),
    ]
    assert report.verdicts[0].reasons == ["LEAKY_RELU is not in the Edge TPU's supported operations"]
    assert "after LEAKY_RELU (op 0)" in report.verdicts[1].reasons[0]
    assert report.counts().get("target", 0) == 0  # --preflight-only exits 3 on this


def test_unsupported_op_in_middle_ends_the_segment():
    model = int8(cnn("middle"))
    report = predict(model)
    assert rows(report) == [
        ("CONV_2D", T, O.MAPPED),
        ("LEAKY_RELU", F, O.NOT_SUPPORTED),
        ("CONV_2D", F, O.AFTER_PARTITION),
        ("MEAN", F, O.AFTER_PARTITION),
        ("FULLY_CONNECTED", F, O.AFTER_PARTITION),
    ]
    assert any(
        "ends at LEAKY_RELU (op 1)" in n and "3 supported op(s) after it run on the CPU" in n for n in report.notes
    )
    # with -a the supported ops after the CPU op map again, to a second Edge TPU subgraph
    multi = predict(model, multiple_subgraphs=True)
    assert [v.placement for v in multi.verdicts] == [T, F, T, T, T]
    assert "2 Edge TPU segment(s)" in multi.notes[0]


def test_unsupported_op_at_end():
    report = predict(int8(cnn("end")))
    assert rows(report) == [
        ("CONV_2D", T, O.MAPPED),
        ("CONV_2D", T, O.MAPPED),
        ("MEAN", T, O.MAPPED),
        ("FULLY_CONNECTED", T, O.MAPPED),
        ("LEAKY_RELU", F, O.NOT_SUPPORTED),
    ]


def test_dynamic_batch_is_rejected_as_a_whole():
    report = predict(int8(cnn(batch=None)))
    assert {v.placement for v in report.verdicts} == {"unsupported"}
    assert {v.status for v in report.verdicts} == {O.MODEL_REJECTED}
    assert "has a dynamic dimension (shape signature [-1, 8, 8, 3])" in report.verdicts[0].reasons[0]
    assert "fixed batch size of 1" in report.notes[0]


def test_five_d_tensor_exceeds_three_innermost_dims():
    inp = keras.Input((2, 4, 4, 3), batch_size=1)
    x = L.Reshape((2, 4, 12))(inp * 2.0 + 1.0)
    model = int8(keras.Model(inp, L.Dense(3)(L.Flatten()(x))))
    report = predict(model)
    assert rows(report) == [
        ("MUL", F, O.UNSUPPORTED_RANK),
        ("ADD", F, O.UNSUPPORTED_RANK),
        ("RESHAPE", F, O.UNSUPPORTED_RANK),
        ("FULLY_CONNECTED", F, O.AFTER_PARTITION),
    ]
    assert "has shape [1, 2, 4, 4, 3]: only the 3 innermost dims may exceed 1" in report.verdicts[0].reasons[0]


def test_conv_needs_same_dilation_in_x_and_y():
    inp = keras.Input((8, 8, 6), batch_size=1)
    report = predict(int8(keras.Model(inp, L.Conv2D(6, 3, padding="same", dilation_rate=(1, 2))(inp))))
    conv = next(v for v in report.verdicts if v.op == "CONV_2D")
    assert (conv.placement, conv.status) == (F, O.UNSPECIFIED)
    assert conv.reasons == ["dilation differs in x and y (2 vs 1)"]


def test_rules_read_constant_inputs():
    inp = keras.Input((8, 8, 6), batch_size=1)
    x = keras.ops.mean(inp, axis=-1, keepdims=True)
    y = x[:, ::2, :, :]
    report = predict(int8(keras.Model(inp, y)))
    assert rows(report)[0] == ("MEAN", F, O.UNSPECIFIED)
    assert report.verdicts[0].reasons == ["z-reduction over 6 channels (not a multiple of 4)"]
    inp = keras.Input((8, 8, 4), batch_size=1)
    report = predict(int8(keras.Model(inp, inp[:, ::2, :, :] * 1.5)))
    assert rows(report)[0] == ("STRIDED_SLICE", F, O.STRIDED_SLICE_STRIDES)
    assert report.verdicts[0].reasons == ["strides [1, 2, 1, 1] are not all 1"]


def test_runtime_version_limits_mapping():
    inp = keras.Input((4, 6), batch_size=1)
    model = int8(keras.Model(inp, L.Dense(6)(keras.ops.transpose(inp, (0, 2, 1)))))
    assert rows(predict(model))[0] == ("TRANSPOSE", T, O.MAPPED)
    old = predict(model, runtime=13)
    assert rows(old)[0] == ("TRANSPOSE", F, O.NOT_SUPPORTED)
    assert old.verdicts[0].reasons == ["TRANSPOSE needs Edge TPU runtime 14+ (targeting 13)"]


def test_intermediate_tensors_keep_downstream_ops_on_cpu():
    model = int8(cnn())
    first_out = model.ops[0].outputs[0].name
    report = predict(model, intermediate_tensors=[first_out])
    assert [v.placement for v in report.verdicts] == [T, F, F, F]


def test_table_reads_like_the_compiler():
    text = format_table(predict(int8(cnn("end"))), reasons=False)
    assert text.splitlines()[0] == "Operator                       Count      Status"
    assert "CONV_2D                        2          Mapped to Edge TPU" in text.splitlines()
    parsed = parse("Edge TPU Compiler version 16.0.384591198\n" + text)  # the compiler's own parser reads it
    assert [(r.operator, r.count) for r in parsed.table] == [
        ("CONV_2D", 2),
        ("MEAN", 1),
        ("FULLY_CONNECTED", 1),
        ("LEAKY_RELU", 1),
    ]


def test_compare_reports_each_disagreement():
    report = predict(int8(cnn("end")))
    log = parse(
        "Edge TPU Compiler version 16.0.384591198\nOperator                       Count      Status\n"
        f"CONV_2D                        2          {O.MAPPED}\nMEAN                           1          "
        f"{O.MAPPED}\nFULLY_CONNECTED                1          {O.UNSPECIFIED}\n"
        f"LEAKY_RELU                     1          {O.NOT_SUPPORTED}\n"
    )
    got = compare(report, log)
    assert got["basis"] == "operator table" and got["agree"] is False
    assert got["differences"] == [
        {
            "operator": "FULLY_CONNECTED",
            "predicted": {"tpu": 1, "cpu": 0},
            "compiler": {"tpu": 0, "cpu": 1},
            "compiler_status": [O.UNSPECIFIED],
        }
    ]


def test_backend_recipe_io_and_missing_data():
    backend = registry().get("edgetpu")
    assert isinstance(backend, EdgeTpuBackend)
    recipe, reasons = backend.choose_recipe(None, BuildOptions(model=Path("m.keras"), data="random:4"))
    assert (recipe.name, recipe.io_dtype) == ("int8-only", "uint8")
    assert any("uint8 (default)" in r for r in reasons)
    recipe, _ = backend.choose_recipe(None, BuildOptions(model=Path("m"), data="d.npz", io_dtype="int8"))
    assert recipe.io_dtype == "int8"
    with pytest.raises(UsageError):
        backend.choose_recipe(None, BuildOptions(model=Path("m"), data="d.npz", io_dtype="float32"))
    with pytest.raises(UsageError):
        backend.choose_recipe(None, BuildOptions(model=Path("m"), data="d.npz", recipe="dynamic-int8"))
    with pytest.raises(InputError) as exc:
        backend.choose_recipe(None, BuildOptions(model=Path("m")))
    assert exc.value.exit_code == 2
    assert "the Edge TPU needs representative data" in exc.value.message and "--data" in exc.value.hint


def test_backend_check_uses_the_build_options():
    backend = registry().get("edgetpu")
    model = int8(cnn("middle"))
    assert backend.check(model, CheckRequest()).counts() == {"target": 1, "fallback": 4}
    opts = BuildOptions(model=Path("m"), data="d.npz", backend_options={"enable_multiple_subgraphs": True})
    assert backend.check(model, CheckRequest.of(opts)).counts() == {"target": 4, "fallback": 1}


def test_op_table_documents_rules_from_docstrings():
    table = EdgeTpuBackend().op_table()
    assert table["generic"][0].startswith("Every activation tensor is 8-bit quantized")
    conv = next(r for r in table["ops"] if r["op"] == "CONV_2D")
    assert conv["constraints"] == ["Convolutions use the same dilation in x and y."]
    assert conv["dtypes"] == ["int8", "uint8"]
    assert "LEAKY_RELU" not in {r["op"] for r in table["ops"]}
