"""Ctrl-C and SIGTERM are never lost: exit 130, the earlier build intact, nothing left behind.

Real subprocess builds, signalled at several points of the pipeline; a data function whose
finalizer swallows the KeyboardInterrupt (as TensorFlow's finalizers do) proves that a dropped
interrupt is still honoured.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from hwquant.cli.main import main
from hwquant.common import interrupts
from tests.helpers import models


def _env(tmp: Path) -> dict:
    (tmp / "tmpdir").mkdir(exist_ok=True)
    return {**os.environ, "TMPDIR": str(tmp / "tmpdir"), "HWQUANT_CACHE_DIR": str(tmp / "cache")}


def _leftovers(tmp: Path, out: Path) -> list[str]:
    """Temporary folders an interrupted build could leave: in OUT, in TMPDIR, in the cache."""
    left = [p.name for p in out.iterdir() if p.name.startswith(".")] if out.exists() else []
    left += [p.name for p in (tmp / "tmpdir").iterdir() if p.name != "hwquant-locks"]
    cache = tmp / "cache"
    left += [str(p) for p in cache.rglob(".*tmp*")] if cache.exists() else []
    return left


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_handler_records_an_interrupt_a_finalizer_swallows():
    """The mechanism: SIGINT raised inside __del__ is dropped by Python, yet checkpoint() raises it."""
    seen = []

    class Finalizer:
        def __del__(self):
            seen.append("finalizer ran")
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(10000):  # the handler runs in this frame, and Python drops its exception
                pass
            seen.append("not reached: the handler raised")

    previous = signal.getsignal(signal.SIGINT)
    with interrupts.handling():
        Finalizer()
        seen.append("the caller went on")  # the KeyboardInterrupt never reached it
        assert interrupts.pending() == signal.SIGINT
        with pytest.raises(interrupts.Interrupted):
            interrupts.checkpoint()
    assert seen == ["finalizer ran", "the caller went on"]
    assert signal.getsignal(signal.SIGINT) is previous
    assert interrupts.pending() is None  # the block has ended: its signal does not leak into what runs next
    interrupts.checkpoint()


SWALLOWING_DATA = textwrap.dedent("""
    import os, signal
    import numpy as np

    class Finalizer:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(10000):  # the KeyboardInterrupt is raised here, and Python drops it
                pass

    def samples():
        Finalizer()
        rng = np.random.default_rng(0)
        return [rng.uniform(0, 1, (1, 8, 8, 1)).astype(np.float32) for _ in range(20)]
""")


@pytest.mark.slow
def test_interrupt_swallowed_by_a_finalizer_still_stops_the_build(keras_model, tmp_path):
    """Before: the build went on and replaced the earlier one with exit 0."""
    out = tmp_path / "o"
    assert CliRunner().invoke(main, ["build", str(keras_model), "-o", str(out), "--no-cache"]).exit_code == 0
    before = _snapshot(out / "cpu")
    (tmp_path / "swallow_data.py").write_text(SWALLOWING_DATA)
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "hwquant.cli",
            "build",
            str(keras_model),
            "--data",
            "swallow_data:samples",
            "-o",
            str(out),
        ],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 130, r.stderr
    assert "interrupted: no artifact was written" in r.stderr
    assert "Traceback" not in r.stderr and "Exception ignored" not in r.stderr, r.stderr
    assert _snapshot(out / "cpu") == before
    assert _leftovers(tmp_path, out) == []


@pytest.mark.slow
def test_signals_at_every_stage_keep_the_earlier_build(keras_model, tmp_path):
    """SIGINT and SIGTERM sent at points spread over a build's whole run (load, data, convert,
    verify, commit): exit 130 with the earlier build untouched, or (signal after the end) exit 0
    with a complete new build; never a traceback, never a temporary folder left behind."""
    out = tmp_path / "o"
    assert CliRunner().invoke(main, ["build", str(keras_model), "-o", str(out), "--no-cache"]).exit_code == 0
    before = _snapshot(out / "cpu")
    np.savez(tmp_path / "eval.npz", image=models.keras_samples(20000))
    np.savez(tmp_path / "calib.npz", image=models.keras_samples(40))

    def cmd(seed):
        return [
            sys.executable,
            "-m",
            "hwquant.cli",
            "build",
            str(keras_model),
            "--data",
            str(tmp_path / "calib.npz"),
            "--eval-data",
            str(tmp_path / "eval.npz"),
            "-o",
            str(out),
            "--seed",
            str(seed),
        ]

    env = _env(tmp_path)
    t0 = time.perf_counter()
    ref = subprocess.run(cmd(99), env=env, capture_output=True, text=True, timeout=300)  # how long a whole build takes
    whole = time.perf_counter() - t0
    assert ref.returncode == 0, ref.stderr
    before = _snapshot(out / "cpu")
    interrupted = 0
    for i, fraction in enumerate((0.2, 0.45, 0.7, 0.85, 0.95)):
        sig = (signal.SIGINT, signal.SIGTERM)[i % 2]
        proc = subprocess.Popen(cmd(i), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(whole * fraction)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=300)
        assert "Traceback" not in err, err
        assert _leftovers(tmp_path, out) == [], (fraction, sig, err)
        assert sorted(p.name for p in out.iterdir()) == ["cpu"]
        if proc.returncode == 130:
            interrupted += 1
            assert "interrupted: no artifact was written" in err, err
            assert _snapshot(out / "cpu") == before, (fraction, sig, proc.returncode, err)
        elif proc.returncode == -sig:  # before the CLI installed its handler, or after it finished
            now = _snapshot(out / "cpu")
            assert now == before or json.loads(now["report.json"])["target"] == "cpu", (fraction, sig)
            before = now
        else:  # the signal came after the build had finished
            assert proc.returncode == 0, err
            before = _snapshot(out / "cpu")
            assert "report.json" in before and "model.tflite" in before
    assert interrupted >= 3, "too few runs were interrupted to prove anything"


@pytest.mark.slow
def test_multi_target_interrupt_names_exactly_what_was_written(keras_model, tmp_path):
    """SIGINT once the first target is in place: the message names it, the second is untouched."""
    out = tmp_path / "o"
    r = CliRunner().invoke(
        main,
        [
            "build",
            str(keras_model),
            "-t",
            "cpu,mcu",
            "--data",
            "random:20",
            "-o",
            str(out),
            "--no-cache",
            "--seed",
            "1",
        ],
    )
    assert r.exit_code == 0, r.output
    before = {t: _snapshot(out / t) for t in ("cpu", "mcu")}
    ino = (out / "cpu").stat().st_ino
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hwquant.cli",
            "build",
            str(keras_model),
            "-t",
            "cpu,mcu",
            "--data",
            "random:20",
            "-o",
            str(out),
            "--no-cache",
            "--seed",
            "2",
        ],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 300
    while time.time() < deadline and (out / "cpu").stat().st_ino == ino and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert f"interrupted: wrote only {out / 'cpu'}" in err, err
    assert _snapshot(out / "cpu") != before["cpu"]  # the new cpu build, complete
    assert _snapshot(out / "mcu") == before["mcu"]  # the earlier mcu build, untouched
    assert _leftovers(tmp_path, out) == []


def _child(code: str, *argv: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_an_idle_jobs_worker_ignores_ctrl_c_and_ends_quietly_on_sigterm():
    """interrupts.in_worker (the --jobs pool's initializer): SIGINT is the parent's to act on; SIGTERM ends an
    idle worker at once, with no traceback; one that is building (working()) stops with Interrupted."""
    p = _child(
        """
        import sys, time
        from hwquant.common import interrupts
        interrupts.in_worker()
        print("idle", flush=True)
        time.sleep(60)
        """
    )
    assert p.stdout.readline().strip() == "idle"
    p.send_signal(signal.SIGINT)
    time.sleep(0.5)
    assert p.poll() is None, "an idle worker must not act on Ctrl-C"
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 130 and err == "", (p.returncode, err)
    busy = _child(
        """
        import time
        from hwquant.common import interrupts
        interrupts.in_worker()
        try:
            with interrupts.working():
                print("busy", flush=True)
                time.sleep(60)
        except KeyboardInterrupt as exc:
            print("stopped", type(exc).__name__, flush=True)
        """
    )
    assert busy.stdout.readline().strip() == "busy"
    busy.send_signal(signal.SIGTERM)
    out, err = busy.communicate(timeout=30)
    assert busy.returncode == 0 and out.strip() == "stopped Interrupted", (out, err)


def test_early_handler_is_the_command_lines_only():
    """hwquant.common.early installs its exit-130 handler in the hwquant console script only (and in
    `python -m hwquant.cli`, which test_signals_and_temp runs): a library caller keeps Python's."""
    from hwquant.common import early

    env = {**os.environ, "PYTHONPATH": str(Path(early.__file__).parents[2])}
    check = "import signal, hwquant.common.early as e; print(signal.getsignal(signal.SIGINT) is e.exit_at_once)"
    for argv0, installed in (("-c", "False"), ("/usr/local/bin/hwquant", "True")):
        code = f"import sys; sys.argv[0] = {argv0!r}\n{check}"
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
        assert r.stdout.strip() == installed, (argv0, r)
