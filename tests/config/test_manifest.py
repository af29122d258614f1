"""hwquant.toml: validation errors name file, line and key; `init` writes a loadable starter."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from hwquant.cli.main import main
from hwquant.common.errors import UsageError
from hwquant.config import manifest


def _write(tmp_path, text):
    p = tmp_path / "hwquant.toml"
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    "text, where",
    [
        ('model = "m.keras"\nseed = "zero"\n[targets.cpu]\n', ":2: seed: expected an integer"),
        ('model = "m.keras"\n[targets.cpu]\nrecipe = "int8-only"\ncolour = 1\n', ":4: targets.cpu.colour: unknown key"),
        ('model = "m.keras"\n\n[targets.mcu]\nproject = 3\n', ":4: targets.mcu.project: expected str"),
        ('model = "m.keras"\n[targets.npu9]\n', ":2: targets.npu9: unknown target"),
        ('model = "m.keras"\n[targets.cpu]\n[gates]\nmin_snr = "high"\n', ":4: gates.min_snr: expected dB"),
    ],
)
def test_errors_name_file_line_and_key(tmp_path, text, where):
    p = _write(tmp_path, text)
    with pytest.raises(UsageError) as exc:
        manifest.load(p)
    assert exc.value.message.startswith(str(p)) and where in exc.value.message, exc.value.message


def test_tables_options_and_cli_overrides(tmp_path):
    p = _write(
        tmp_path,
        'model = "m.keras"\ndata = "cal.npz"\nout = "fw"\n[targets.cpu]\n'
        '[targets.m4]\nbackend = "mcu"\nboard = "cortex-m4"\narena-margin = "20%"\n',
    )
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

    from tests.helpers import models

    monkeypatch.chdir(tmp_path)
    shutil.copy(keras_model, tmp_path / "m.keras")
    np.savez(tmp_path / "cal.npz", image=models.keras_samples(20))
    _write(
        tmp_path,
        'model = "m.keras"\ndata = "cal.npz"\n[targets.cpu]\nrecipe = "dynamic-int8"\n'
        '[targets.cpu-int8]\nbackend = "cpu"\nrecipe = "int8-only"\nio_dtype = "int8"\n[gates]\nmin_snr = 5\n',
    )
    r = CliRunner().invoke(main, ["build", "--no-cache", "--target", "cpu-int8", "--io-dtype", "uint8", "--json"])
    assert r.exit_code == 0, r.output
    assert not (tmp_path / "build" / "cpu").exists()  # --target picked one table
    report = json.loads((tmp_path / "build" / "cpu-int8" / "report.json").read_text())
    assert report["recipe"]["fields"]["io_dtype"] == "uint8" and report["folder"] == "cpu-int8"  # flag overrides
    r = CliRunner().invoke(main, ["build", "--no-cache", "--target", "cpu", "--min-snr", "200"])
    assert r.exit_code == 5 and "min-snr" in r.output


# -- manifests cannot write outside their output folder (issue 11, item 1) ----------------------------------
def _files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize(
    "name", ["/abs/path", "../evil", ".", "..", "", "a/b", "a\\\\b", ".hidden", "-x", "x" * 101, "tab\\tname", "sp ace"]
)
def test_target_table_names_must_be_plain_folder_names(tmp_path, name):
    (tmp_path / "m.keras").write_bytes(b"")
    p = _write(tmp_path, f'model = "m.keras"\nout = "build"\n\n[targets."{name}"]\nbackend = "cpu"\n')
    before = _files(tmp_path)
    r = CliRunner().invoke(main, ["build", "--manifest", str(p), "--no-cache"])
    assert r.exit_code == 2, r.output
    assert f"{p}:4:" in r.output and "plain folder name" in r.output, r.output
    assert _files(tmp_path) == before  # no .tmp-* and no out folder


def test_a_valid_odd_name_still_loads(tmp_path):
    p = _write(tmp_path, 'model = "m.keras"\n[targets."mcu_m4.v2"]\nbackend = "mcu"\n')
    assert list(manifest.load(p).targets) == ["mcu_m4.v2"]


@pytest.mark.parametrize(
    "out, why",
    [
        ("/", "file-system root"),
        (".", "manifest's own folder"),
        ("", "manifest's own folder"),
        ("..", "holds the input"),
        ("models/..", "manifest's own folder"),
        ("models", "holds the input"),
        ("data", "holds the input"),
    ],
)
def test_out_must_not_be_root_the_manifest_folder_or_hold_inputs(tmp_path, out, why):
    proj = tmp_path / "proj"
    (proj / "models").mkdir(parents=True)
    (proj / "models" / "m.keras").write_bytes(b"")
    (proj / "data").mkdir()
    (proj / "data" / "cal.npz").write_bytes(b"")
    p = _write(proj, f'model = "models/m.keras"\ndata = "data/cal.npz"\nout = "{out}"\n[targets.cpu]\n')
    before = _files(tmp_path)
    r = CliRunner().invoke(main, ["build", "--manifest", str(p), "--no-cache"])
    assert r.exit_code == 2 and f"{p}:3: out:" in r.output and why in r.output, r.output
    assert _files(tmp_path) == before


def test_out_given_on_the_command_line_is_checked_against_the_manifest(tmp_path):
    (tmp_path / "m.keras").write_bytes(b"")
    p = _write(tmp_path, 'model = "m.keras"\n[targets.cpu]\n')
    for out in ("/", str(tmp_path)):
        r = CliRunner().invoke(main, ["build", "--manifest", str(p), "--no-cache", "--out", out])
        assert r.exit_code == 2 and f"--out {out}" in r.output, r.output


@pytest.mark.parametrize("out", ["/", "{model_parent}/.."])
def test_any_build_refuses_root_or_a_target_folder_that_holds_the_model(tmp_path, out):
    model = tmp_path / "cpu" / "m.keras"  # OUT/cpu/ would replace the model's folder
    model.parent.mkdir()
    model.write_bytes(b"")
    before = _files(tmp_path)
    r = CliRunner().invoke(main, ["build", str(model), "--no-cache", "--out", out.format(model_parent=model.parent)])
    assert r.exit_code == 2 and "cannot write the build there" in r.output, r.output
    assert _files(tmp_path) == before


@pytest.mark.parametrize(
    "line", ["min_snr = nan", "min_agreement = inf", "max_latency_ms = -inf", "max_size = -5", 'max_arena = "lots"']
)
def test_gate_values_in_a_manifest_are_checked_with_file_and_line(tmp_path, line):
    p = _write(tmp_path, f'model = "m.keras"\n[targets.cpu]\n\n[gates]\n{line}\n')
    with pytest.raises(UsageError) as exc:
        manifest.load(p)
    assert f"{p}:5: gates.{line.split(' =')[0]}" in exc.value.message, exc.value.message


def test_init_refuses_a_model_that_does_not_exist(tmp_path):
    from click.testing import CliRunner

    from hwquant.cli.main import main

    out = tmp_path / "hwquant.toml"
    r = CliRunner().invoke(main, ["init", str(tmp_path / "missing.keras"), "-o", str(out)])
    assert r.exit_code == 2, r.output
    assert "missing.keras" in r.output and "hwquant init" in r.output
    assert not out.exists()
