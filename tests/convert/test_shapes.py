"""Dynamic input dimensions (issue 19 item 3): exit 2 naming the input, the dimension and
--input-shape, before anything converts, for every kind of input; --input-shape sizes them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hwquant.cli.main import main
from hwquant.common.errors import InputError, UsageError
from hwquant.convert import shapes


# ------------------------------------------------------------------------------- the option itself
def test_parse_reads_named_and_unnamed_shapes():
    assert shapes.parse(["image=1x96x96x3", "mask=1x8"]) == {"image": (1, 96, 96, 3), "mask": (1, 8)}
    assert shapes.parse(["1x49x10"]) == {None: (1, 49, 10)}
    assert shapes.parse([]) == {}


@pytest.mark.parametrize(
    ("given", "says"),
    [
        (["image=1x96xx3"], "is not NAME=DIMS"),
        (["image=1x96x-1x3"], "is not NAME=DIMS"),
        (["image=2x96x96x3"], "batch (first) dimension must be 1"),
        (["image=1x0x96x3"], "every dimension must be from 1"),
        (["image=1x96x96x3", "image=1x32x32x3"], "names image twice"),
        (["1x96x96x3", "mask=1x8"], "without a NAME= is for a model with one input"),
    ],
)
def test_parse_refuses_malformed_shapes_as_usage_errors(given, says):
    with pytest.raises(UsageError) as info:
        shapes.parse(given)
    assert says in info.value.message and info.value.exit_code == 2


def test_static_names_input_dimension_and_option():
    with pytest.raises(InputError) as info:
        shapes.static("image", [None, None, None, 3], {}, only=True)
    err = info.value
    assert err.exit_code == 2
    assert "'image' has a dynamic height and width" in err.message
    assert "dimensions 1 (height) and 2 (width) are None" in err.message
    assert "--input-shape image=1x96x96x3" in err.hint and "keras.Input((96, 96, 3))" in err.hint
    assert shapes.static("image", [None, None, None, 3], {"image": (1, 32, 40, 3)}, only=True) == [1, 32, 40, 3]
    assert shapes.static("x", [None, 49, 10], {None: (1, 49, 10)}, only=True) == [1, 49, 10]
    assert shapes.static("x", [None, 49, 10], {}, only=True) == [1, 49, 10]  # only the batch: fixed to 1
    with pytest.raises(InputError, match="changes dimension 3 of input 'image'"):
        shapes.static("image", [None, None, None, 3], {"image": (1, 32, 32, 4)}, only=True)
    with pytest.raises(InputError, match="gives input 'image' 3 dimensions"):
        shapes.static("image", [None, None, None, 3], {"image": (1, 32, 32)}, only=True)


# ------------------------------------------------------------------------------- every kind of input
def _keras(kind: str, folder: Path) -> Path:
    import keras

    L = keras.layers
    if kind == "image":  # dynamic height and width
        inp = keras.Input((None, None, 3), name="image")
        out = L.Dense(4)(L.GlobalAveragePooling2D()(L.Conv2D(4, 3, padding="same")(inp)))
    elif kind == "conv1d":  # a dynamic sequence length without recurrent layers
        inp = keras.Input((None, 6), name="frames")
        out = L.Dense(3)(L.GlobalAveragePooling1D()(L.Conv1D(4, 3)(inp)))
    else:  # a dynamic sequence length into a recurrent layer
        inp = keras.Input((None, 6), name="frames")
        out = L.Dense(3)(L.LSTM(4)(inp))
    model = keras.Model(inp, out)
    if kind == "savedmodel":
        model.export(str(folder / "sm"), verbose=False)
        return folder / "sm"
    model.save(folder / f"{kind}.keras")
    return folder / f"{kind}.keras"


@pytest.mark.parametrize(
    ("kind", "message", "hint"),
    [
        ("image", "input 'image' has a dynamic height and width", "--input-shape image=1x96x96x3"),
        ("conv1d", "input 'frames' has a dynamic sequence length", "--input-shape frames=1x49x6"),
        ("recurrent", "the recurrent layers (LSTM lstm", "--input-shape frames=1x49x6"),
        ("savedmodel", "has a dynamic sequence length", "tf.TensorSpec([1, 49, 6])"),
    ],
)
def test_dynamic_dimension_is_exit_2_for_every_target(kind, message, hint, tmp_path):
    """One load serves every target: the refusal comes before any target converts, checks or allocates."""
    model = _keras(kind, tmp_path)
    out = tmp_path / "o"
    r = CliRunner().invoke(
        main, ["build", str(model), "-t", "cpu,gpu,mcu,ethos-u,edgetpu", "-d", "random:8", "-o", str(out), "--no-cache"]
    )
    assert r.exit_code == 2, r.output
    assert message in r.output and hint in r.output, r.output
    assert "BytesRequired" not in r.output and "Traceback" not in r.output
    assert not out.exists()


def test_input_shape_that_names_no_input_is_exit_2(tmp_path):
    model = _keras("image", tmp_path)
    r = CliRunner().invoke(
        main, ["build", str(model), "--input-shape", "img=1x32x32x3", "-o", str(tmp_path / "o"), "--no-cache"]
    )
    assert r.exit_code == 2, r.output
    assert "--input-shape names no input of the model: img (inputs: image)" in r.output, r.output


@pytest.mark.parametrize("kind", ["image", pytest.param("recurrent", marks=pytest.mark.slow)])
def test_input_shape_sizes_the_dynamic_dimensions(kind, tmp_path):
    model = _keras(kind, tmp_path)
    shape = "image=1x24x20x3" if kind == "image" else "frames=1x12x6"
    out = tmp_path / "o"
    r = CliRunner().invoke(
        main, ["build", str(model), "--input-shape", shape, "-t", "mcu", "--data", "random:8", "-o", str(out)]
    )
    assert r.exit_code == 0, r.output
    rep = json.loads((out / "mcu" / "report.json").read_text())
    name, dims = shape.split("=")
    assert f"input '{name}' fixed to {dims} (--input-shape)" in rep["model"]["notes"], rep["model"]["notes"]
    assert rep["verify"]["mcu"]["agree"]
