"""hwquant.toml: validation errors name file, line and key; `init` writes a loadable starter."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from hwquant.pipeline import manifest
from hwquant.cli.main import main
from hwquant.common.errors import UsageError


def _write(tmp_path, text):
    p = tmp_path / "hwquant.toml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("text, where", [
    ('model = "m.keras"\nseed = "zero"\n[targets.cpu]\n', ":2: seed: expected an integer"),
    ('model = "m.keras"\n[targets.cpu]\nrecipe = "int8-only"\ncolour = 1\n', ":4: targets.cpu.colour: unknown key"),
    ('model = "m.keras"\n\n[targets.mcu]\nproject = 3\n', ":4: targets.mcu.project: expected str"),
    ('model = "m.keras"\n[targets.npu9]\n', ":2: targets.npu9: unknown target"),
    ('model = "m.keras"\n[targets.cpu]\n[gates]\nmin_snr = "high"\n', ":4: gates.min_snr: expected dB"),
])
def test_errors_name_file_line_and_key(tmp_path, text, where):
    p = _write(tmp_path, text)
    with pytest.raises(UsageError) as exc:
        manifest.load(p)
    assert exc.value.message.startswith(str(p)) and where in exc.value.message, exc.value.message


def test_tables_options_and_cli_overrides(tmp_path):
    p = _write(tmp_path, 'model = "m.keras"\ndata = "cal.npz"\nout = "fw"\n[targets.cpu]\n'
               '[targets.m4]\nbackend = "mcu"\nboard = "cortex-m4"\narena-margin = "20%"\n')
    m = manifest.load(p)
    assert m.base.model == tmp_path / "m.keras" and m.base.out == tmp_path / "fw"
    backend, opts = m.targets["m4"]
    assert backend == "mcu" and opts.backend_options == {"board": "cortex-m4", "arena_margin": "20%"}
    base, targets = manifest.with_overrides(m, {"seed": 3}, "m4", {"recipe": "int8-only"}, {"board": "rp2040"})
    assert list(targets) == ["m4"] and base.seed == 3
    assert targets["m4"][1].recipe == "int8-only" and targets["m4"][1].backend_options["board"] == "rp2040"
    with pytest.raises(UsageError, match="no target table"):
        manifest.with_overrides(m, {}, "gpu", {}, {})


def test_init_writes_a_manifest_that_loads(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.keras").write_bytes(b"")
    r = CliRunner().invoke(main, ["init", "m.keras"])
    assert r.exit_code == 0, r.output
    m = manifest.load(tmp_path / "hwquant.toml")
    assert list(m.targets) == ["cpu"] and m.base.model == tmp_path / "m.keras"
    assert CliRunner().invoke(main, ["init", "m.keras"]).exit_code == 2  # exists; --force overwrites


def test_build_without_model_or_manifest_is_usage_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["build"])
    assert r.exit_code == 2 and "hwquant init" in r.output


def test_build_with_no_model_builds_the_manifest_tables(keras_model, tmp_path, monkeypatch):
    import shutil

    import numpy as np

    import models

    monkeypatch.chdir(tmp_path)
    shutil.copy(keras_model, tmp_path / "m.keras")
    np.savez(tmp_path / "cal.npz", image=models.keras_samples(20))
    _write(tmp_path, 'model = "m.keras"\ndata = "cal.npz"\n[targets.cpu]\nrecipe = "dynamic-int8"\n'
           '[targets.cpu-int8]\nbackend = "cpu"\nrecipe = "int8-only"\nio_dtype = "int8"\n[gates]\nmin_snr = 5\n')
    r = CliRunner().invoke(main, ["build", "--no-cache", "--target", "cpu-int8", "--io-dtype", "uint8", "--json"])
    assert r.exit_code == 0, r.output
    assert not (tmp_path / "build" / "cpu").exists()  # --target picked one table
    report = json.loads((tmp_path / "build" / "cpu-int8" / "report.json").read_text())
    assert report["recipe"]["fields"]["io_dtype"] == "uint8" and report["folder"] == "cpu-int8"  # flag overrides
    r = CliRunner().invoke(main, ["build", "--no-cache", "--target", "cpu", "--min-snr", "200"])
    assert r.exit_code == 5 and "min-snr" in r.output
