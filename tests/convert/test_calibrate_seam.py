"""The calibrate-once seam (issue 11 item 13): TensorFlow internals proven byte-identical to a direct
conversion on the pinned TensorFlow range; a TensorFlow that breaks them fails HERE, by name; and a
build on a TensorFlow whose internals are missing or fail falls back to direct conversion."""

from __future__ import annotations

import tomllib
from importlib.metadata import version

import pytest
from packaging.requirements import Requirement

from hwquant.convert import converter as convert
from hwquant.plugin.recipe import preset
from tests.helpers import models

RECIPES = (preset("int8-float-fallback"), preset("int8-only", "int8"), preset("int8-only", "uint8"))


@pytest.fixture(scope="module")
def loaded(keras_model):
    ld = convert.load(keras_model)
    yield ld
    ld.cleanup()


@pytest.fixture(scope="module")
def reps():
    return [{"image": x[None]} for x in models.keras_samples(16)]


def test_installed_tensorflow_is_in_the_pinned_range(repo_root):
    """The build extra pins the range the seam is proven on (an upper bound)."""
    extra = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]["optional-dependencies"]["build"]
    req = next(Requirement(r) for r in extra if Requirement(r).name == "tensorflow")
    assert any(s.operator == "<" for s in req.specifier), f"no upper bound on TensorFlow in {req}"
    assert version("tensorflow") in req.specifier, (
        f"TensorFlow {version('tensorflow')} is outside {req}: prove the {convert.SEAM} on it first "
        "(this file), then widen the pin"
    )


def test_seam_is_byte_identical_to_direct_conversion(loaded, reps):
    calibrated = convert.calibrate(loaded, reps)
    assert calibrated.fallback is None, f"{convert.SEAM} unavailable: {calibrated.fallback}"
    for recipe in RECIPES:
        direct = convert.convert(loaded, recipe, reps)
        shared = convert.quantize_calibrated(loaded, calibrated, recipe)
        assert calibrated.fallback is None, f"{convert.SEAM} failed: {calibrated.fallback}"
        if shared != direct:
            pytest.fail(
                f"the {convert.SEAM} is no longer byte-identical to a direct conversion on TensorFlow "
                f"{version('tensorflow')} (recipe {recipe.name}/{recipe.io_dtype}): update calibrate()/"
                "quantize_calibrated() or keep the TensorFlow pin below this version"
            )


@pytest.mark.parametrize(
    "target",
    [
        # internals only the seam uses (the direct converter does not need them), so the fallback can run
        "tensorflow.lite.python.conversion_metadata_schema_py_generated.ConversionMetadataT.InitFromPackedBuf",
        "tensorflow.lite.python.convert.deduplicate_readonly_buffers",
        "tensorflow.lite.python.util.get_model_hash",
    ],
)
def test_broken_internals_fall_back_to_direct_conversion(loaded, reps, monkeypatch, target):
    """Fault injection: a TensorFlow without the internal (as a future release may be)."""
    monkeypatch.delattr(_owner(target), target.rsplit(".", 1)[1])
    monkeypatch.setenv("HWQUANT_ISOLATE", "0")  # the fault lives in this process, not in the worker
    calibrated = convert.calibrate(loaded, reps)
    for recipe in RECIPES:
        assert convert.quantize_calibrated(loaded, calibrated, recipe) == convert.convert(loaded, recipe, reps)
    assert calibrated.fallback and "calibrate-once seam" in calibrated.fallback
    assert target.rsplit(".", 1)[1] in calibrated.fallback  # the message names what is missing


def _owner(dotted: str):
    """The object holding the last name of ``dotted`` (a module, or a class inside one)."""
    import importlib

    parts = dotted.split(".")[:-1]
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for name in parts[i:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(dotted)


@pytest.mark.slow
def test_build_reports_the_fallback(keras_model, tmp_path, monkeypatch):
    from hwquant.pipeline.api import build

    monkeypatch.delattr(_owner("tensorflow.lite.python.convert.x"), "deduplicate_readonly_buffers")
    monkeypatch.setenv("HWQUANT_ISOLATE", "0")  # the fault lives in this process, not in the worker
    seen = []
    r = build(keras_model, "cpu", data="random:20", out=tmp_path / "o", log=seen.append)
    assert any("calibrate-once seam" in w for w in r.report["warnings"]), r.report.get("warnings")
    assert any("calibrate-once seam" in m for m in seen)
