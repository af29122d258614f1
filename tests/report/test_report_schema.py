"""report.json's type and its published schema: the shipped schema is the generated one; reports read
through the type; wrong types, out-of-range measures and unknown versions are bad input (exit 2)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from hwquant.cli.main import main
from hwquant.report import schema
from hwquant.report.gates import Gates, check

V2 = {
    "schema_version": 2,
    "target": "mcu",
    "size_bytes": {"original": 9000, "float32_tflite": 8000, "artifact": 5000, "ratio_to_float32": 0.625},
    "measures": {"tensor_arena_bytes": 3104, "flash_bytes": 80000, "ram_bytes": 14000},
    "fidelity": {"outputs": {"output_0": {"snr_db": 25.0, "top1_agreement": 0.9, "cosine": 0.99}}},
    "latency_ms": {"mean": 0.5},
    "mcu": {"tensor_arena": {"bytes": 1}},  # a backend section: never read by a gate
}


def test_shipped_schema_is_the_generated_one():
    assert schema.shipped() == schema.generate(), "run `python -m hwquant.report.schema` and commit the file"


def test_schema_is_valid_2020_12_and_declares_the_measures():
    jsonschema = pytest.importorskip("jsonschema")
    s = schema.shipped()
    jsonschema.Draft202012Validator.check_schema(s)
    assert s["$schema"].endswith("2020-12/schema")
    assert s["properties"]["schema_version"]["enum"] == [schema.SCHEMA_VERSION] == [2]
    measures = s["$defs"]["Measures"]["properties"]
    assert {"tensor_arena_bytes", "flash_bytes", "ram_bytes", "estimated_inferences_per_second"} <= set(measures)


def test_gates_read_the_typed_measures_not_backend_keys():
    assert check(V2, Gates.of(max_arena=3104)) == []
    assert check(V2, Gates.of(max_arena=3000)) == ["mcu: max-arena: tensor arena is 3104 bytes, limit 3000"]


def test_version_1_reports_are_upgraded_from_the_targets_own_section():
    v1 = {"schema_version": 1, "target": "ethos-u", "ethos-u": {"tensor_arena": {"bytes": 10}, "estimates": {}}}
    v1["ethos-u"]["estimates"]["inferences_per_second"] = 50.0
    up = schema.upgrade(v1)
    assert up["measures"] == {"tensor_arena_bytes": 10, "estimated_inferences_per_second": 50.0}
    other = {"target": "cpu", "mcu": {"tensor_arena": {"bytes": 10}}}  # another target's section: not read
    assert "measures" not in schema.upgrade(other)


def _check(tmp_path, doc, *gates):
    (tmp_path / "r.json").write_text(json.dumps(doc))
    return CliRunner().invoke(main, ["check", str(tmp_path / "r.json"), *(gates or ("--max-size", "1MB"))])


@pytest.mark.parametrize(
    "section,key,value",
    [
        ("measures", "tensor_arena_bytes", "3104"),
        ("measures", "estimated_inferences_per_second", [1.0]),
        ("measures", "flash_bytes", True),
        ("measures", "tensor_arena_bytes", -1),
        ("size_bytes", "artifact", -5),
        ("latency_ms", "mean", -0.1),
    ],
)
def test_check_wrong_type_or_range_in_a_measure_is_exit_2(tmp_path, section, key, value):
    doc = json.loads(json.dumps(V2))
    doc[section][key] = value
    res = _check(tmp_path, doc)
    assert res.exit_code == 2, res.output
    assert f"{section}.{key}" in res.output, res.output


@pytest.mark.parametrize(
    "key,value", [("top1_agreement", 1.5), ("top1_agreement", -0.1), ("cosine", 1.2), ("cosine", -2.0)]
)
def test_check_out_of_range_fidelity_is_exit_2(tmp_path, key, value):
    doc = json.loads(json.dumps(V2))
    doc["fidelity"]["outputs"]["output_0"][key] = value
    res = _check(tmp_path, doc, "--min-snr", "1")
    assert res.exit_code == 2 and f"output_0.{key}" in res.output, res.output


@pytest.mark.parametrize("version", [3, 0, "2", None])
def test_unknown_schema_version_is_exit_2_naming_it(tmp_path, version):
    res = _check(tmp_path, {**V2, "schema_version": version})
    assert res.exit_code == 2 and f"schema_version {version!r}" in res.output, res.output


def test_validation_names_what_breaks_the_schema():
    pytest.importorskip("jsonschema")
    good = schema.TargetReport.from_json(V2).to_json()
    assert schema.validation_errors(good) == []
    bad = {**good, "measures": {"tensor_arena_bytes": "big"}, "extra_key": 3}
    errors = schema.validation_errors(bad)
    assert any(e.startswith("measures.tensor_arena_bytes") for e in errors), errors
    assert any("extra_key" in e for e in errors), errors  # undeclared top-level keys must be sections


def test_round_trip_keeps_presence_of_classifier_keys():
    doc = {"outputs": {"a": {"snr_db": None, "max_abs_error": 0.0, "top1_agreement": None}, "b": {"snr_db": 3.0}}}
    from hwquant.report.typed import read, to_json

    back = to_json(read(schema.Fidelity, doc, "fidelity"))
    assert "top1_agreement" in back["outputs"]["a"] and "top1_agreement" not in back["outputs"]["b"]


@pytest.mark.slow
def test_real_mcu_and_ethos_u_builds_carry_typed_measures_that_the_gates_read(keras_model, tmp_path):
    """The backends set PackageResult's measures; report.json carries them (validated on write: the
    tests set HWQUANT_VALIDATE_REPORTS=1); check gates them without looking into backend sections."""
    import numpy as np

    from tests.helpers import models

    np.savez(tmp_path / "d.npz", x=models.keras_samples(40))
    out = tmp_path / "out"
    res = CliRunner().invoke(
        main,
        ["build", str(keras_model), "-t", "mcu,ethos-u", "-d", str(tmp_path / "d.npz"), "-o", str(out), "--no-cache"],
    )
    assert res.exit_code == 0, res.output
    mcu = json.loads((out / "mcu" / "report.json").read_text())
    eu = json.loads((out / "ethos-u" / "report.json").read_text())
    assert mcu["schema_version"] == eu["schema_version"] == 2
    assert schema.validation_errors(mcu) == [] and schema.validation_errors(eu) == []
    m = mcu["measures"]
    assert m["tensor_arena_bytes"] == mcu["mcu"]["tensor_arena"]["bytes"] > 0
    assert m["flash_bytes"] == mcu["mcu"]["footprint"]["flash"]["total_bytes"]
    assert m["ram_bytes"] == mcu["mcu"]["footprint"]["ram"]["total_bytes"]
    e = eu["measures"]
    assert e["estimated_inferences_per_second"] == eu["ethos-u"]["estimates"]["inferences_per_second"] > 0
    assert e["compiled_bytes"] == e["deployed_bytes"] == eu["size_bytes"]["deployed"]

    # the gates read the typed section: a report whose backend section lost its keys still gates
    for name in ("mcu", "ethos-u"):
        doc = json.loads((out / name / "report.json").read_text())
        doc[name].pop("tensor_arena")
        (out / name / "report.json").write_text(json.dumps(doc))
    arena = m["tensor_arena_bytes"]
    ok = CliRunner().invoke(main, ["check", str(out / "mcu"), "--max-arena", str(arena)])
    assert ok.exit_code == 0, ok.output
    low = CliRunner().invoke(main, ["check", str(out / "mcu"), "--max-arena", str(arena - 1)])
    assert low.exit_code == 5 and f"tensor arena is {arena} bytes" in low.output, low.output
    fps = e["estimated_inferences_per_second"]
    est = CliRunner().invoke(main, ["check", str(out / "ethos-u"), "--min-est-fps", str(fps * 2)])
    assert est.exit_code == 5 and "min-est-fps" in est.output, est.output


def test_the_writer_refuses_a_report_that_breaks_the_schema_when_asked(tmp_path, monkeypatch):
    pytest.importorskip("jsonschema")
    from hwquant.report.result import BuildResult

    good = schema.TargetReport.from_json(V2)
    BuildResult.of(good, tmp_path).write(tmp_path / "ok.json")
    assert json.loads((tmp_path / "ok.json").read_text())["measures"]["tensor_arena_bytes"] == 3104
    bad = {**good.to_json(), "size_bytes": {"artifact": "big"}}
    monkeypatch.setenv(schema.VALIDATE_ENV, "1")
    with pytest.raises(AssertionError, match="size_bytes"):
        BuildResult(bad, tmp_path).write(tmp_path / "bad.json")
    assert not (tmp_path / "bad.json").exists()
    monkeypatch.setenv(schema.VALIDATE_ENV, "0")  # users' builds: written as given, never validated
    BuildResult(bad, tmp_path).write(tmp_path / "bad.json")
    assert (tmp_path / "bad.json").is_file()
