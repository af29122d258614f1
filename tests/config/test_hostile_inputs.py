"""Inputs by type and size (issue 20, item 3 and item 7's last two bullets): every file is checked before
it is read, and data sources are bounded in samples, memory and time. Each hostile input ends with
exit 2 naming the source, quickly: no hang, no MemoryError, no traceback.

Most cases stop before a model is loaded (no TensorFlow); the data loaders are called directly with
small hand-made ModelFacts.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwquant.cli.main import main
from hwquant.common import toml
from hwquant.common.errors import InputError
from hwquant.config import data, images, model_format
from hwquant.plugin.facts import BuildOptions, ModelFacts, SignatureSpec, TensorSpec
from tests.helpers.threads import within

FACTS = ModelFacts(
    "m.keras",
    "keras",
    "tf2-keras",
    (SignatureSpec("serving_default", (TensorSpec("image", (-1, 8, 8, 1), "float32"),), ()),),
    1000,
)


def _within(fn, seconds: float = 20.0):
    return within(fn, seconds, "the command")


def _cli(*args, seconds: float = 60.0):
    r = _within(lambda: CliRunner().invoke(main, [str(a) for a in args]), seconds)
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert "Traceback" not in r.output
    return r


# -- the model ---------------------------------------------------------------------------------------------
def _devzero_link(tmp_path):
    p = tmp_path / "m.keras"
    p.symlink_to("/dev/zero")
    return p, "character device"


def _fifo_model(tmp_path):
    p = tmp_path / "m.h5"
    os.mkfifo(p)
    return p, "FIFO"


def _savedmodel_without_variables(tmp_path):
    p = tmp_path / "sm"
    p.mkdir()
    (p / "saved_model.pb").write_bytes(b"\x08\x01")
    return p, "incomplete SavedModel: it has no variables/ folder"


def _savedmodel_with_a_fifo(tmp_path):
    p = tmp_path / "sm"
    (p / "variables").mkdir(parents=True)
    (p / "saved_model.pb").write_bytes(b"\x08\x01")
    os.mkfifo(p / "variables" / "variables.data-00000-of-00001")
    return p, "FIFO"


@pytest.mark.parametrize("make", [_devzero_link, _fifo_model, _savedmodel_without_variables, _savedmodel_with_a_fifo])
def test_a_hostile_model_path_is_exit_2_at_once(tmp_path, make):
    model, why = make(tmp_path)
    t0 = time.monotonic()
    r = _cli("build", model, "--no-cache", "-o", tmp_path / "out")
    assert r.exit_code == 2 and why in r.output, r.output
    assert time.monotonic() - t0 < 30
    assert not (tmp_path / "out").exists()


def test_require_model_refuses_what_init_must_not_write_for(tmp_path):
    with pytest.raises(InputError, match="no such file") as err:
        model_format.require_model(tmp_path / "missing.keras")
    assert "hwquant init" in err.value.hint
    (tmp_path / "ok.keras").write_bytes(b"x")
    assert model_format.require_model(tmp_path / "ok.keras") == tmp_path / "ok.keras"


# -- data files, specs and folders -------------------------------------------------------------------------
def test_a_fifo_or_device_as_data_is_exit_2_before_the_model_loads(tmp_path, keras_model):
    fifo = tmp_path / "cal.npz"
    os.mkfifo(fifo)
    zero = tmp_path / "cal.npy"
    zero.symlink_to("/dev/zero")
    for spec, why in [(fifo, "FIFO"), (zero, "character device")]:
        for flag in ("--data", "--eval-data"):
            r = _cli("build", keras_model, flag, spec, "--no-cache", "-o", tmp_path / "out")
            assert r.exit_code == 2 and why in r.output and str(spec) in r.output, r.output


@pytest.mark.parametrize("spec", ["random:1000000000", f"random:{10**30}"])
def test_a_huge_random_spec_is_exit_2_quickly(tmp_path, keras_model, spec):
    t0 = time.monotonic()
    r = _cli("build", keras_model, "--data", spec, "--no-cache", "-o", tmp_path / "out")
    assert r.exit_code == 2 and "over the limit" in r.output, r.output
    assert time.monotonic() - t0 < 30


def _npy_header_only(shape, dtype="<f4") -> bytes:
    """A .npy holding only its header: what a decompression bomb or a lying file looks like to the reader."""
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_2_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def test_arrays_are_bounded_from_their_headers_before_they_are_read(tmp_path, monkeypatch):
    big = tmp_path / "big.npz"
    with zipfile.ZipFile(big, "w") as z:
        z.writestr("image.npy", _npy_header_only((10**8, 8, 8, 1)))
    with pytest.raises(InputError, match="over the limit of 100,000"):
        data._npz(big, FACTS)
    monkeypatch.setenv("HWQUANT_MAX_SAMPLES", str(10**9))
    with pytest.raises(InputError, match="of memory, over the"):
        data._npz(big, FACTS)
    npy = tmp_path / "big.npy"
    npy.write_bytes(_npy_header_only((5000, 100000, 100, 1)))
    with pytest.raises(InputError, match="of memory, over the"):
        data._npy(npy, FACTS)


def test_five_million_tiny_samples_are_refused_from_the_header(tmp_path):
    p = tmp_path / "tiny.npy"
    p.write_bytes(_npy_header_only((5_000_000, 1)))
    with pytest.raises(InputError, match="5,000,000 samples, over the limit"):
        data._npy(p, FACTS)


@given(n=st.integers(1, 10**12), per=st.integers(0, 10**9), limit=st.integers(1, 10**6))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_bounds_refuse_exactly_what_is_over_a_limit(monkeypatch, n, per, limit):
    monkeypatch.setenv("HWQUANT_MAX_SAMPLES", str(limit))
    monkeypatch.setenv("HWQUANT_MAX_DATA_MEMORY_BYTES", str(1 << 30))
    over = n > limit or n * (per + data.SAMPLE_OVERHEAD) > (1 << 30)
    if over:
        with pytest.raises(InputError) as err:
            data.check_bounds("src", n, per)
        assert err.value.exit_code == 2 and err.value.message.startswith("src: ")
    else:
        data.check_bounds("src", n, per)


@pytest.mark.parametrize("value", ["0", "-5", "nan", "lots", "inf"])
def test_a_bad_limit_in_the_environment_is_usage_error(monkeypatch, value):
    monkeypatch.setenv("HWQUANT_MAX_SAMPLES", value)
    with pytest.raises(Exception, match="HWQUANT_MAX_SAMPLES") as err:
        data.max_samples()
    assert err.value.exit_code == 2


# -- module:function sources ------------------------------------------------------------------------------
@pytest.fixture
def datamod(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    made = []

    def write(name, source):
        (tmp_path / f"{name}.py").write_text(source)
        made.append(name)
        return name

    yield write
    for name in made:
        sys.modules.pop(name, None)


def test_a_generator_that_never_ends_stops_at_the_sample_limit(datamod, monkeypatch):
    monkeypatch.setenv("HWQUANT_MAX_SAMPLES", "500")
    name = datamod(
        "forever_a", "import numpy as np\ndef gen():\n    while True:\n        yield [np.zeros((8, 8, 1), 'float32')]\n"
    )
    with pytest.raises(InputError, match=r"forever_a:gen\(\) yields more than 500 samples") as err:
        _within(lambda: data._callable(f"{name}:gen", FACTS))
    assert "HWQUANT_MAX_SAMPLES" in err.value.hint


def test_a_generator_stuck_inside_one_item_stops_at_the_deadline(datamod, monkeypatch):
    monkeypatch.setenv("HWQUANT_DATA_TIMEOUT_S", "1")
    name = datamod("stuck_a", "import time\ndef gen():\n    while True:\n        time.sleep(0.05)\n    yield 1\n")
    t0 = time.monotonic()
    with pytest.raises(InputError, match=r"stuck_a:gen\(\) did not finish within 1 s"):
        _within(lambda: data._callable(f"{name}:gen", FACTS))
    assert time.monotonic() - t0 < 10


def test_a_generator_of_huge_samples_stops_at_the_memory_budget(datamod, monkeypatch):
    monkeypatch.setenv("HWQUANT_MAX_DATA_MEMORY_BYTES", str(64 << 20))
    name = datamod(
        "huge_a", "import numpy as np\ndef gen():\n    while True:\n        yield [np.zeros((8 << 20,), 'uint8')]\n"
    )
    with pytest.raises(InputError, match=r"over the .* budget; stopped there"):
        _within(lambda: data._callable(f"{name}:gen", FACTS))


@pytest.mark.parametrize(
    "source, words",
    [
        ("def gen(:\n    pass\n", ["syntax error", ":1:"]),
        ("raise RuntimeError('no GPU here')\n", ["importing", "RuntimeError: no GPU here"]),
        ("import sys\nsys.exit(0)\n", ["importing", "SystemExit"]),
        ("import sys\ndef gen():\n    sys.exit(0)\n", ["gen() raised SystemExit"]),
        ("def gen():\n    raise ValueError('bad shard')\n", ["gen() raised ValueError: bad shard"]),
        ("gen = 3\n", ["is a int, not a function"]),
        ("def gen():\n    return [{'image': [[1, 2], [3]]}]\n", ["'image' is not an array"]),
    ],
)
def test_user_code_errors_are_input_errors_naming_the_source(datamod, source, words):
    name = datamod(f"usr_{hashlib.sha256(source.encode()).hexdigest()[:10]}", source)
    with pytest.raises(InputError) as err:
        _within(lambda: data._callable(f"{name}:gen", FACTS))
    assert err.value.exit_code == 2
    assert name in err.value.message
    for w in words:
        assert w in err.value.message, err.value.message


def test_a_data_module_that_is_a_fifo_is_never_imported(datamod, tmp_path):
    os.mkfifo(tmp_path / "fifo_mod.py")  # Python's finder skips what is not a regular file; so do we
    with pytest.raises(InputError, match="fifo_mod"):
        _within(lambda: data._callable("fifo_mod:gen", FACTS))


# -- images -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", ["100000x100000", "8193x10"])
def test_an_image_size_over_the_limit_is_exit_2(tmp_path, keras_model, size):
    r = _cli("build", keras_model, "--data", "random:10", "--image-size", size, "--no-cache", "-o", tmp_path / "o")
    assert r.exit_code == 2 and "at most 8192" in r.output, r.output


def test_an_image_with_too_many_pixels_is_refused_before_decoding(tmp_path):
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.new("L", (9000, 8000)).save(folder / "big.png")  # 72 Mpx: over the limit, under Pillow's own
    spec = TensorSpec("image", (-1, 8, 8, 1), "float32")
    with pytest.raises(InputError, match="9000x8000 pixels, over the"):
        images.load_folder(folder, spec, BuildOptions(model=tmp_path / "m.keras"))


def test_a_fifo_among_the_images_is_refused(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    os.mkfifo(folder / "a.png")
    spec = TensorSpec("image", (-1, 8, 8, 1), "float32")
    with pytest.raises(InputError, match="FIFO"):
        _within(lambda: images.load_folder(folder, spec, BuildOptions(model=tmp_path / "m.keras")))


# -- manifests and boards files ---------------------------------------------------------------------------
def test_a_fifo_or_oversized_toml_file_is_an_input_error(tmp_path, monkeypatch):
    fifo = tmp_path / "boards.toml"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="FIFO"):
        _within(lambda: toml.load(fifo, "--mcu-boards-file"))
    big = tmp_path / "hwquant.toml"
    big.write_text("# x\n" * 2_000_000)
    with pytest.raises(InputError, match="over the"):
        toml.load(big, "manifest")
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 50_000 + "]" * 50_000 + "\n")
    with pytest.raises(InputError, match="nested too deeply"):
        toml.load(deep, "manifest")


def test_a_fifo_manifest_is_exit_2(tmp_path):
    fifo = tmp_path / "hwquant.toml"
    os.mkfifo(fifo)
    r = _cli("build", "--manifest", fifo, "--no-cache")
    assert r.exit_code == 2, r.output


def test_seed_must_be_non_negative(tmp_path, keras_model):
    r = _cli("build", keras_model, "--data", "random:10", "--seed", "-1", "--no-cache", "-o", tmp_path / "o")
    assert r.exit_code == 2 and "--seed" in r.output, r.output


# -- labels are class indices of the model's output -------------------------------------------------------
CLASSIFIER = ModelFacts(
    "m.keras",
    "keras",
    "tf2-keras",
    (
        SignatureSpec(
            "serving_default",
            (TensorSpec("image", (-1, 8, 8, 1), "float32"),),
            (TensorSpec("probs", (-1, 10), "float32"),),
        ),
    ),
    1000,
)


@pytest.mark.parametrize(
    "labels, words", [([0, -1, 2], "label -1 is negative"), ([0, 10, 2], "label 10 is not a class")]
)
def test_labels_outside_the_models_classes_are_refused(tmp_path, labels, words):
    p = tmp_path / "eval.npz"
    np.savez(p, image=np.zeros((3, 8, 8, 1), np.float32), labels=np.array(labels))
    with pytest.raises(InputError, match=words) as err:
        data._npz(p, CLASSIFIER)
    assert str(p) in err.value.message
    np.savez(p, image=np.zeros((3, 8, 8, 1), np.float32), labels=np.array([0, 9, 2]))
    assert list(data._npz(p, CLASSIFIER).labels) == [0, 9, 2]


def test_an_npz_of_thousands_of_arrays_is_refused_before_any_is_read(tmp_path):
    p = tmp_path / "many.npz"
    with zipfile.ZipFile(p, "w") as z:
        for i in range(data.MAX_NPZ_ARRAYS + 1):
            z.writestr(f"a{i}.npy", _npy_header_only((1,)))
    with pytest.raises(InputError, match="arrays; a data file holds one per model input"):
        data._npz(p, FACTS)


# -- the class, not the example: any hostile file kind in any input slot -----------------------------------
def _kind(kind: str, p):
    if kind == "fifo":
        os.mkfifo(p)
    elif kind == "devzero":
        p.symlink_to("/dev/zero")
    elif kind == "dir":
        p.mkdir()
    elif kind == "loop":
        p.symlink_to(p.name)
    elif kind == "dangling":
        p.symlink_to(p.parent / "nowhere")
    elif kind == "chain-to-fifo":
        os.mkfifo(p.parent / "real")
        (p.parent / "mid").symlink_to(p.parent / "real")
        p.symlink_to(p.parent / "mid")
    return p


@given(
    slot=st.sampled_from(["model", "--data", "--eval-data", "--manifest"]),
    kind=st.sampled_from(["fifo", "devzero", "dir", "loop", "dangling", "chain-to-fifo"]),
    suffix=st.sampled_from([".keras", ".h5", ".npz", ".npy", ".toml"]),
)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_hostile_file_in_any_slot_is_exit_2_quickly_writing_nothing(
    tmp_path_factory, keras_model, slot, kind, suffix
):
    work = tmp_path_factory.mktemp("slot")
    hostile = _kind(kind, work / f"input{suffix}")
    args = ["build", "--no-cache", "-o", work / "out"]
    if slot == "model":
        args += [hostile]
    elif slot == "--manifest":
        args += ["--manifest", hostile]
    else:
        args += [keras_model, slot, hostile]
    before = sorted(p.name for p in work.iterdir())
    t0 = time.monotonic()
    r = _cli(*args, seconds=30)
    assert r.exit_code == 2, (slot, kind, r.output)
    assert time.monotonic() - t0 < 30
    assert sorted(p.name for p in work.iterdir()) == before  # nothing written, nothing removed
