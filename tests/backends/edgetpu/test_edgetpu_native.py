"""The native edgetpu_compiler path, with stand-in compilers: small shell scripts that behave like
Coral's (same argv, a real published console log from ../shared/fixtures/edgetpu replayed) in the
ways that matter here. The real compiler cannot be installed in this sandbox (issue 11 item 10)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from hwquant.cli.main import main
from hwquant.common.errors import ToolchainError, UsageError
from hwquant_backends.edgetpu import compile as C
from hwquant_backends.edgetpu.artifact import inspect_compiled
from hwquant_backends.edgetpu.compiler_log import parse

FULL = "01_full_16.0_no-table_offchip-streaming.log"

# argv: -s -o OUT [flags] MODEL...; writes OUT/<stem>_edgetpu.tflite (from $COMPILED) and the op log
ARGS = r"""
out=.; models=""
while [ $# -gt 0 ]; do
  case "$1" in -o) out="$2"; shift 2 ;; -s) shift ;; -*) shift ;; *) models="$models $1"; shift ;; esac
done
"""


def fake_compiler(tmp_path: Path, body: str) -> Path:
    """Put an `edgetpu_compiler` shell script first on PATH; returns its folder."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    exe = bin_dir / "edgetpu_compiler"
    exe.write_text("#!/bin/sh\n" + ARGS + body)
    exe.chmod(0o755)
    return bin_dir


@pytest.fixture
def on_path(monkeypatch):
    def put(bin_dir: Path):
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    return put


@pytest.fixture
def model_file(tmp_path):
    f = tmp_path / "in" / "model.tflite"
    f.parent.mkdir()
    f.write_bytes(b"TFL3 not compiled by the stand-in")
    return f


def test_non_utf8_output_is_decoded_with_replacement(tmp_path, on_path, model_file, shared_fixtures):
    log = shared_fixtures / "edgetpu" / FULL
    on_path(
        fake_compiler(
            tmp_path,
            f'''printf 'Edge TPU Compiler \\377\\376 build\\n'
cat "{log}"
for m in $models; do s=$(basename "$m" .tflite); printf x > "$out/${{s}}_edgetpu.tflite"; done
''',
        )
    )
    r = C.compile_models([model_file], tmp_path / "out", toolchain="native")
    assert "\ufffd" in r.console and r.log.succeeded
    assert (tmp_path / "out" / "model_edgetpu.tflite").is_file()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def test_timeout_stops_the_whole_process_group(tmp_path, on_path, model_file):
    """The real compiler forks a compilation child: it must not outlive the timeout."""
    pidfile = tmp_path / "child.pid"
    on_path(
        fake_compiler(
            tmp_path,
            f'''echo "Edge TPU Compiler version 16.0.384591198"
sleep 30 &
echo $! > "{pidfile}"
wait
''',
        )
    )
    t0 = time.perf_counter()
    with pytest.raises(ToolchainError) as exc:
        C.compile_models([model_file], tmp_path / "out", toolchain="native", timeout=1)
    assert time.perf_counter() - t0 < 15  # before: waited for the child's pipe to close
    assert "did not finish within 1 s" in exc.value.message and "16.0" in exc.value.message
    child = int(pidfile.read_text())
    for _ in range(50):
        if not _alive(child):
            break
        time.sleep(0.1)
    assert not _alive(child), "the compiler's child process survived the timeout"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("value", [0, -5])
def test_non_positive_timeout_is_usage(value, model_file, tmp_path):
    with pytest.raises(UsageError, match="positive"):
        C.compile_models([model_file], tmp_path / "out", toolchain="native", timeout=value)


@pytest.mark.parametrize("value", ["0", "-5"])
def test_cli_rejects_non_positive_timeout_before_loading(keras_model, tmp_path, value):
    r = CliRunner().invoke(
        main,
        [
            "build",
            str(keras_model),
            "-t",
            "edgetpu",
            "--data",
            "random:4",
            "-o",
            str(tmp_path / "o"),
            "--no-cache",
            "--edgetpu-compiler-timeout",
            value,
        ],
    )
    assert r.exit_code == 2, r.output
    assert "--edgetpu-compiler-timeout" in r.output and "at least 1" in r.output
    assert not (tmp_path / "o").exists()


def test_wrapper_segfault_is_a_crash(tmp_path, on_path, model_file):
    on_path(
        fake_compiler(
            tmp_path,
            """echo "Edge TPU Compiler version 16.0.384591198"
echo "Started a compilation timeout timer of 180 seconds."
echo "/usr/bin/edgetpu_compiler: line 3:  4242 Segmentation fault      (core dumped) /usr/bin/edgetpu_compiler_bin \\"\\$@\\"" >&2
exit 139
""",
        )
    )
    with pytest.raises(ToolchainError) as exc:
        C.compile_models([model_file], tmp_path / "out", toolchain="native")
    assert "crashed (Segmentation fault (core dumped))" in exc.value.message
    assert exc.value.exit_code == 4
    text = "Edge TPU Compiler version 16.0\n/x/edgetpu_compiler: line 3:  7 Segmentation fault      (core dumped) y\n"
    assert parse(text).outcome == "crashed" and parse(text).crash == "Segmentation fault (core dumped)"


def test_garbage_compiled_model_is_a_toolchain_failure(tmp_path, on_path, model_file, shared_fixtures):
    """The compiler said it succeeded but wrote junk: exit 4, not 'pass a .tflite from the converter'."""
    log = shared_fixtures / "edgetpu" / FULL
    on_path(
        fake_compiler(
            tmp_path,
            f'''cat "{log}"
for m in $models; do s=$(basename "$m" .tflite); head -c 300 /dev/urandom > "$out/${{s}}_edgetpu.tflite"; done
''',
        )
    )
    r = C.compile_models([model_file], tmp_path / "out", toolchain="native")
    with pytest.raises(ToolchainError) as exc:
        inspect_compiled(r.models["model"][0], r.log, None)
    assert "reported success but wrote a damaged model_edgetpu.tflite" in exc.value.message
    assert exc.value.exit_code == 4


@pytest.mark.slow
def test_build_with_garbage_compiler_output_exits_4(keras_model, tmp_path, on_path, shared_fixtures):
    log = shared_fixtures / "edgetpu" / FULL
    on_path(
        fake_compiler(
            tmp_path,
            f'''cat "{log}"
for m in $models; do s=$(basename "$m" .tflite); printf 'TFL3garbage' > "$out/${{s}}_edgetpu.tflite"; done
''',
        )
    )
    out = tmp_path / "o"
    r = CliRunner().invoke(
        main,
        [
            "build",
            str(keras_model),
            "-t",
            "edgetpu",
            "--data",
            "random:8",
            "-o",
            str(out),
            "--no-cache",
            "--edgetpu-toolchain",
            "native",
        ],
    )
    assert r.exit_code == 4, r.output
    assert "damaged" in r.output and "pass a .tflite produced by the TFLite converter" not in r.output
    assert not out.exists() or list(out.iterdir()) == []
