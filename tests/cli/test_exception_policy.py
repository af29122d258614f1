"""The one exception policy at the CLI edge (hwquant.cli.main.run_guarded, hwquant.common.errors.classify):
OS errors, user code, memory, deep nesting and huge numbers are documented exit codes with a message and a
fix; only a fault in hwquant's own logic is exit 1 with its traceback."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from hwquant.cli.main import main
from hwquant.common import errors

SLOW = pytest.mark.slow  # a build each; the syntax and import cases stay in the quick selection
DOCUMENTED = {0, 2, 3, 4, 5, 130}


def invoke(*args: object, cwd: Path | None = None):
    old = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        return CliRunner().invoke(main, [str(a) for a in args])
    finally:
        os.chdir(old)


def assert_clean(r, code: int, *words: str) -> None:
    assert r.exit_code == code, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert "Traceback" not in r.output, r.output
    for w in words:
        assert w in r.output, (w, r.output)


@pytest.mark.parametrize("code", sorted(errors.OS_ERRORS))
def test_every_os_error_in_the_table_is_a_documented_exit_with_path_and_fix(code):
    exc = OSError(code, os.strerror(code), "/some/where")
    mapped = errors.classify(exc)
    assert mapped is not None and mapped.exit_code in DOCUMENTED - {0}
    assert "/some/where" in mapped.message and errno.errorcode[code] in mapped.message
    assert mapped.hint


def test_an_os_error_without_a_path_names_the_folder_being_written():
    mapped = errors.classify(OSError(errno.ENOSPC, "No space left on device"), writing="writing under build")
    assert mapped is not None and mapped.exit_code == 2
    assert mapped.message.startswith("writing under build: no space left")


def test_an_errno_outside_the_table_is_still_exit_2():
    mapped = errors.classify(OSError(errno.ECHILD, os.strerror(errno.ECHILD), "x"))
    assert mapped is not None and mapped.exit_code == 2 and os.strerror(errno.ECHILD) in mapped.message


def test_memory_deep_nesting_and_huge_numbers_are_exit_2_and_a_bug_is_not_classified():
    errors.note_memory("random:9: 9 samples, about 1.0 MiB")
    mem = errors.classify(MemoryError())
    assert mem is not None and mem.exit_code == 2 and "about 1.0 MiB" in mem.message
    assert errors.classify(RecursionError("maximum recursion depth exceeded")).exit_code == 2  # type: ignore[union-attr]
    assert errors.classify(OverflowError("int too large to convert")).exit_code == 2  # type: ignore[union-attr]
    for bug in (ZeroDivisionError(), KeyError("x"), AttributeError("y"), TypeError("z"), RuntimeError("w")):
        assert errors.classify(bug) is None, bug


def test_a_fault_in_hwquant_is_exit_1_with_its_traceback(keras_model, tmp_path, monkeypatch):
    """A genuine bug (here one planted in hwquant's own output-path check) is the only exit 1."""
    from hwquant.config import outpath

    def broken(*a, **k):
        return 1 / 0

    monkeypatch.setattr(outpath, "check_targets", broken)
    r = invoke("build", keras_model, "-o", tmp_path / "o", "--no-cache")
    assert r.exit_code == 1, r.output
    assert "Traceback" in r.output and "ZeroDivisionError" in r.output
    assert "internal error: ZeroDivisionError is a bug in hwquant" in r.output


def test_a_symlink_loop_as_out_is_exit_2(keras_model, tmp_path):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    r = invoke("build", keras_model, "-o", tmp_path / "a" / "o", "--no-cache")
    assert_clean(r, 2, "symbolic links", "hint")


def test_a_name_too_long_is_exit_2(keras_model, tmp_path):
    r = invoke("build", keras_model, "-o", tmp_path / ("x" * 300) / "o", "--no-cache")
    assert_clean(r, 2, "too long")


@pytest.mark.parametrize(
    "module,words",
    [
        ("def f(:\n", ["syntax error", "mod_case.py:1"]),
        (
            'raise RuntimeError("boom at import\\nsecond line")\n',
            ["importing mod_case:f raised RuntimeError: boom at import"],
        ),
        pytest.param("import sys\nsys.exit(0)\n", ["importing mod_case:f raised SystemExit: 0"], marks=SLOW),
        pytest.param("import sys\ndef f():\n    sys.exit(0)\n", ["mod_case:f() raised SystemExit: 0"], marks=SLOW),
        pytest.param(
            "def f():\n    yield [[0.0]]\n    raise MemoryError()\n",
            ["mod_case:f() raised MemoryError", "yielded 1 samples, about"],
            marks=SLOW,
        ),
        pytest.param(
            "def f():\n    def r(n): return r(n + 1)\n    r(0)\n", ["mod_case:f() raised RecursionError"], marks=SLOW
        ),
    ],
    ids=["syntax", "import-raises", "import-exits-0", "function-exits-0", "memory", "recursion"],
)
def test_user_code_is_exit_2_naming_the_source_and_first_line(keras_model, tmp_path, module, words):
    """Through a real `python -m hwquant.cli` process: sys.exit(0) in user code never makes hwquant exit 0."""
    (tmp_path / "mod_case.py").write_text(module)
    cmd = [sys.executable, "-m", "hwquant.cli", "build", str(keras_model), "--data", "mod_case:f", "-o", "out"]
    p = subprocess.run([*cmd, "--no-cache"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr and "second line" not in p.stderr, p.stderr
    for w in words:
        assert w in p.stderr, (w, p.stderr)
    assert not (tmp_path / "out" / "cpu").exists()


@pytest.mark.slow
def test_user_code_traceback_under_verbose(keras_model, tmp_path):
    (tmp_path / "mod_v.py").write_text("def f():\n    raise ValueError('user bug')\n")
    cmd = [sys.executable, "-m", "hwquant.cli", "-v", "build", str(keras_model), "--data", "mod_v:f", "--no-cache"]
    p = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert p.returncode == 2, p.stderr
    assert "Traceback" in p.stderr and "mod_v.py" in p.stderr and "mod_v:f() raised ValueError: user bug" in p.stderr


def _tmpfs(path: Path, size: str, *opts: str) -> bool:
    path.mkdir()
    if os.geteuid() != 0:
        return False
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join([f"size={size}", *opts]), "tmpfs", str(path)])
    return r.returncode == 0


@pytest.fixture
def full_disk(tmp_path):
    disk = tmp_path / "full"
    if not _tmpfs(disk, "12k"):
        pytest.skip("needs root to mount a small tmpfs")
    yield disk
    subprocess.run(["umount", str(disk)], check=False)


def test_a_full_out_disk_is_exit_2_naming_out_and_leaves_nothing(keras_model, full_disk):
    r = invoke("build", keras_model, "-o", full_disk / "o", "--no-cache")
    assert_clean(r, 2, "no space left on the device", str(full_disk / "o"), "ENOSPC", "hint")
    assert not (full_disk / "o").exists() or list((full_disk / "o").iterdir()) == [], list(full_disk.rglob("*"))


def test_bench_and_inspect_refuse_fifos_devices_and_non_finite_numbers(tmp_path):
    fifo = tmp_path / "m.tflite"
    os.mkfifo(fifo)
    assert_clean(invoke("inspect", fifo), 2, "FIFO")
    assert_clean(invoke("bench", fifo), 2, "FIFO")
    assert_clean(invoke("inspect", "/dev/zero"), 2, "character device")
    real = tmp_path / "r.tflite"
    real.write_bytes(b"x")
    for flag, value in [("--max-secs", "nan"), ("--max-secs", "inf"), ("--num-threads", "100000"), ("--seed", "-1")]:
        assert_clean(invoke("bench", real, flag, value), 2, flag)
    assert_clean(invoke("bench", real, "--reference", fifo), 2, "FIFO")


def test_max_samples_is_a_build_option_a_manifest_key_and_range_checked(keras_model, tmp_path, monkeypatch):
    monkeypatch.setenv("HWQUANT_MAX_SAMPLES", "1000")  # the option wins over the environment
    r = invoke("build", keras_model, "--data", "random:50", "--max-samples", "10", "-o", tmp_path / "o", "--no-cache")
    assert_clean(r, 2, "50 samples, over the limit of 10", "--max-samples")
    for bad in ("0", "-1", "nan", "99999999999999999999"):
        assert_clean(invoke("build", keras_model, "--max-samples", bad), 2, "--max-samples")
    manifest = tmp_path / "hwquant.toml"
    manifest.write_text(f'model = "{keras_model}"\ndata = "random:20"\nmax_samples = 5\nout = "o"\n[targets.cpu]\n')
    assert_clean(invoke("build", "--manifest", manifest, "--no-cache"), 2, "20 samples, over the limit of 5")
    manifest.write_text(f'model = "{keras_model}"\nmax_samples = -5\nout = "o"\n[targets.cpu]\n')
    assert_clean(invoke("build", "--manifest", manifest, "--no-cache"), 2, "max_samples", "got -5")
    monkeypatch.setenv("HWQUANT_MAX_SAMPLES", "8")  # without the option, the environment is the limit
    assert_clean(invoke("build", keras_model, "--data", "random:9", "--no-cache"), 2, "over the limit of 8")


def test_a_file_hwquant_writes_is_never_a_fifo_or_device(keras_model, tmp_path):
    """Opening a FIFO to write blocks until a reader comes: these used to hang (run as processes, so a
    regression fails by timeout instead of hanging the suite)."""
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    for args in (["init", keras_model, "-o", fifo, "--force"], ["init", keras_model, "-o", "/dev/null", "--force"]):
        cmd = [sys.executable, "-m", "hwquant.cli", *map(str, args)]
        p = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert p.returncode == 2 and "hwquant writes only regular files" in p.stderr, p.stderr
    report = tmp_path / "b" / "cpu"
    report.mkdir(parents=True)
    cmd = [sys.executable, "-m", "hwquant.cli", "report", str(report), "--markdown", str(fifo)]
    p = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "--markdown" in p.stderr and "FIFO" in p.stderr, p.stderr
