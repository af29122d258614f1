"""Signals and temporary files (issue 20 item 7): an early Ctrl-C or SIGTERM is exit 130 with one line; a build,
plain or with --jobs, finished or interrupted, leaves nothing in $TMPDIR (but the output locks) and creates
nothing under $HOME. Real `python -m hwquant.cli` processes throughout."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import models

REPO = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.update(extra)
    return env


def _startup_s() -> float:
    """How long a bare interpreter of this venv takes to start here (no hwquant code runs before that)."""
    t = time.monotonic()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.monotonic() - t


def _cli(*args: object, cwd: Path, env: dict[str, str], **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "hwquant.cli", *map(str, args)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_early_signal_is_exit_130_with_one_line(keras_model, tmp_path, signum):
    """Sent while Python imports numpy, click and the backends (the first ~0.3 s), before the command's own
    handler exists. Delays shorter than this machine's bare interpreter start land in Python's own start-up,
    before any hwquant code runs, and are not tested."""
    start = _startup_s()
    delays = sorted({max(d, 1.5 * start) for d in (0.05, 0.1, 0.2, 0.3)})
    for delay in delays:
        p = _cli("build", keras_model, "-o", tmp_path / f"o{delay}", "--no-cache", cwd=tmp_path, env=_env())
        time.sleep(delay)
        p.send_signal(signum)
        _, err = p.communicate(timeout=120)
        assert p.returncode == 130, (delay, p.returncode, err)
        assert "Traceback" not in err and "KeyboardInterrupt" not in err, (delay, err)
        lines = [ln for ln in err.splitlines() if ln.startswith("interrupted")]
        assert lines == ["interrupted: no artifact was written"], (delay, err)
        assert not (tmp_path / f"o{delay}" / "cpu").exists()


def test_importing_hwquant_as_a_library_keeps_the_callers_signal_handlers():
    code = "import signal, hwquant; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"
    out = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True", out


def _fresh(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmp.mkdir()
    env = _env(HOME=str(home), TMPDIR=str(tmp))
    for key in ("KERAS_HOME", "MPLCONFIGDIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
        env.pop(key, None)
    return home, tmp, env


def _left(home: Path, tmp: Path) -> list[str]:
    """What a command left in HOME and TMPDIR, but the output folders' lock files (shared, by design)."""
    in_home = [str(p) for p in home.rglob("*")]
    in_tmp = [str(p) for p in tmp.rglob("*") if not (p.name == "hwquant-locks" or p.parent.name == "hwquant-locks")]
    return in_home + in_tmp


@pytest.mark.slow
def test_a_build_leaves_nothing_in_tmpdir_or_home(keras_model, tmp_path):
    home, tmp, env = _fresh(tmp_path)
    np.savez(tmp_path / "d.npz", image=models.keras_samples(20))
    cmd = ("build", keras_model, "-t", "cpu,mcu", "--data", tmp_path / "d.npz", "-o", tmp_path / "out", "--no-cache")
    p = _cli(*cmd, cwd=tmp_path, env=env)
    _, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    assert (tmp_path / "out" / "mcu" / "model.tflite").is_file()
    assert _left(home, tmp) == []


def _workspace(tmp_path: Path, keras_model: Path) -> Path:
    ws = tmp_path / "ws"
    for name in ("a", "b"):
        (ws / name).mkdir(parents=True)
        shutil.copy(keras_model, ws / name / "m.keras")
        np.savez(ws / name / "d.npz", image=models.keras_samples(20))
        (ws / name / "hwquant.toml").write_text('model = "m.keras"\ndata = "d.npz"\n[targets.cpu]\n[targets.mcu]\n')
    return ws


@pytest.mark.slow
def test_jobs_workers_leave_nothing_and_an_interrupt_prints_no_traceback(keras_model, tmp_path):
    """A --jobs 2 fan-out, to the end and then interrupted (Ctrl-C to the whole process group, as a terminal
    sends it) at points where workers are loading, building or idle."""
    home, tmp, env = _fresh(tmp_path)
    ws = _workspace(tmp_path, keras_model)
    p = _cli("build", "a", "b", "--jobs", "2", "--no-cache", cwd=ws, env=env)
    _, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    assert _left(home, tmp) == []
    for delay in (3.0, 8.0):
        for name in ("a", "b"):
            shutil.rmtree(ws / name / "build", ignore_errors=True)
        p = _cli("build", "a", "b", "--jobs", "2", "--no-cache", cwd=ws, env=env, start_new_session=True)
        time.sleep(delay)
        os.killpg(p.pid, signal.SIGINT)
        _, err = p.communicate(timeout=300)
        assert p.returncode in (0, 130), (delay, err)  # 0: it finished before the signal came
        assert "Traceback" not in err, (delay, err)
        if p.returncode == 130:
            assert err.rstrip().splitlines()[-1].startswith("interrupted: "), err
        assert _left(home, tmp) == [], delay
