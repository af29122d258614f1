"""Property tests over two input surfaces (issue 11): JSON for `hwquant check` and TOML manifests for
`hwquant build`. Whatever the file holds, the command ends with a documented exit code (0, 2, 3, 4
or 5), never a traceback, and writes nothing outside its output folder.

Both run in-process through click's CliRunner on generated files; manifests never name a loadable
model, so each example stops before TensorFlow (the property is about what happens before that).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwquant.cli.main import main
from tests.helpers.tomlgen import toml_str as _toml_str
from tests.helpers.tomlgen import toml_value as _toml_value

DOCUMENTED = {0, 2, 3, 4, 5}
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _assert_clean_exit(res) -> None:
    assert res.exit_code in DOCUMENTED, (res.exit_code, res.output)
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in res.output


# -- JSON for `hwquant check` ----------------------------------------------------------------------------
_json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
_json = st.recursive(
    _json_scalar,
    lambda kids: st.one_of(st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=8), kids, max_size=4)),
    max_leaves=12,
)
_measure = st.one_of(_json_scalar, st.floats(0, 1e6))
_report = st.fixed_dictionaries(
    {
        "target": st.one_of(st.just("mcu"), _json_scalar),
        "size_bytes": st.one_of(st.fixed_dictionaries({"artifact": _measure}), _json),
        "mcu": st.one_of(st.fixed_dictionaries({"tensor_arena": st.fixed_dictionaries({"bytes": _measure})}), _json),
        "latency_ms": st.one_of(st.fixed_dictionaries({"mean": _measure}), _measure),
        "fidelity": st.one_of(
            st.fixed_dictionaries(
                {
                    "outputs": st.dictionaries(
                        st.text(min_size=1, max_size=4),
                        st.fixed_dictionaries(
                            {"snr_db": _measure, "max_abs_error": _measure, "top1_agreement": _measure}
                        ),
                        max_size=2,
                    )
                }
            ),
            _json,
        ),
        "preflight_only": st.one_of(st.booleans(), _json_scalar),
    }
)
_document = st.one_of(
    _json, _report, st.fixed_dictionaries({"models": st.one_of(st.lists(_report, max_size=3), _json)})
)


@SETTINGS
@given(doc=_document, raw=st.one_of(st.none(), st.binary(max_size=30)))
def test_property_check_on_any_json(tmp_path_factory, doc, raw):
    root = tmp_path_factory.mktemp("check")
    f = root / "report.json"
    if raw is not None:
        f.write_bytes(raw)
    else:
        f.write_text(json.dumps(doc))  # NaN and Infinity literals included: Python's json reads them
    before = _snapshot(root)
    res = CliRunner().invoke(
        main,
        [
            "check",
            str(f),
            "--max-size",
            "1MB",
            "--max-arena",
            "64KiB",
            "--min-snr",
            "10",
            "--min-agreement",
            "0.5",
            "--max-latency-ms",
            "100",
        ],
    )
    _assert_clean_exit(res)
    assert res.exit_code in {0, 2, 5}
    assert _snapshot(root) == before
    if res.exit_code == 0:  # a pass needs a report with every measure present, finite and in bounds
        data = json.loads(f.read_text())
        reports = data["models"] if isinstance(data, dict) and "models" in data else [data]
        for r in reports:
            assert math.isfinite(r["size_bytes"]["artifact"]) and r["size_bytes"]["artifact"] <= 1_000_000
            assert r["fidelity"]["outputs"]


# -- TOML manifests for `hwquant build` ----------------------------------------------------------------------
_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8)
_value = st.one_of(
    st.booleans(),
    st.integers(-5, 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    _text,
    st.lists(st.one_of(st.integers(-3, 300), st.floats(-2, 2), _text), max_size=3),
)
_path = st.sampled_from(
    [
        "missing.keras",
        "",
        ".",
        "..",
        "../outside",
        "/",
        "/tmp",
        "build",
        "a/b",
        "m.keras",
        "data",
        "random:4",
        "random:x",
        "mod:func",
        "models/m.keras",
    ]
)
_target_key = st.sampled_from(
    [
        "backend",
        "recipe",
        "io_dtype",
        "board",
        "boards-file",
        "arena-margin",
        "project",
        "symbol",
        "toolchain",
        "colour",
    ]
)
_target_value = st.one_of(
    _value,
    st.sampled_from(["cpu", "mcu", "gpu", "edgetpu", "int8-only", "float32", "int8", "uint8", "cortex-m4", "nope"]),
)
_name = st.one_of(
    st.sampled_from(["cpu", "mcu", "gpu", "edgetpu", "m4", "../evil", "/abs", ".", "", "a/b", "x.y"]), _text
)
_top_key = st.sampled_from(
    ["eval_fraction", "max_eval_samples", "seed", "image_size", "mean", "std", "scale", "unknown"]
)
_gate_key = st.sampled_from(["max_size", "max_arena", "min_snr", "min_agreement", "max_latency_ms", "nope"])


@st.composite
def _manifest(draw) -> str:
    lines = []
    if draw(st.booleans()):
        lines.append(f"model = {_toml_value(draw(st.one_of(_path, _value)))}")
    for key in ("data", "eval_data", "out"):
        if draw(st.booleans()):
            lines.append(f"{key} = {_toml_value(draw(st.one_of(_path, _value)))}")
    for key, v in draw(st.dictionaries(_top_key, _value, max_size=3)).items():
        lines.append(f"{key} = {_toml_value(v)}")
    for name, table in draw(
        st.dictionaries(_name, st.dictionaries(_target_key, _target_value, max_size=3), max_size=3)
    ).items():
        lines.append(f"[targets.{_toml_str(name)}]")
        lines += [f"{_toml_str(k)} = {_toml_value(v)}" for k, v in table.items()]
    gates = draw(st.dictionaries(_gate_key, _value, max_size=3))
    if gates:
        lines.append("[gates]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in gates.items()]
    return "\n".join(lines) + "\n"


@SETTINGS
@given(text=_manifest(), garble=st.one_of(st.none(), st.binary(max_size=20)))
def test_property_build_from_any_manifest(tmp_path_factory, text, garble):
    root = tmp_path_factory.mktemp("manifest")
    proj = root / "proj"
    (proj / "models").mkdir(parents=True)
    (proj / "data").mkdir()
    (proj / "data" / "cal.npz").write_bytes(b"")
    (root / "outside").mkdir()
    (root / "outside" / "keep.txt").write_text("keep")
    f = proj / "hwquant.toml"
    if garble is not None:
        f.write_bytes(text.encode()[: len(text) // 2] + garble)
    else:
        f.write_text(text)
    before = _snapshot(root)
    res = CliRunner().invoke(main, ["build", "--manifest", str(f), "--no-cache"])
    _assert_clean_exit(res)
    after = _snapshot(root)
    new = after - before
    assert before - after == set(), before - after  # nothing deleted
    assert not any(".tmp-" in p or ".old-" in p for p in new), new  # no staging folder left behind
    assert new == set(), new  # no model ever loads here, so nothing may be written anywhere


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    names=st.lists(
        st.one_of(
            st.sampled_from(
                ["cpu", "../evil", "../outside/cpu", "..", ".", "", "sub/cpu", ".hidden", "models", "data"]
            ),
            _text,
        ),
        min_size=1,
        max_size=2,
    ),
    out=st.sampled_from(["build", "", ".", "..", "/", "models", "data", "../outside", "build/../.."]),
)
def test_property_manifest_names_and_out_with_a_real_model(keras_model, tmp_path_factory, names, out):
    """With a model that loads, a build (preflight only: convert and map, no verify) writes only under
    its out folder, whatever the table names and `out` say."""
    import shutil

    root = tmp_path_factory.mktemp("manifest-real")
    proj = root / "proj"
    (proj / "models").mkdir(parents=True)
    shutil.copy(keras_model, proj / "models" / "m.keras")
    (proj / "data").mkdir()
    (proj / "data" / "keep.txt").write_text("keep")
    (root / "outside").mkdir()
    (root / "outside" / "keep.txt").write_text("keep")
    tables = "".join(f'[targets.{_toml_str(n)}]\nbackend = "cpu"\n' for n in dict.fromkeys(names))
    f = proj / "hwquant.toml"
    f.write_text(f'model = "models/m.keras"\nout = {_toml_str(out)}\n{tables}')
    before = _snapshot(root)
    res = CliRunner().invoke(main, ["build", "--manifest", str(f), "--no-cache", "--preflight-only"])
    _assert_clean_exit(res)
    after = _snapshot(root)
    assert before - after == set(), before - after
    new = after - before
    assert not any(".tmp-" in p or ".old-" in p for p in new), new
    out_dir = (proj / out).resolve()
    assert all((root / p).resolve().is_relative_to(out_dir) for p in new), (out, new)
    if new:
        model = (proj / "models" / "m.keras").resolve()
        assert res.exit_code in (0, 3) and out_dir != proj.resolve() and out_dir not in model.parents
