"""Property: `hwquant inspect` on any bytes derived from real .tflite files (bit flips, truncation,
overwritten runs, random bytes) exits 0 or 2 with a message, never a traceback (issue 11 item 8)."""

from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from hwquant.common.errors import InputError
from hwquant.device.inspect import inspect_command, inspect_model, render
from hwquant.device.tflite_model import TfliteModel

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def seeds(tflite_models):
    return [tflite_models[r].read_bytes() for r in ("float32", "int8-io")]


@st.composite
def mutated(draw, seeds):
    data = bytearray(draw(st.sampled_from(seeds)))
    kind = draw(st.sampled_from(["flip", "truncate", "overwrite", "random", "flips"]))
    if kind == "flip":
        i = draw(st.integers(0, len(data) * 8 - 1))
        data[i // 8] ^= 1 << (i % 8)
    elif kind == "flips":  # several bytes set to extreme values (offsets, lengths, indices)
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, data[i] ^ 0x10]))
    elif kind == "truncate":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif kind == "overwrite":
        start = draw(st.integers(0, len(data) - 1))
        chunk = draw(st.binary(min_size=1, max_size=64))
        data[start : start + len(chunk)] = chunk
    else:
        data = bytearray(draw(st.binary(max_size=512)))
        if draw(st.booleans()) and len(data) >= 8:
            data[4:8] = b"TFL3"
    return bytes(data)


def _check(tmp_path, capsys, content: bytes, as_json: bool):
    # the reader itself: every damage is caught by its bounds checks as InputError (exit 2),
    # not by inspect_command's last-resort conversion
    try:
        info = inspect_model(TfliteModel(content, "m.tflite"))
        render(info, Console(file=io.StringIO()))
    except InputError as exc:
        assert str(exc).startswith(("not a valid .tflite file", "m.tflite is not a TensorFlow Lite")), exc
    path = tmp_path / "m.tflite"
    path.write_bytes(content)
    code = inspect_command(str(path), as_json=as_json)  # an exception here fails the property
    _out, err = capsys.readouterr()
    assert code in (0, 2), (code, err)
    if code == 2:
        assert err.startswith("error: ") and "Traceback" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tflite"]  # nothing written


def test_mutated_tflite_json(seeds, tmp_path, capsys):
    @SETTINGS
    @given(mutated(seeds))
    def prop(content):
        _check(tmp_path, capsys, content, as_json=True)

    prop()


def test_mutated_tflite_tables(seeds, tmp_path, capsys):
    @SETTINGS
    @given(mutated(seeds))
    def prop(content):
        _check(tmp_path, capsys, content, as_json=False)

    prop()
