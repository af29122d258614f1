"""`hwquant.build(..., target="mcu")` end to end on the bundled digits example and tiny models."""

from __future__ import annotations

import re

import numpy as np
import pytest

import hwquant
from hwquant.common.errors import IncompatibleError, InputError
from hwquant.device.tflite_model import TfliteModel
from hwquant_backends._tflm import arena
from hwquant_backends._tflm.ops import RESOLVER_METHODS

pytestmark = pytest.mark.slow


def _digits(digits_dir, out, **backend_options):
    return hwquant.build(
        digits_dir / "model.keras",
        target="mcu",
        data=str(digits_dir / "calibration.npz"),
        eval_data=str(digits_dir / "eval.npz"),
        out=out,
        backend_options=backend_options,
    )


def _c_array_bytes(text: str) -> bytes:
    body = text[text.index("= {") + 3 : text.index("};")]
    return bytes(int(h, 16) for h in re.findall(r"0x([0-9a-f]{2})", body))


def test_digits_build_emits_c_array_project_and_exact_arena(digits_dir, tmp_path):
    result = _digits(digits_dir, tmp_path / "out")
    out = tmp_path / "out" / "mcu"
    rep = result.report
    for f in (
        "model.tflite",
        "model_data.h",
        "model_data.cc",
        "model_settings.h",
        "project/main.cc",
        "project/CMakeLists.txt",
        "project/README.md",
        "report.json",
    ):
        assert (out / f).is_file(), f
        assert f in rep["artifacts"]
    artifact = (out / "model.tflite").read_bytes()
    assert _c_array_bytes((out / "model_data.cc").read_text()) == artifact
    assert rep["mcu"]["c_array"]["symbol"] == "digits_data"  # examples/digits/model.keras
    assert rep["recipe"]["name"] == "int8-only" and rep["recipe"]["fields"]["io_dtype"] == "int8"

    # TFLM and LiteRT agree within one step, per output, on the held-out samples.
    check = rep["verify"]["mcu"]
    assert check["agree"] and check["samples"] == rep["verify"]["samples"] > 0
    assert set(check["outputs"]) == {"output_0"}
    assert check["outputs"]["output_0"]["max_diff_steps"] <= 1

    # The resolver registers exactly the model's ops; N matches.
    model = TfliteModel(artifact)
    main = (out / "project" / "main.cc").read_text()
    n = int(re.search(r"MicroMutableOpResolver<(\d+)>", main).group(1))
    by_method = {m: op for op, m in RESOLVER_METHODS.items()}
    calls = [by_method[c] for c in re.findall(r"resolver\.(Add\w+)\(\)", main)]
    assert sorted(calls) == sorted(set(model.op_names())) and n == len(calls)
    assert rep["mcu"]["resolver"]["size"] == n

    # The reported arena is tight on the real model, and written into model_settings.h with the margin.
    ta = rep["mcu"]["tensor_arena"]
    assert arena.fits(artifact, 1, ta["exact_bytes"])
    assert not arena.fits(artifact, 1, ta["exact_bytes"] - 256)
    assert ta["bytes"] == arena.with_margin(ta["exact_bytes"], arena.DEFAULT_MARGIN)
    settings_h = (out / "model_settings.h").read_text()
    assert (
        f"kTensorArenaExact = {ta['exact_bytes']};" in settings_h and f"kTensorArenaSize = {ta['bytes']};" in settings_h
    )
    fp = rep["mcu"]["footprint"]
    assert fp["flash"]["model_bytes"] == len(artifact) and fp["ram"]["arena_bytes"] == ta["bytes"]


def test_options_symbol_arduino_margin_and_board(digits_dir, tmp_path):
    result = _digits(
        digits_dir, tmp_path / "out", symbol="digits_net", project="arduino", arena_margin="0", board="cortex-m4"
    )
    out = tmp_path / "out" / "mcu"
    sketch = out / "project" / "digits_net"
    assert (sketch / "digits_net.ino").is_file() and (sketch / "model_data.cc").is_file()
    assert "const unsigned char digits_net_data[]" in (out / "model_data.cc").read_text()
    ta = result.report["mcu"]["tensor_arena"]
    assert ta["bytes"] == ta["exact_bytes"]
    fp = result.report["mcu"]["footprint"]
    assert fp["fits"] and fp["board"]["name"] == "cortex-m4" and fp["ram"]["budget_bytes"] == 256 * 1024


def test_over_budget_board_is_exit_3_with_numbers(digits_dir, tmp_path):
    toml = tmp_path / "boards.toml"
    toml.write_text('[boards.attiny]\nram_kib = 2\nflash_kib = 32\nsource = "test profile"\n')
    with pytest.raises(IncompatibleError, match="does not fit board 'attiny'") as e:
        _digits(digits_dir, tmp_path / "out", board="attiny", boards_file=str(toml))
    assert e.value.exit_code == 3
    assert re.search(r"RAM: tensor arena \d+ B \+ stack 3072 B \+ allowance 8192 B = \d+ B > 2048 B", str(e.value))
    assert re.search(r"flash: model \d+ B \+ sample IO \d+ B \+ TFLM runtime \d+ B \+ allowance 0 B", str(e.value))
    assert not (tmp_path / "out" / "mcu").exists()


def test_without_data_is_exit_2(keras_model, tmp_path):
    with pytest.raises(InputError, match="needs representative data") as e:
        hwquant.build(keras_model, target="mcu", out=tmp_path / "out")
    assert e.value.exit_code == 2


@pytest.mark.parametrize("target", ["mcu", "ethos-u"])  # ethos-u: Vela leaves GELU on the CPU, where TFLM runs it
def test_op_without_tflm_kernel_is_exit_3_naming_op_layer_alternatives(tmp_path, target):
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    m = tf.keras.Sequential(
        [
            tf.keras.Input((6,), name="x"),
            tf.keras.layers.Dense(8, activation="gelu", name="proj"),
            tf.keras.layers.Dense(2, name="head"),
        ]
    )
    m.save(tmp_path / "gelu.keras")
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((20, 6), dtype=np.float32))
    with pytest.raises(IncompatibleError) as e:
        hwquant.build(tmp_path / "gelu.keras", target=target, data=str(tmp_path / "x.npy"), out=tmp_path / "out")
    msg = str(e.value)
    assert e.value.exit_code == 3
    assert "GELU (int8" in msg and "layer: " in msg and "proj" in msg and "alternatives: " in msg


def test_int16x8_on_request_when_tflm_has_16x8_kernels(digits_dir, tmp_path):
    result = hwquant.build(
        digits_dir / "model.keras",
        target="mcu",
        recipe="int16x8",
        data=str(digits_dir / "calibration.npz"),
        eval_data=str(digits_dir / "eval.npz"),
        out=tmp_path / "out",
        backend_options={"project": "none"},
    )
    rep = result.report
    assert (rep["recipe"]["name"], rep["recipe"]["fields"]["io_dtype"]) == ("int16x8", "int16")
    out = rep["verify"]["mcu"]["outputs"]["output_0"]
    assert out["agree"] and out["dtype"] == "int16" and out["max_diff_steps"] <= out["tolerance_steps"]
    assert "typedef int16_t input0_t;" in (tmp_path / "out" / "mcu" / "model_settings.h").read_text()
    assert not (tmp_path / "out" / "mcu" / "project").exists()
