"""What `hwquant build` prints where: progress on a terminal's stderr only, -q (the verdict block and
errors, nothing else), --json (report.json on stdout, parseable, also on failure and on a cache hit)."""

from __future__ import annotations

import fcntl
import json
import os
import re
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from hwquant.cli.main import main
from hwquant.report.schema import validation_errors
from hwquant.report.verdict import block

HWQUANT = [sys.executable, "-m", "hwquant.cli"]
ANSI = re.compile(r"\x1b\[")
# lines only the progress display draws (stage names of the pipeline and of the search)
PROGRESS = ("loading the model", "calibrating on", "searching recipes", "candidate int8")


def _data(digits_dir: Path) -> list[str]:
    return ["--data", str(digits_dir / "calibration.npz"), "--eval-data", str(digits_dir / "eval.npz")]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "CI", "TERM")}
    return {**env, "TERM": "xterm-256color", "PYTHONPATH": os.pathsep.join(sys.path)}


def _run_with_terminal_stderr(argv: list[str], cwd: Path) -> tuple[int, str, str]:
    """Run ``argv`` with stderr on a pseudo-terminal (120x40) and stdout on a pipe, as in
    `hwquant build ... --json | jq`; returns (exit code, stdout, everything the terminal received)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL, cwd=cwd, env=_env())
    os.close(slave)
    seen = bytearray()

    def drain() -> None:  # the terminal must be read while the build runs, or its writes block
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the last writer closed the terminal
                return
            if not chunk:
                return
            seen.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    out, _ = proc.communicate(timeout=300)
    reader.join(timeout=30)
    os.close(master)
    return proc.returncode, out.decode(), seen.decode("utf-8", "replace")


def test_progress_is_drawn_on_a_terminal_and_never_on_stdout(digits_dir, tmp_path):
    """A real build with stderr on a terminal: the display names the stages and each search candidate;
    stdout (a pipe) gets the verdict, no progress and no control codes."""
    argv = [*HWQUANT, "build", str(digits_dir / "model.keras"), "-t", "cpu", "--recipe", "auto", *_data(digits_dir)]
    code, out, terminal = _run_with_terminal_stderr([*argv, "--no-cache", "-o", str(tmp_path / "out")], tmp_path)
    assert code == 0, terminal
    for text in PROGRESS:
        assert text in terminal, f"{text!r} not on the terminal:\n{terminal[-3000:]}"
    assert "\x1b[" in terminal  # drawn (and redrawn) in place, not printed line by line
    assert "verdict cpu: int8" in out
    assert not ANSI.search(out) and not any(text in out for text in PROGRESS)


@pytest.mark.slow
def test_no_progress_when_stderr_is_piped(digits_dir, tmp_path):
    """The same build with both streams on pipes (CI logs, scripts): no progress text and no control
    codes on stderr; the verdict on stdout."""
    argv = [*HWQUANT, "build", str(digits_dir / "model.keras"), "-t", "cpu", "--recipe", "auto", *_data(digits_dir)]
    r = subprocess.run(
        [*argv, "--no-cache", "-o", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_env(),
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert not ANSI.search(r.stderr) and not ANSI.search(r.stdout)
    assert not any(text in r.stderr + r.stdout for text in PROGRESS), r.stderr
    assert "verdict cpu: int8" in r.stdout


def _verdicts(out: Path, *folders: str) -> str:
    lines = []
    for f in folders:
        lines += block(json.loads((out / f / "report.json").read_text()), out / f)
    return "".join(line + "\n" for line in lines)


def test_quiet_prints_exactly_the_verdict_block(digits_dir, tmp_path):
    out = tmp_path / "out"
    r = CliRunner().invoke(
        main, ["build", str(digits_dir / "model.keras"), "-t", "cpu,mcu", *_data(digits_dir), "-q", "-o", str(out)]
    )
    assert r.exit_code == 0, r.output
    assert r.stdout == _verdicts(out, "cpu", "mcu")
    assert r.stderr == ""  # not the notes (mcu's arena line), nor the warnings: errors only


def test_quiet_still_prints_errors_with_their_exit_code(digits_dir, tmp_path):
    out = tmp_path / "out"
    r = CliRunner().invoke(
        main,
        ["build", str(digits_dir / "model.keras"), *_data(digits_dir), "-q", "--max-size", "1KiB", "-o", str(out)],
    )
    assert r.exit_code == 5, r.output  # a gate failed
    assert r.stdout == _verdicts(out, "cpu")
    assert r.stderr.startswith("error: ") and "max-size" in r.stderr


def _valid(report: dict) -> dict:
    assert validation_errors(report) == []
    return report


def test_json_prints_one_report_that_validates_also_from_the_cache(digits_dir, tmp_path):
    argv = ["build", str(digits_dir / "model.keras"), *_data(digits_dir), "--json", "-o", str(tmp_path / "out")]
    argv += ["--cache-dir", str(tmp_path / "cache")]
    first = CliRunner().invoke(main, argv)
    assert first.exit_code == 0, first.output
    report = _valid(json.loads(first.stdout))
    assert report["target"] == "cpu" and not report["cache"]["hit"]
    again = CliRunner().invoke(main, argv)
    assert again.exit_code == 0, again.output
    cached = _valid(json.loads(again.stdout))
    assert cached["cache"]["hit"] is True and cached["size_bytes"] == report["size_bytes"]
    assert "restored from cache" in again.stderr  # notes stay on stderr


def test_json_of_several_targets_is_keyed_by_folder_and_stays_valid_when_a_gate_fails(digits_dir, tmp_path):
    argv = ["build", str(digits_dir / "model.keras"), "-t", "cpu,mcu", *_data(digits_dir), "--json", "--no-cache"]
    r = CliRunner().invoke(main, [*argv, "-o", str(tmp_path / "out"), "--max-size", "1KiB"])
    assert r.exit_code == 5, r.output  # the exit code is the gate's, as without --json
    reports = json.loads(r.stdout)
    assert list(reports) == ["cpu", "mcu"]
    for folder, report in reports.items():
        assert (_valid(report).get("folder") or report["target"]) == folder
    assert "error: " in r.stderr


def test_quiet_and_json_leave_later_commands_as_they_were(digits_dir, tmp_path):
    """-q/--json are the build's own: a later command in the same process prints its notes again."""
    from hwquant.cli import shared
    from hwquant.common.console import is_quiet

    r = CliRunner().invoke(main, ["build", "nothing.keras", "-q", "--json", "-o", str(tmp_path / "o")])
    assert r.exit_code == 2 and "error: " in r.stderr
    assert not is_quiet() and shared.as_json is False


def test_workspace_json_is_keyed_by_job_id_and_quiet_prints_each_verdict(digits_dir, tmp_path, monkeypatch):
    """The workspace form shares -q and --json: one document keyed by job id; then, from the cache,
    each job's verdict block and nothing else (no jobs table)."""
    import shutil

    for name in ("a", "b"):
        folder = tmp_path / "models" / name
        folder.mkdir(parents=True)
        for f in ("model.keras", "calibration.npz", "eval.npz"):
            shutil.copy(digits_dir / f, folder / f)
        (folder / "hwquant.toml").write_text(
            'model = "model.keras"\ndata = "calibration.npz"\neval_data = "eval.npz"\nout = "build"\n[targets.cpu]\n'
        )
    monkeypatch.chdir(tmp_path)
    cache = ["--cache-dir", str(tmp_path / "cache")]
    r = CliRunner().invoke(main, ["build", "models/a", "models/b", "--json", *cache])
    assert r.exit_code == 0, r.output
    reports = json.loads(r.stdout)
    assert list(reports) == ["models-a.cpu", "models-b.cpu"]
    assert all(_valid(rep)["job"] == job for job, rep in reports.items())
    quiet = CliRunner().invoke(main, ["build", "models/a", "models/b", "-q", *cache])
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stdout == _verdicts(Path("models/a/build"), "cpu") + _verdicts(Path("models/b/build"), "cpu")
    assert quiet.stderr == ""
