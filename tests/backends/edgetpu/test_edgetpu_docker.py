"""edgetpu_compiler through a real Docker engine, with a locally built stand-in image.

The stand-in (tests/helpers/edgetpu_standin/) compiles nothing: it replays a real published compiler
log from ../shared/fixtures/edgetpu and writes the files the real compiler writes, with a
compiled model made from the model under test (one edgetpu-custom-op, placeholder payload).
These tests exercise hwquant's orchestration, parsing and checks; real compilation needs
Coral's image (src/hwquant_backends/edgetpu/toolchain/Dockerfile).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from hwquant.common.errors import ToolchainError
from hwquant.device.tflite_model import TfliteModel
from hwquant_backends.edgetpu import compile as C
from hwquant_backends.edgetpu.artifact import CUSTOM_OP, inspect_compiled
from tests.helpers.edgetpu_standin import int8, standin

docker = pytest.importorskip("docker")
tf = pytest.importorskip("tensorflow")

pytestmark = [
    pytest.mark.docker,
    pytest.mark.slow,
    pytest.mark.skipif(not standin.FIXTURES.is_dir(), reason=f"fixtures not found at {standin.FIXTURES}"),
]

FULL = "03_full_14.1_table.log"  # 1 Edge TPU subgraph, every op mapped: matches one custom op, no CPU ops
TWO_SUBGRAPHS = "05_partial_16.0_sa_yolov5s_2subgraphs_offchip.log"


@pytest.fixture(scope="module")
def client():
    try:
        c = docker.from_env(timeout=60)
        c.ping()
    except docker.errors.DockerException as exc:
        pytest.skip(f"no Docker engine reachable ({exc}); install docker.io and start dockerd")
    if standin.static_busybox() is None:
        pytest.skip("no statically linked busybox for the stand-in image (apt-get install busybox-static)")
    return c


def convert_int8_uint8_io(model) -> bytes:
    return int8.convert(model, "uint8")


@pytest.fixture(scope="module")
def model_bytes() -> bytes:
    from tests.helpers import models

    return convert_int8_uint8_io(models.build_keras_cnn(batch_size=1))


_built: dict[tuple, str] = {}


@pytest.fixture(scope="module")
def image(client, model_bytes):
    """Tag of a stand-in image replaying ``fixture`` in ``mode`` (built once per module)."""

    def make(fixture: str = FULL, mode: str = "ok", custom_ops: int = 1) -> str:
        key = (fixture, mode, custom_ops)
        if key not in _built:
            tag = f"hwquant-test/edgetpu-standin:{mode}-{fixture[:2]}-{custom_ops}"
            compiled = standin.make_compiled(model_bytes, custom_ops)
            _built[key] = standin.build_image(client, tag, fixture, compiled, mode)
        return _built[key]

    return make


@pytest.fixture
def model_file(tmp_path, model_bytes) -> Path:
    p = tmp_path / "in" / "model.tflite"
    p.parent.mkdir()
    p.write_bytes(model_bytes)
    return p


def _containers_of(client, tag: str) -> list:
    return client.containers.list(all=True, filters={"ancestor": tag})


def test_compile_writes_the_compiler_outputs(client, image, model_file, model_bytes, tmp_path):
    tag = image()
    out = tmp_path / "out"
    r = C.compile_models([model_file], out, toolchain="docker", image=tag)
    assert r.toolchain == f"docker:{tag}" and r.returncode == 0
    assert r.argv == ["edgetpu_compiler", "-s", "-o", "/out", "/in/model.tflite"]
    assert sorted(p.name for p in out.iterdir()) == [
        "edgetpu_compiler.log",
        "model_edgetpu.log",
        "model_edgetpu.tflite",
    ]
    assert (out / "edgetpu_compiler.log").read_text() == (standin.FIXTURES / FULL).read_text()
    assert r.log.version == "14.1.317412892" and r.log.succeeded and r.log.models[0].subgraphs == 1
    assert "Input: model.tflite" in (out / "model_edgetpu.log").read_text()
    facts = inspect_compiled(r.models["model"][0], r.log, TfliteModel(model_bytes))
    assert facts["op_counts"] == {CUSTOM_OP: 1} and facts["cpu_ops"] == 0
    assert facts["litert"] == f"parsed; {CUSTOM_OP} needs the Edge TPU runtime (libedgetpu) to run"
    assert _containers_of(client, tag) == []  # removed afterwards


# -- the container contract: the stand-in refuses to run (exit 97) unless every restriction holds ---------
_PROMISED = {
    "network_mode": "none",
    "network_disabled": True,
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges"],
    "user": "65534:65534",
}


def _run_standin(client, tag, tmp_path, **overrides):
    """Run the stand-in with the README's restrictions, some relaxed by ``overrides``: (exit code, output)."""
    (tmp_path / "in").mkdir(exist_ok=True)
    (tmp_path / "out").mkdir(exist_ok=True)
    os.chmod(tmp_path / "out", 0o777)
    kw = {
        **_PROMISED,
        "volumes": {
            str(tmp_path / "in"): {"bind": "/in", "mode": "ro"},
            str(tmp_path / "out"): {"bind": "/out", "mode": "rw"},
        },
        **overrides,
    }
    kw = {k: v for k, v in kw.items() if v is not None}
    c = client.containers.run(tag, command=["-o", "/out"], entrypoint=["edgetpu_compiler"], detach=True, **kw)
    try:
        code = c.wait(timeout=60)["StatusCode"]
        return code, c.logs().decode(errors="replace")
    finally:
        c.remove(force=True)


def test_hwquant_runs_the_compiler_with_the_promised_restrictions(image, model_file, tmp_path):
    """The stand-in checked them before compiling: non-root, no capabilities, no-new-privileges, only
    the loopback interface, /in read-only. compile_models succeeding proves hwquant sets them all."""
    r = C.compile_models([model_file], tmp_path / "out", toolchain="docker", image=image())
    assert r.returncode == 0 and "container restrictions violated" not in r.console


@pytest.mark.parametrize(
    "relaxed, named",
    [
        ({"user": None}, "runs as root"),
        ({"cap_drop": None}, "capabilities not dropped"),
        ({"security_opt": None}, "no-new-privileges not set"),
        ({"network_mode": "bridge", "network_disabled": None}, "network interface eth0"),
        ({"volumes": "rw-in"}, "/in is not mounted read-only (rw)"),
    ],
)
def test_the_standin_refuses_a_container_without_a_restriction(client, image, tmp_path, relaxed, named):
    if relaxed.get("volumes") == "rw-in":
        (tmp_path / "in").mkdir()
        relaxed = {"volumes": {str(tmp_path / "in"): {"bind": "/in", "mode": "rw"}}}
    code, said = _run_standin(client, image(), tmp_path, **relaxed)
    assert code == 97 and "stand-in: container restrictions violated:" in said and named in said, (code, said)
    assert said.count(";") == 0  # only the relaxed restriction is named


def test_flags_reach_the_compiler_argv(image, model_file, tmp_path):
    flags = C.CompilerFlags(
        min_runtime_version=13,
        search_delegate=True,
        delegate_search_step=2,
        intermediate_tensors=("a", "b"),
        enable_multiple_subgraphs=True,
    )
    r = C.compile_models([model_file], tmp_path / "out", flags, toolchain="docker", image=image())
    assert r.argv == [
        "edgetpu_compiler",
        "-s",
        "-o",
        "/out",
        "-m",
        "13",
        "-d",
        "-k",
        "2",
        "-i",
        "a,b",
        "-a",
        "/in/model.tflite",
    ]


def test_num_segments_collects_every_segment(image, model_file, tmp_path):
    r = C.compile_models(
        [model_file], tmp_path / "out", C.CompilerFlags(num_segments=2), toolchain="docker", image=image()
    )
    assert [p.name for p in r.models["model"]] == [
        "model_segment_0_of_2_edgetpu.tflite",
        "model_segment_1_of_2_edgetpu.tflite",
    ]
    assert all(p.is_file() for p in r.models["model"])


def test_co_compile_several_models_in_one_call(image, model_bytes, tmp_path):
    paths = []
    for name in ("a", "b"):
        p = tmp_path / name / f"{name}.tflite"
        p.parent.mkdir()
        p.write_bytes(model_bytes)
        paths.append(p)
    r = C.compile_models(paths, tmp_path / "out", toolchain="docker", image=image())
    assert r.argv[-2:] == ["/in/a.tflite", "/in/b.tflite"]  # one invocation, both models
    assert {k: [p.name for p in v] for k, v in r.models.items()} == {
        "a": ["a_edgetpu.tflite"],
        "b": ["b_edgetpu.tflite"],
    }
    assert r.console.count("Edge TPU Compiler version") == 1


# -- errors: each exit 4, the compiler's words in the message, no compiled model left behind ---------------


def _no_artifact(out: Path) -> bool:
    return not out.exists() or not list(out.rglob("*_edgetpu.tflite"))


def test_no_engine_reachable(monkeypatch, model_file, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-such-docker.sock")
    with pytest.raises(ToolchainError) as exc:
        C.compile_models([model_file], tmp_path / "out", toolchain="docker", image="anything:1")
    assert exc.value.exit_code == 4
    assert "no Docker engine reachable" in exc.value.message and "--edgetpu-toolchain native" in exc.value.hint
    assert _no_artifact(tmp_path / "out")


def test_image_missing_shows_the_build_command(client, model_file, tmp_path):
    with pytest.raises(ToolchainError) as exc:
        C.compile_models([model_file], tmp_path / "out", toolchain="docker", image="hwquant-test/absent:0")
    assert exc.value.exit_code == 4
    assert "Docker image 'hwquant-test/absent:0' not found" in exc.value.message
    assert f"docker build -t hwquant-test/absent:0 {C.DOCKERFILE_DIR}" in exc.value.hint
    assert (C.DOCKERFILE_DIR / "Dockerfile").is_file()


@pytest.mark.parametrize(
    "fixture, mode, words",
    [
        ("13_fail_2.0_internal-compiler-error.log", "exit1", "failed (exit 1): Internal compiler error. Aborting!"),
        ("15_fail_14.1_model-not-quantized.log", "exit1", "Invalid model: my_mnist_quant.tflite; Model not quantized"),
        ("16_fail_16.0_didnt-find-op-version.log", "exit1", "Didn't find op for builtin opcode 'TRANSPOSE_CONV'"),
        (
            "18_fail_16.0_sa_large-activation-tensors.log",
            "fail0",
            "exited 0 but reported a failure: Compilation failed: Compilation failed due to large activation tensors",
        ),
        ("20_fail_16.0_dynamic-sized-tensors.log", "fail0", "only supports static-sized tensors"),
    ],
)
def test_compiler_failure(client, image, model_file, tmp_path, fixture, mode, words):
    tag = image(fixture, mode)
    with pytest.raises(ToolchainError) as exc:
        C.compile_models([model_file], tmp_path / "out", toolchain="docker", image=tag)
    assert exc.value.exit_code == 4 and words in exc.value.message
    assert _no_artifact(tmp_path / "out")
    assert _containers_of(client, tag) == []


def test_compiler_timeout(client, image, model_file, tmp_path):
    tag = image(FULL, "hang")
    with pytest.raises(ToolchainError) as exc:
        C.compile_models([model_file], tmp_path / "out", toolchain="docker", image=tag, timeout=3)
    assert exc.value.exit_code == 4
    assert "edgetpu_compiler did not finish within 3 s and was stopped" in exc.value.message
    assert "--edgetpu-compiler-timeout" in exc.value.hint
    assert _no_artifact(tmp_path / "out") and _containers_of(client, tag) == []


def test_custom_op_count_must_match_reported_subgraphs(image, model_file, model_bytes, tmp_path):
    r = C.compile_models([model_file], tmp_path / "out", toolchain="docker", image=image(TWO_SUBGRAPHS))
    with pytest.raises(ToolchainError) as exc:
        inspect_compiled(r.models["model"][0], r.log, TfliteModel(model_bytes))
    assert "holds 1 edgetpu-custom-op op(s) but the compiler reported 2 Edge TPU subgraph(s)" in exc.value.message
    r = C.compile_models([model_file], tmp_path / "out2", toolchain="docker", image=image(TWO_SUBGRAPHS, custom_ops=2))
    assert inspect_compiled(r.models["model"][0], r.log, TfliteModel(model_bytes))["edgetpu_custom_ops"] == 2


def test_compiled_model_must_keep_the_model_io(image, model_file, tmp_path):
    r = C.compile_models([model_file], tmp_path / "out", toolchain="docker", image=image())
    inp = tf.keras.Input((4,), batch_size=1)
    other = TfliteModel(convert_int8_uint8_io(tf.keras.Model(inp, tf.keras.layers.Dense(2)(inp))))
    with pytest.raises(ToolchainError, match="does not belong to this model"):
        inspect_compiled(r.models["model"][0], r.log, other)


def test_auto_toolchain_names_both_when_neither_is_available(client, monkeypatch, model_file, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no native edgetpu_compiler
    with pytest.raises(ToolchainError) as exc:
        C.compile_models([model_file], tmp_path / "out", toolchain="auto", image="hwquant-test/absent:0")
    assert "Docker: Docker image 'hwquant-test/absent:0' not found" in exc.value.message
    assert "native: edgetpu_compiler is not on PATH" in exc.value.message


# -- the whole build: hwquant.build(..., target="edgetpu") with the stand-in image ---------------------------


@pytest.fixture(scope="module")
def build_inputs(tmp_path_factory, client):
    """A static-batch Keras CNN, calibration data, and a stand-in whose compiled model has its IO."""
    from tests.helpers import models

    d = tmp_path_factory.mktemp("edgetpu_build")
    model = models.keras_cnn(d, fmt="keras", batch_size=1)
    data = d / "calibration.npy"
    np.save(data, models.keras_samples(32))
    compiled = standin.make_compiled(convert_int8_uint8_io(models.build_keras_cnn(batch_size=1)))
    ok = standin.build_image(client, "hwquant-test/edgetpu-standin:build-ok", FULL, compiled, "ok")
    bad = standin.build_image(
        client, "hwquant-test/edgetpu-standin:build-ice", "13_fail_2.0_internal-compiler-error.log", compiled, "exit1"
    )
    return model, data, ok, bad


def test_build_end_to_end(build_inputs, tmp_path):
    import hwquant

    model, data, tag, _ = build_inputs
    result = hwquant.build(
        model,
        target="edgetpu",
        data=str(data),
        out=tmp_path / "out",
        backend_options={"image": tag, "toolchain": "docker"},
    )
    target = tmp_path / "out" / "edgetpu"
    for name in ("model.tflite", "model_edgetpu.tflite", "model_edgetpu.log", "edgetpu_compiler.log", "report.json"):
        assert (target / name).is_file(), name
    assert result.recipe["name"] == "int8-only" and result.recipe["fields"]["io_dtype"] == "uint8"
    assert result.ops["counts"] == {"target": 8}  # QUANTIZE, 2 CONV_2D, MAX_POOL_2D, RESHAPE, FC, SOFTMAX, QUANTIZE
    et = result.edgetpu
    assert et["toolchain"] == f"docker:{tag}"
    assert et["compiler"]["version"] == "14.1.317412892" and et["compiler"]["outcome"] == "succeeded"
    assert et["compiler"]["on_chip_memory_used"] == "3.27MiB" and et["compiler"]["edgetpu_subgraphs"] == 1
    assert et["compiled"]["op_counts"] == {CUSTOM_OP: 1}
    # the replayed log belongs to another model, so preflight and compiler disagree, and the report says where
    vs = et["preflight_vs_compiler"]
    assert vs["basis"] == "operator table" and vs["agree"] is False
    assert {d["operator"]: (d["predicted"]["tpu"], d["compiler"]["tpu"]) for d in vs["differences"]} == {
        "CONV_2D": (2, 4),
        "FULLY_CONNECTED": (1, 2),
        "MAX_POOL_2D": (1, 4),
    }  # RESHAPE, SOFTMAX, QUANTIZE agree
    assert "libedgetpu" in result.verify["edgetpu"]["note"]


def test_build_compiler_failure_leaves_nothing(build_inputs, tmp_path):
    import hwquant

    model, data, _, bad = build_inputs
    with pytest.raises(ToolchainError) as exc:
        hwquant.build(
            model,
            target="edgetpu",
            data=str(data),
            out=tmp_path / "out",
            backend_options={"image": bad, "toolchain": "docker"},
        )
    assert exc.value.exit_code == 4 and "Internal compiler error. Aborting!" in exc.value.message
    assert _no_artifact(tmp_path / "out") and not (tmp_path / "out" / "edgetpu").exists()
