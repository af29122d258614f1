"""The verdict block (issue 18, item 5): on stdout, headed by the manifest table name, the same on a
cache hit; every budget measure with its interval, limit and verdict. The real converter and LiteRT
on the bundled digits classifier."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from hwquant.cli.main import main
from hwquant.report import verdict


def _lines(output: str) -> list[str]:
    start = next(i for i, line in enumerate(output.splitlines()) if line.startswith("verdict "))
    return output.splitlines()[start:]


def test_block_reads_only_the_report():
    rep = {
        "target": "mcu",
        "folder": "m4",
        "recipe": {"name": "int8-only", "label": "int8-only", "fields": {"io_dtype": "int8", "activations": "int8"}},
        "quantized": {"quantized_fraction": 0.98, "float_ops": ["NEG", "QUANTIZE"]},
        "budget": {"source": "default", "applied": True},
        "fidelity": {
            "outputs": {
                "probs": {
                    "kind": "probabilities",
                    "measures": {
                        "top1_agreement": {
                            "value": 0.975,
                            "samples": 40,
                            "low": 0.871,
                            "high": 0.996,
                            "limit": 0.98,
                            "verdict": "undecided",
                            "samples_to_decide": 2400,
                        },
                        "snr_db": {"value": 30.0, "samples": 40, "low": 28, "high": 32, "limit": None},
                    },
                }
            }
        },
        "measures": {"tensor_arena_bytes": 6416, "flash_bytes": 99717, "ram_bytes": 18336},
        "mcu": {
            "footprint": {
                "board": {"name": "nrf52840"},
                "fits": True,
                "flash": {"total_bytes": 99717, "budget_bytes": 1048576},
                "ram": {"total_bytes": 18336, "budget_bytes": 262144},
            }
        },
        "artifacts": ["model.tflite", "report.json"],
        "cache": {"hit": True, "key": "k"},
    }
    lines = verdict.block(rep)
    assert lines[0] == "verdict m4 (mcu): int8-only, IO int8 (cached build)"
    assert "  quantized: 98 % of weight bytes; 2 float ops remain: NEG, QUANTIZE (float32)" in lines
    (agree,) = [x for x in lines if "top-1 agreement" in x]
    assert "0.975 [0.871, 0.996] on 40 samples, limit 0.98: undecided (about 2400 eval samples" in agree
    assert not any("SNR" in x for x in lines)  # not read by this budget
    assert "  arena 6416 B, flash 99717 B, RAM 18336 B" in lines
    assert any(x.startswith("  board nrf52840: fits yes; flash 99717 of 1048576 B (margin 948859 B)") for x in lines)
    assert verdict.block({**rep, "preflight_only": True}) == []


@pytest.mark.slow
def test_a_cached_build_prints_the_same_verdict_on_stdout_headed_by_the_table(repo_root, tmp_path, monkeypatch):
    ex = repo_root / "examples" / "digits"
    with np.load(ex / "eval.npz") as z:
        np.savez(tmp_path / "eval40.npz", **{k: z[k][:40] for k in z.files})
    (tmp_path / "hwquant.toml").write_text(
        f'model = "{ex / "model.keras"}"\ndata = "{ex / "calibration.npz"}"\n'
        f'eval_data = "{tmp_path / "eval40.npz"}"\n[targets.fast]\nbackend = "cpu"\n'
    )
    monkeypatch.chdir(tmp_path)
    runner = CliRunner(mix_stderr=False) if "mix_stderr" in CliRunner.__init__.__code__.co_varnames else CliRunner()
    args = ["build", "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache")]
    first = runner.invoke(main, args)
    assert first.exit_code == 0, first.output
    second = runner.invoke(main, args)
    assert second.exit_code == 0, second.output
    a, b = _lines(first.stdout), _lines(second.stdout)
    assert a[0].startswith("verdict fast (cpu): ") and b[0] == a[0] + " (cached build)"
    assert [x for x in a if "agreement" in x] == [x for x in b if "agreement" in x]
    assert any("top-1 agreement" in x and "on 40 samples, limit 0.98" in x for x in a)
    rep = json.loads((tmp_path / "out" / "fast" / "report.json").read_text())
    assert rep["cache"]["hit"] is True


def test_the_layer_table_prints_whole_tensor_names():
    from hwquant.choice import search

    name = "functional_1_1/narrow_1/MatMul;functional_1_1/narrow_1/Relu;functional_1_1/narrow_1/BiasAdd"
    row = {"tensor": name, "op": "FULLY_CONNECTED", "channel_snr_db": -5.0, "range": [0.0, 1e6]}
    lines = search.table_lines([row], int16_possible=False)
    assert lines[0].endswith(name)  # --float-layer needs the name exactly


def test_block_lists_the_ops_that_fall_back_off_the_accelerator():
    row = {"count": 1, "reasons": []}
    ops = [
        {
            **row,
            "operator": "FULLY_CONNECTED",
            "dtype": "int8",
            "count": 2,
            "status": "NPU (Vela)",
            "placement": "target",
        },
        {**row, "operator": "NEG", "dtype": "float32", "status": "CPU (TFLM)", "placement": "fallback"},
        {**row, "operator": "QUANTIZE", "dtype": "float32", "status": "CPU (TFLM)", "placement": "fallback"},
        {**row, "operator": "MUL", "dtype": "int8", "count": 3, "status": "CPU (TFLM)", "placement": "fallback"},
    ]
    rep = {"target": "ethos-u", "recipe": {"name": "int8-only", "fields": {}}, "ops": {"table": ops}}
    assert "  5 ops fall back to the Cortex-M (TFLM): NEG (float32), QUANTIZE (float32), MUL (int8) x3" in (
        verdict.block(rep)
    )
    alone = {**rep, "target": "edgetpu", "ops": {"table": ops[1:2]}}
    assert "  1 op falls back to the host CPU: NEG (float32)" in verdict.block(alone)
    assert not [x for x in verdict.block({**rep, "ops": {"table": ops[:1]}}) if "fall" in x]
