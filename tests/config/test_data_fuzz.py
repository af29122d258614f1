"""Property: any array given as --data / --eval-data (npz or npy; odd shapes, dtypes, NaN, empty,
wrong names, labels) is accepted or refused with an input error (exit 2), never a traceback, and a
build writes nothing outside --out (issue 11, property tests over data)."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hwquant.cli.main import main
from hwquant.common.errors import HwquantError
from hwquant.config import data
from hwquant.convert import converter as convert
from hwquant.pipeline.prepare import facts_from
from hwquant.plugin.facts import BuildOptions

DTYPES = ["float32", "float64", "float16", "int8", "uint8", "int32", "int64", "bool", "complex64"]


@st.composite
def arrays(draw):
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    near = draw(st.booleans())  # often the model's own (N, 8, 8, 1) shape, so the later checks run too
    shape = (
        (draw(st.integers(0, 6)), 8, 8, 1)
        if near
        else draw(hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=6))
    )
    elements = None
    if dtype.kind == "f":
        elements = st.floats(width=min(dtype.itemsize * 8, 64), allow_nan=True, allow_infinity=True)
    return draw(hnp.arrays(dtype, shape, elements=elements))


@st.composite
def data_files(draw):
    kind = draw(st.sampled_from(["npz", "npy"]))
    if kind == "npy":
        return "npy", {"": draw(arrays())}
    names = draw(
        st.lists(
            st.sampled_from(["image", "x", "labels", "y", "serving_default/image", "a/b"]),
            min_size=0,
            max_size=3,
            unique=True,
        )
    )
    return "npz", {n: draw(arrays()) for n in names}


def write(folder, kind, content, name="d"):
    path = folder / f"{name}.{kind}"
    if kind == "npy":
        np.save(path, content[""])
    else:
        np.savez(path, **content)
    return path


@pytest.fixture(scope="module")
def facts(keras_model):
    loaded = convert.load(keras_model)
    try:
        yield facts_from(loaded.float_model, loaded)
    finally:
        loaded.cleanup()


def test_data_stage_accepts_or_refuses_cleanly(facts, tmp_path):
    options = BuildOptions(model=tmp_path / "m.keras")

    @settings(
        max_examples=200,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(data_files(), st.floats(min_value=0.05, max_value=1.0))
    def prop(spec, fraction):
        path = write(tmp_path, *spec)
        try:
            ds = data.load(str(path), facts, options)
            data.split(ds, None, BuildOptions(model=options.model, eval_fraction=fraction))
        except HwquantError as exc:
            assert exc.exit_code in (2, 3, 4, 5), exc

    prop()


@pytest.mark.slow
def test_builds_on_any_data_exit_cleanly_and_write_only_into_out(keras_model, tmp_path):
    @settings(
        max_examples=6,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(data_files())
    def prop(spec):
        work = tmp_path / "w"
        if work.exists():
            import shutil

            shutil.rmtree(work)
        work.mkdir()
        path = write(work, *spec)
        r = CliRunner().invoke(
            main, ["build", str(keras_model), "--data", str(path), "-o", str(work / "o"), "--no-cache"]
        )
        assert r.exception is None or isinstance(r.exception, SystemExit), r.output
        assert r.exit_code in (0, 2, 3, 4, 5), r.output
        assert {p.name for p in work.iterdir()} <= {path.name, "o"}
        if r.exit_code != 0:
            assert not (work / "o").exists() or list((work / "o").iterdir()) == []

    prop()


@pytest.mark.parametrize("labels", [np.array(3), np.zeros((5, 3)), np.array([0.5, 1, 2, 3, 4]), np.arange(4)])
def test_labels_that_are_not_one_class_index_per_sample(facts, tmp_path, labels):
    """Found by the property above: a scalar 'labels' array crashed with TypeError."""
    np.savez(tmp_path / "d.npz", image=np.zeros((5, 8, 8, 1), np.float32), labels=labels)
    with pytest.raises(HwquantError) as exc:
        data.load(str(tmp_path / "d.npz"), facts, BuildOptions(model=tmp_path / "m.keras"))
    assert exc.value.exit_code == 2 and "labels" in exc.value.message
