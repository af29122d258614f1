"""Calibrate once, quantize many: byte-identical to direct conversions; same inputs, same bytes."""

from __future__ import annotations

import hashlib

import pytest

from hwquant.convert import converter as convert
from hwquant.pipeline.many import build_many
from hwquant.plugin.facts import BuildOptions
from hwquant.plugin.recipe import preset
from tests.helpers import models


@pytest.fixture(scope="module")
def loaded(keras_model):
    ld = convert.load(keras_model)
    yield ld
    ld.cleanup()


def test_calibrated_then_quantized_equals_direct_conversion(loaded):
    reps = [{"image": x[None]} for x in models.keras_samples(16)]
    calibrated = convert.calibrate(loaded, reps)
    for recipe in (preset("int8-float-fallback"), preset("int8-only", "int8"), preset("int8-only", "uint8")):
        assert convert.calibrates_once(recipe)
        direct = convert.convert(loaded, recipe, reps)
        assert convert.quantize_calibrated(loaded, calibrated, recipe) == direct, recipe


def test_int16_recipes_convert_directly():
    assert not convert.calibrates_once(preset("int16x8"))
    assert not convert.calibrates_once(preset("dynamic-int8"))


def test_calibrate_once_on_two_signature_model(two_signature_savedmodel):
    ld = convert.load(two_signature_savedmodel)
    try:
        reps = [("encode", {"x": x[None]}) for x in models.feature_samples(8)] + [
            ("decode", {"code": x[None]}) for x in models.feature_samples(8, width=8)
        ]
        cal = convert.calibrate(ld, reps)
        recipe = preset("int8-float-fallback")
        assert convert.quantize_calibrated(ld, cal, recipe) == convert.convert(ld, recipe, reps)
    finally:
        ld.cleanup()


@pytest.mark.slow
def test_same_inputs_give_byte_identical_artifacts(keras_model, tmp_path):
    import numpy as np

    np.savez(tmp_path / "cal.npz", image=models.keras_samples(30))
    digests = []
    for run in ("a", "b"):
        opts = BuildOptions(model=keras_model, target="cpu,mcu", data=str(tmp_path / "cal.npz"), out=tmp_path / run)
        results = build_many(opts, lambda s: None)
        # report.json and report.html (rendered from it) carry the time per stage
        files = sorted(
            p
            for r in results
            for p in r.target_dir.rglob("*")
            if p.is_file() and p.name not in ("report.json", "report.html")
        )
        digests.append({str(p.relative_to(tmp_path / run)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files})
        assert results[0].timings_s["calibrate"] > 0 and "calibrate" not in results[1].timings_s
    assert digests[0] == digests[1]
    assert any(k.endswith("model.tflite") for k in digests[0])


def test_calibrate_once_on_tf1_savedmodel(tf1_savedmodel):
    """The TF1 converter's models calibrate from the load-time float conversion too."""
    loaded = convert.load(tf1_savedmodel)
    try:
        reps = [[x[None]] for x in models.feature_samples(16)]
        calibrated = convert.calibrate(loaded, reps)
        for recipe in (preset("int8-float-fallback"), preset("int8-only", "int8")):
            assert convert.quantize_calibrated(loaded, calibrated, recipe) == convert.convert(loaded, recipe, reps)
    finally:
        loaded.cleanup()
