"""Gates on build reports: one line per failed gate, exit code 5; `hwquant check` on saved reports."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from hwquant.cli.main import main
from hwquant.common.errors import GateError
from hwquant.pipeline.gates import Gates, check, enforce, parse_bytes

REPORT = {"target": "mcu", "size_bytes": {"artifact": 5000}, "mcu": {"tensor_arena": {"bytes": 3104}},
          "fidelity": {"outputs": {"output_0": {"snr_db": 25.0, "top1_agreement": 0.9}}}, "latency_ms": {"mean": 0.5}}


def test_parse_bytes():
    assert parse_bytes("244KiB") == 244 * 1024 and parse_bytes("1.5MB") == 1_500_000 and parse_bytes("12") == 12


def test_each_failed_gate_gives_one_line():
    fails = check(REPORT, Gates.of(max_size="4KB", max_arena=3000, min_snr=30, min_agreement=0.95, max_latency_ms=0.1))
    assert sorted(f.split(":")[1].strip() for f in fails) == ["max-arena", "max-latency-ms", "max-size",
                                                               "min-agreement", "min-snr"]
    assert check(REPORT, Gates.of(max_size="5KB", max_arena=4096, min_snr=20, min_agreement=0.9)) == []


def test_missing_measure_fails_not_passes():
    fails = check({"target": "cpu", "size_bytes": {"artifact": 1}, "fidelity": {"outputs": {}}}, Gates.of(max_arena=1))
    assert fails == ["cpu: max-arena: this target measures no tensor arena (only mcu does)"]
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
