"""The edgetpu_compiler log parser against every real published log in ../shared/fixtures/edgetpu.

Each fixture's expected values were read off the fixture text by hand (SOURCES.md says where each
log comes from); every field the parser reports is asserted, and a new fixture without an entry
here fails the completeness test.
"""

from __future__ import annotations

import pytest

from hwquant_backends.edgetpu.compiler_log import parse, size_bytes
from tests.helpers import SHARED_FIXTURES

FIXTURES = SHARED_FIXTURES / "edgetpu"
pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"compiler log fixtures not found at {FIXTURES}")

M = "Mapped to Edge TPU"
U = "Operation is otherwise supported, but not mapped due to some unspecified limitation"
P = "More than one subgraph is not supported"
V = "Operation version not supported"
N = "Operation not supported"
D = "Operation is working on an unsupported data type"
RESTORED = "ERROR: Restored original execution plan after delegate application failure."

ROWS_03 = [
    ("RESHAPE", 1, M),
    ("MAX_POOL_2D", 4, M),
    ("FULLY_CONNECTED", 2, M),
    ("CONV_2D", 4, M),
    ("QUANTIZE", 2, M),
    ("SOFTMAX", 1, M),
]
ROWS_05 = [
    ("RESIZE_NEAREST_NEIGHBOR", 2, M),
    ("CONCATENATION", 1, U),
    ("CONCATENATION", 17, M),
    ("STRIDED_SLICE", 13, M),
    ("TRANSPOSE", 1, U),
    ("TRANSPOSE", 2, M),
    ("MAX_POOL_2D", 3, M),
    ("LOGISTIC", 62, M),
    ("QUANTIZE", 2, U),
    ("QUANTIZE", 24, M),
    ("SUB", 3, M),
    ("PAD", 6, M),
    ("RESHAPE", 1, U),
    ("RESHAPE", 5, M),
    ("ADD", 10, M),
    ("MUL", 80, M),
    ("CONV_2D", 62, M),
]
ROWS_07 = [
    ("MAX_POOL_2D", 6, P),
    ("QUANTIZE", 2, U),
    ("QUANTIZE", 1, M),
    ("QUANTIZE", 1, P),
    ("CONV_2D", 1, M),
    ("CONV_2D", 12, P),
    ("RESIZE_NEAREST_NEIGHBOR", 1, V),
    ("LEAKY_RELU", 11, N),
    ("CONCATENATION", 1, P),
]
ROWS_10 = [
    ("LOGISTIC", 1, P),
    ("ADD", 10, M),
    ("CONCATENATION", 1, P),
    ("CONCATENATION", 3, M),
]
ROWS_22 = [
    ("SOFTMAX", 1, M),
    ("ADD", 8, M),
    ("TRANSPOSE", 6, M),
    ("PAD", 7, M),
    ("LOGISTIC", 58, M),
    ("RESIZE_NEAREST_NEIGHBOR", 2, M),
    ("MUL", 59, M),
    ("CONV_2D", 64, M),
    ("RESHAPE", 6, M),
    ("MAX_POOL_2D", 3, M),
    ("CONCATENATION", 18, M),
    ("SUB", 2, M),
    ("DEQUANTIZE", 1, D),
    ("QUANTIZE", 1, U),
    ("QUANTIZE", 3, M),
    ("STRIDED_SLICE", 20, M),
]


def block(inp, isz, out, osz, used, remaining, off, subgraphs, total, tpu=None, cpu=None, oplog=None, available=None):
    return {
        "input_model": inp,
        "input_size": isz,
        "output_model": out,
        "output_size": osz,
        "on_chip_available": available,
        "on_chip_used": used,
        "on_chip_remaining": remaining,
        "off_chip_streaming": off,
        "subgraphs": subgraphs,
        "total_ops": total,
        "tpu_ops": tpu,
        "cpu_ops": cpu,
        "operation_log": oplog,
    }


V16, V15, V14, V21, V20 = "16.0.384591198", "15.0.340273435", "14.1.317412892", "2.1.302470888", "2.0.291256449"
EXPECTED = {
    "01_full_16.0_no-table_offchip-streaming.log": {
        "version": V16,
        "kind": "console",
        "outcome": "succeeded",
        "compile_ms": 542,
        "timeout_s": 180,
        "timers_started": 1,
        "partial_notice": False,
        "failures": [],
        "errors": [],
        "rows": [],
        "mapping": {"tpu": 50, "cpu": 0, "source": "inferred: compiled with no 'not all operations' notice"},
        "models": [
            block(
                "quantized_model.tflite",
                "4.04MiB",
                "quantized_model_edgetpu.tflite",
                "4.13MiB",
                "604.50KiB",
                "511.50KiB",
                "3.45MiB",
                1,
                50,
                oplog="quantized_model_edgetpu.log",
            )
        ],
    },
    "03_full_14.1_table.log": {
        "version": V14,
        "kind": "console",
        "outcome": "succeeded",
        "compile_ms": 102,
        "timeout_s": None,
        "timers_started": 0,
        "partial_notice": False,
        "failures": [],
        "errors": [],
        "rows": ROWS_03,
        "mapping": {"tpu": 14, "cpu": 0, "source": "operator table"},
        "models": [
            block(
                "model_classifier_CNN.tflite",
                "379.89KiB",
                "model_classifier_CNN_edgetpu.tflite",
                "3.28MiB",
                "3.27MiB",
                "2.84MiB",
                "0.00B",
                1,
                14,
                oplog="model_classifier_CNN_edgetpu.log",
            )
        ],
    },
    "05_partial_16.0_sa_yolov5s_2subgraphs_offchip.log": {
        "version": V16,
        "kind": "console",
        "outcome": "succeeded",
        "compile_ms": 3173,
        "timeout_s": 180,
        "timers_started": 1,
        "partial_notice": True,
        "failures": [],
        "errors": [],
        "rows": ROWS_05,
        "mapping": {"tpu": 289, "cpu": 5, "source": "stated by the compiler"},
        "models": [
            block(
                "yolov5s-int8-224.tflite",
                "7.37MiB",
                "yolov5s-int8-224_edgetpu.tflite",
                "8.34MiB",
                "6.08MiB",
                "0.00B",
                "1.70MiB",
                2,
                294,
                289,
                5,
                oplog="yolov5s-int8-224_edgetpu.log",
            )
        ],
    },
    "07_partial_15.0_yolov3tiny_op-not-supported.log": {
        "version": V15,
        "kind": "console",
        "outcome": "succeeded",
        "compile_ms": 577,
        "timeout_s": None,
        "timers_started": 0,
        "partial_notice": True,
        "failures": [],
        "errors": [],
        "rows": ROWS_07,
        "mapping": {"tpu": 2, "cpu": 34, "source": "stated by the compiler"},
        "models": [
            block(
                "/home/yolo/yolov3-tiny_int8.tflite",
                "8.58MiB",
                "/home/yolo/yolov3-tiny_int8_edgetpu.tflite",
                "8.70MiB",
                "3.00KiB",
                "7.67MiB",
                "0.00B",
                1,
                36,
                2,
                34,
                oplog="/home/yolo/yolov3-tiny_int8_edgetpu.log",
            )
        ],
    },
    "09_partial_14.1_no-table.log": {
        "version": V14,
        "kind": "console",
        "outcome": "succeeded",
        "compile_ms": 113,
        "timeout_s": None,
        "timers_started": 0,
        "partial_notice": True,
        "failures": [],
        "errors": [],
        "rows": [],
        "mapping": {"tpu": 6, "cpu": 18, "source": "stated by the compiler"},
        "models": [
            block(
                "T1_no_summ_02_quant8.tflite",
                "28.19KiB",
                "T1_no_summ_02_quant8_edgetpu.tflite",
                "116.78KiB",
                "60.00KiB",
                "7.96MiB",
                "0.00B",
                1,
                24,
                6,
                18,
                oplog="T1_no_summ_02_quant8_edgetpu.log",
            )
        ],
    },
    "10_partial_2.1_s_table_TRUNCATED.log": {
        "version": V21,
        "kind": "console",
        "outcome": "succeeded",
        "compile_ms": 12264,
        "timeout_s": None,
        "timers_started": 0,
        "partial_notice": True,
        "failures": [],
        "errors": [],
        "rows": ROWS_10,
        "mapping": {"tpu": 83, "cpu": 10, "source": "stated by the compiler"},
        "models": [
            block(
                "model2.tflite",
                "8.11MiB",
                "model2_edgetpu.tflite",
                "9.47MiB",
                "6.86MiB",
                "7.75KiB",
                "1.22MiB",
                1,
                93,
                83,
                10,
                oplog="model2_edgetpu.log",
            )
        ],
    },
    "12_n-segments_16.0_n2_seg1-fails_TRUNCATED.log": {
        "version": V16,
        "kind": "console",
        "outcome": "incomplete",
        "compile_ms": 1857,
        "timeout_s": 180,
        "timers_started": 2,
        "partial_notice": False,
        "failures": [],
        "errors": [RESTORED],
        "rows": [],
        "mapping": {"tpu": None, "cpu": None, "source": "not stated"},
        "models": [
            block(
                "efficientdet_lite3_512_ptq_segment_0_of_2.tflite",
                "5.20MiB",
                "efficientdet_lite3_512_ptq_segment_0_of_2_edgetpu.tflite",
                "6.51MiB",
                "6.02MiB",
                "1.02MiB",
                "0.00B",
                1,
                84,
                oplog="efficientdet_lite3_512_ptq_segment_0_of_2_edgetpu.log",
            )
        ],
    },
    "13_fail_2.0_internal-compiler-error.log": {
        "version": V20,
        "kind": "console",
        "outcome": "failed",
        "compile_ms": None,
        "timeout_s": None,
        "timers_started": 0,
        "partial_notice": False,
        "failures": ["Internal compiler error. Aborting!"],
        "errors": [],
        "rows": [],
        "mapping": {"tpu": None, "cpu": None, "source": "not stated"},
        "models": [],
    },
    "15_fail_14.1_model-not-quantized.log": {
        "version": V14,
        "kind": "console",
        "outcome": "failed",
        "compile_ms": None,
        "timeout_s": None,
        "timers_started": 0,
        "partial_notice": False,
        "failures": ["Invalid model: my_mnist_quant.tflite", "Model not quantized"],
        "errors": [],
        "rows": [],
        "mapping": {"tpu": None, "cpu": None, "source": "not stated"},
        "models": [],
    },
    "16_fail_16.0_didnt-find-op-version.log": {
        "version": V16,
        "kind": "console",
        "outcome": "failed",
        "compile_ms": None,
        "timeout_s": None,
        "timers_started": 0,
        "partial_notice": False,
        "failures": ["Invalid model: model_full_integer_quant.tflite", "Model could not be parsed"],
        "errors": [
            (
                "ERROR: Didn't find op for builtin opcode 'TRANSPOSE_CONV' version '4'. An older version of this "
                "builtin might be supported. Are you using an old TFLite binary with a newer model?"
            ),
            "ERROR: Registration failed.",
        ],
        "rows": [],
        "mapping": {"tpu": None, "cpu": None, "source": "not stated"},
        "models": [],
    },
    "18_fail_16.0_sa_large-activation-tensors.log": {
        "version": V16,
        "kind": "console",
        "outcome": "failed",
        "compile_ms": None,
        "timeout_s": 180,
        "timers_started": 1,
        "partial_notice": False,
        "errors": [RESTORED],
        "rows": [],
        "failures": [
            "Compilation failed: Compilation failed due to large activation tensors in model.",
            "Compilation failed!",
        ],
        "mapping": {"tpu": None, "cpu": None, "source": "not stated"},
        "models": [],
    },
    "20_fail_16.0_dynamic-sized-tensors.log": {
        "version": V16,
        "kind": "console",
        "outcome": "failed",
        "compile_ms": None,
        "timeout_s": 180,
        "timers_started": 1,
        "partial_notice": False,
        "rows": [],
        "failures": [
            (
                "Compilation failed: Model failed in Tflite interpreter. Please ensure model can be loaded/run in "
                "Tflite interpreter."
            ),
            "Compilation failed!",
        ],
        "errors": [
            (
                "ERROR: Attempting to use a delegate that only supports static-sized tensors with a graph that has "
                "dynamic-sized tensors."
            )
        ],
        "mapping": {"tpu": None, "cpu": None, "source": "not stated"},
        "models": [],
    },
    "22_oplog-file_16.0_yolov8s_partial.log": {
        "version": V16,
        "kind": "oplog",
        "outcome": "unknown",
        "compile_ms": None,
        "timeout_s": None,
        "timers_started": 0,
        "partial_notice": False,
        "failures": [],
        "errors": [],
        "rows": ROWS_22,
        "mapping": {"tpu": 257, "cpu": 2, "source": "operator table"},
        "models": [
            block(
                "yolov8s_integer_quant.tflite",
                None,
                "yolov8s_integer_quant_edgetpu.tflite",
                None,
                None,
                None,
                None,
                None,
                None,
            )
        ],
    },
}


def _fixture_logs() -> list[str]:
    return sorted(p.name for p in FIXTURES.glob("*.log")) if FIXTURES.is_dir() else []


def test_every_fixture_has_expectations():
    assert _fixture_logs(), "no .log fixtures found"
    assert set(_fixture_logs()) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_parse_fixture(name):
    want = EXPECTED[name]
    log = parse((FIXTURES / name).read_text())
    for field in (
        "version",
        "kind",
        "outcome",
        "compile_ms",
        "timeout_s",
        "timers_started",
        "partial_notice",
        "failures",
        "errors",
    ):
        assert getattr(log, field) == want[field], field
    assert [(r.operator, r.count, r.status) for r in log.table] == want["rows"]
    assert log.mapping() == want["mapping"]
    assert [vars(m) for m in log.models] == want["models"]
    assert log.succeeded is (want["outcome"] == "succeeded")


@pytest.mark.parametrize(
    "name", ["05_partial_16.0_sa_yolov5s_2subgraphs_offchip.log", "07_partial_15.0_yolov3tiny_op-not-supported.log"]
)
def test_table_agrees_with_stated_totals(name):
    """Where the compiler printed both, its table rows add up to its stated op counts."""
    log = parse((FIXTURES / name).read_text())
    b = log.models[0]
    assert sum(r.count for r in log.table) == b.total_ops == b.tpu_ops + b.cpu_ops
    assert sum(r.count for r in log.table if r.status == M) == b.tpu_ops


def test_report_dict_carries_sizes_in_bytes():
    d = parse((FIXTURES / "01_full_16.0_no-table_offchip-streaming.log").read_text()).to_dict()
    assert d["on_chip_memory_used_bytes"] == 619008  # 604.50 KiB
    assert d["on_chip_memory_remaining_bytes"] == 523776  # 511.50 KiB
    assert d["off_chip_streaming_bytes"] == round(3.45 * 1024**2)
    assert d["edgetpu_subgraphs"] == 1 and d["total_ops"] == 50
    assert d["models"][0]["input_size_bytes"] == round(4.04 * 1024**2)


def test_failure_message_quotes_the_compiler():
    log = parse((FIXTURES / "16_fail_16.0_didnt-find-op-version.log").read_text())
    assert log.message().startswith(
        "Invalid model: model_full_integer_quant.tflite; Model could not be parsed; "
        "ERROR: Didn't find op for builtin opcode 'TRANSPOSE_CONV'"
    )


def test_size_bytes():
    assert size_bytes("0.00B") == 0
    assert size_bytes("7.75KiB") == 7936
    assert size_bytes("1.5GiB") == 1610612736
    assert size_bytes("n/a") is None and size_bytes(None) is None


def test_unknown_status_kept_verbatim():
    text = (
        "Edge TPU Compiler version 16.0.384591198\n\nOperator                       Count      Status\n\n"
        "GELU                           3          Some future status, with punctuation!\n"
    )
    assert [(r.operator, r.count, r.status) for r in parse(text).table] == [
        ("GELU", 3, "Some future status, with punctuation!")
    ]


def test_co_compiled_models_give_one_block_each():
    """Co-compilation prints one result block per model (no published log: format assumed from -n logs)."""
    one = (
        "Input model: {0}.tflite\nInput size: 1.00KiB\nOutput model: {0}_edgetpu.tflite\nOutput size: 2.00KiB\n"
        "Number of Edge TPU subgraphs: 1\nTotal number of operations: 3\n"
    )
    text = (
        "Edge TPU Compiler version 16.0.384591198\nModels compiled successfully in 10 ms.\n\n"
        + one.format("a")
        + "\n"
        + one.format("b")
    )
    log = parse(text)
    assert [m.input_model for m in log.models] == ["a.tflite", "b.tflite"]
    assert log.outcome == "succeeded" and log.compile_ms == 10
