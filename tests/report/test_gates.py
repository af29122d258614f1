"""Gates on build reports: one line per failed gate, exit code 5; `hwquant check` on saved reports."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from hwquant.cli.main import main
from hwquant.common.errors import GateError
from hwquant.report.gates import Gates, check, enforce, parse_bytes

REPORT = {
    "target": "mcu",
    "size_bytes": {"artifact": 5000},
    "mcu": {"tensor_arena": {"bytes": 3104}},
    "fidelity": {"outputs": {"output_0": {"snr_db": 25.0, "top1_agreement": 0.9}}},
    "latency_ms": {"mean": 0.5},
}


def test_parse_bytes():
    assert parse_bytes("244KiB") == 244 * 1024 and parse_bytes("1.5MB") == 1_500_000 and parse_bytes("12") == 12


def test_each_failed_gate_gives_one_line():
    fails = check(REPORT, Gates.of(max_size="4KB", max_arena=3000, min_snr=30, min_agreement=0.95, max_latency_ms=0.1))
    assert sorted(f.split(":")[1].strip() for f in fails) == [
        "max-arena",
        "max-latency-ms",
        "max-size",
        "min-agreement",
        "min-snr",
    ]
    assert check(REPORT, Gates.of(max_size="5KB", max_arena=4096, min_snr=20, min_agreement=0.9)) == []


def test_missing_measure_fails_not_passes():
    fails = check({"target": "cpu", "size_bytes": {"artifact": 1}, "fidelity": {"outputs": {}}}, Gates.of(max_arena=1))
    assert fails == ["cpu: max-arena: this target reports no tensor arena (mcu and ethos-u do)"]
    with pytest.raises(GateError) as exc:
        enforce([REPORT], Gates.of(min_snr=40))
    assert exc.value.exit_code == 5 and "output_0 has SNR 25.0 dB" in exc.value.message


def test_check_command_on_report_dir(tmp_path):
    (tmp_path / "mcu").mkdir()
    (tmp_path / "mcu" / "report.json").write_text(json.dumps(REPORT))
    runner = CliRunner()
    ok = runner.invoke(main, ["check", str(tmp_path), "--max-size", "10KB", "--min-snr", "20"])
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(main, ["check", str(tmp_path / "mcu" / "report.json"), "--max-arena", "1KiB"])
    assert bad.exit_code == 5
    assert "mcu: max-arena: tensor arena is 3104 bytes, limit 1024" in bad.output


def test_latency_gate_measures_the_artifact_on_this_host(keras_model, tmp_path):
    import json

    from click.testing import CliRunner

    from hwquant.cli.main import main

    args = ["build", str(keras_model), "--no-cache", "-o", str(tmp_path), "--max-latency-ms"]
    ok = CliRunner().invoke(main, [*args, "10000"])
    assert ok.exit_code == 0, ok.output
    lat = json.loads((tmp_path / "cpu" / "report.json").read_text())["latency_ms"]
    assert lat["runs"] == 20 and 0 < lat["median"] <= lat["mean"] * 10
    slow = CliRunner().invoke(main, [*args, "0.000001"])
    assert slow.exit_code == 5 and "max-latency-ms" in slow.output


# -- gates that cannot pass on nothing (issue 11, item 5) and reports of the wrong shape (item 9) ----------
def _nan_fidelity():
    """What verify writes for an artifact whose outputs hold NaN (metrics + strict-JSON conversion)."""
    import numpy as np

    from hwquant.device import metrics

    ref = np.tile(np.array([[0.1, 0.9, 0.0]], np.float32), (4, 1))
    got = ref.copy()
    got[1, 1] = np.nan
    return metrics.json_safe({"outputs": {"probs": metrics.compare_output(ref, got)}, "samples": 4})


def test_nan_outputs_fail_snr_and_agreement_gates():
    fid = _nan_fidelity()
    m = fid["outputs"]["probs"]
    assert m["snr_db"] is None and m["max_abs_error"] is None and m["top1_agreement"] is None
    fails = check({"target": "cpu", "fidelity": fid}, Gates.of(min_snr=10, min_agreement=0.5))
    assert [f.split(":")[1].strip() for f in fails] == ["min-snr", "min-agreement"], fails
    assert "no finite SNR" in fails[0] and "no finite top-1 agreement" in fails[1]


def test_identical_outputs_pass_the_snr_gate():
    import numpy as np

    from hwquant.device import metrics

    ref = np.ones((3, 4), np.float32)
    fid = metrics.json_safe({"outputs": {"y": metrics.compare_output(ref, ref.copy())}})
    assert fid["outputs"]["y"]["snr_db"] is None  # +inf in strict JSON
    assert check({"target": "cpu", "fidelity": fid}, Gates.of(min_snr=200)) == []


@pytest.mark.parametrize("measure", [float("nan"), float("inf"), None])
def test_non_finite_or_missing_measures_fail(measure):
    report = {
        "target": "mcu",
        "size_bytes": {"artifact": measure},
        "mcu": {"tensor_arena": {"bytes": measure}},
        "latency_ms": {"mean": measure},
        "fidelity": {"outputs": {"y": {"snr_db": measure, "max_abs_error": measure, "top1_agreement": measure}}},
    }
    fails = check(
        report, Gates.of(max_size=10**9, max_arena=10**9, min_snr=-1000, min_agreement=0, max_latency_ms=10**9)
    )
    assert sorted(f.split(":")[1].strip() for f in fails) == [
        "max-arena",
        "max-latency-ms",
        "max-size",
        "min-agreement",
        "min-snr",
    ], fails


def test_summary_renders_null_and_non_finite_measures(tmp_path):
    import io

    from rich.console import Console

    from hwquant.report.result import BuildResult, render

    report = {
        "target": "cpu",
        "recipe": {
            "name": "int8-only",
            "reasons": [],
            "fields": {"weights": "int8", "activations": "int8", "io_dtype": "int8"},
        },
        "ops": {"table": []},
        "size_bytes": {"float32_tflite": 10, "artifact": 5, "original": 20, "ratio_to_float32": 0.5},
        "verify": {"samples": 4, "eval_source": "held out"},
        "fidelity": _nan_fidelity(),
        "timings_s": {"load": 0.1},
        "artifacts": ["model.tflite"],
    }
    report["fidelity"]["outputs"]["inf"] = {
        "max_abs_error": float("inf"),
        "mean_abs_error": float("nan"),
        "snr_db": float("-inf"),
        "cosine": None,
        "accuracy": {"float": None, "quantized": 0.5},
    }
    buf = io.StringIO()
    render(BuildResult(report, tmp_path), Console(file=buf, width=200))
    rows = [line for line in buf.getvalue().splitlines() if line.strip().startswith(("probs", "inf"))]
    assert len(rows) == 2 and all("n/a" in r for r in rows), buf.getvalue()


@pytest.mark.parametrize("flag", ["--min-snr", "--min-agreement", "--max-latency-ms"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_gate_limit_is_a_usage_error(tmp_path, flag, value):
    (tmp_path / "report.json").write_text(json.dumps(REPORT))
    res = CliRunner().invoke(main, ["check", str(tmp_path / "report.json"), flag, value])
    assert res.exit_code == 2 and "finite" in res.output, res.output


@pytest.mark.parametrize(
    "doc", [{"models": []}, {"models": [REPORT, 3]}, [], [REPORT], "report", None, 3, {"models": "x"}]
)
def test_check_on_nothing_or_not_a_report_is_bad_input(tmp_path, doc):
    (tmp_path / "r.json").write_text(json.dumps(doc))
    res = CliRunner().invoke(main, ["check", str(tmp_path / "r.json"), "--min-snr", "1"])
    assert res.exit_code == 2, res.output


@pytest.mark.parametrize(
    "path,value",
    [
        (("size_bytes",), "5000"),
        (("size_bytes", "artifact"), "big"),
        (("size_bytes", "artifact"), True),
        (("mcu", "tensor_arena"), 7),
        (("mcu", "tensor_arena", "bytes"), [1]),
        (("latency_ms",), "fast"),
        (("latency_ms", "mean"), {}),
        (("fidelity",), []),
        (("fidelity", "outputs"), [1]),
        (("fidelity", "outputs", "output_0"), 5),
        (("fidelity", "outputs", "output_0", "snr_db"), "25"),
        (("fidelity", "outputs", "output_0", "top1_agreement"), [0.9]),
        (("preflight_only",), "no"),
    ],
)
def test_check_on_wrong_value_types_is_bad_input(tmp_path, path, value):
    import copy

    doc = copy.deepcopy(REPORT)
    node = doc
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    (tmp_path / "r.json").write_text(json.dumps(doc))
    res = CliRunner().invoke(
        main,
        [
            "check",
            str(tmp_path / "r.json"),
            "--max-size",
            "1MB",
            "--max-arena",
            "1MB",
            "--min-snr",
            "1",
            "--min-agreement",
            "0.1",
            "--max-latency-ms",
            "100",
        ],
    )
    assert res.exit_code == 2, res.output
    assert "expected" in res.output and path[-1] in res.output, res.output


def test_negative_or_boolean_size_limit_is_a_usage_error():
    from hwquant.common.errors import UsageError

    for bad in (-1, True):
        with pytest.raises(UsageError):
            parse_bytes(bad)


def test_every_gate_of_the_table_is_a_flag_of_build_check_and_plan_and_a_manifest_key():
    from hwquant.config import manifest
    from hwquant.report.gates import FIDELITY_MEASURES, GATES, no_gate_hint

    for name in ("build", "check", "plan"):
        flags = {o for p in main.commands[name].params for o in p.opts}
        assert {g.flag for g in GATES} <= flags, name
    assert set(manifest.GATES) == {g.key for g in GATES}
    assert all(g.flag in no_gate_hint() for g in GATES)
    assert FIDELITY_MEASURES == ("min_snr", "min_agreement", "min_cosine", "max_accuracy_drop")


def test_a_gate_added_to_a_copy_of_the_table_appears_everywhere():
    import click

    from hwquant.cli.params import gate_options, pop_gates
    from hwquant.config import manifest
    from hwquant.report.gates import GATES, SIZE, Gate, no_gate_hint

    extra = Gate(
        "max-deployed",
        "bytes or a size",
        "max",
        "Fail if the deployed model is larger.",
        "size_bytes.deployed",
        "the report has no deployed size",
        **SIZE,
        measure="size",
        shows="deployed model is {v} bytes",
    )
    table = (*GATES, extra)
    cmd = gate_options(click.command()(lambda **kw: None), table)
    assert "--max-deployed" in {o for p in cmd.params for o in p.opts}
    assert "--max-deployed" not in {o for p in main.commands["check"].params for o in p.opts}  # a copy only
    assert manifest.gate_keys(table)["max_deployed"] == ((str, int), "bytes or a size")
    assert "--max-deployed" in no_gate_hint(table)
    assert pop_gates({"max_deployed": "1KB", "other": 1}, table)["max_deployed"] == "1KB"
    gates = Gates.of(table, max_deployed="1KB")
    assert gates.max_deployed == 1000 and gates.to_dict() == {"max_deployed": 1000}
    report = {"target": "ethos-u", "size_bytes": {"artifact": 900, "deployed": 1200}}
    assert check(report, gates) == ["ethos-u: max-deployed: deployed model is 1200 bytes, limit 1000"]
    with pytest.raises(Exception, match="unknown gate"):
        Gates.of(max_deployed=1)  # not in the shipped table
