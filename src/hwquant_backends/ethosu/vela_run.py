"""Run Vela (``python -m ethosu.vela``) in a subprocess and read what it writes.

Vela is called with an argv list, a timeout and every hardware option explicit (see config.py).
It writes ``<name>_vela.tflite``, ``<name>_summary_<system config>.csv`` and, with
``--verbose-performance``, ``<name>_per-layer.csv``; on stdout it lists the operators it leaves on
the CPU with its reasons ("Warning (supported operators) operator: OP, ofm: 'NAME'" then
"Reason: ..." lines) and the network summary. A failure is a ToolchainError (exit 4) quoting
Vela's own last words.
"""

from __future__ import annotations

import csv
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hwquant import TfliteModel, ToolchainError, contain

from .config import VelaConfig

TIMEOUT_S = 600
MODEL_STEM = "model"  # the int8 model is written as model.tflite; Vela names its outputs after it
_WARNING = re.compile(r"^Warning \(supported operators\) operator: (?P<op>[^,]+), ofm: '(?P<ofm>.*)'\s*$")
_COUNT = re.compile(r"^(?P<where>CPU|NPU) operators = (?P<n>\d+)")


def available() -> bool:
    try:
        import ethosu.vela  # noqa: F401
    except ImportError:
        return False
    return True


def version() -> str | None:
    """The installed Vela's version (its own ``__version__``), or None without Vela."""
    try:
        from ethosu.vela._version import __version__
    except ImportError:
        return None
    return str(__version__)


def argv(model: Path, out_dir: Path, config: VelaConfig) -> list[str]:
    return [
        sys.executable,
        "-m",
        "ethosu.vela",
        str(model),
        "--output-dir",
        str(out_dir),
        *config.argv(),
        "--verbose-performance",
        "--show-cpu-operations",
    ]


@dataclass
class VelaRun:
    """One Vela compilation: its files and what it said."""

    argv: list[str]
    out_dir: Path
    stdout: str
    version: str | None
    cpu_reasons: dict[str, list[str]] = field(default_factory=dict)  # ofm tensor name -> Vela's reasons
    counts: dict[str, int] = field(default_factory=dict)  # "CPU"/"NPU" -> operators, as Vela prints them

    @property
    def compiled_path(self) -> Path:
        return self.out_dir / f"{MODEL_STEM}_vela.tflite"

    @property
    def summary_path(self) -> Path:
        found = sorted(self.out_dir.glob(f"{MODEL_STEM}_summary_*.csv"))
        if not found:
            raise ToolchainError(f"Vela wrote no summary CSV in {self.out_dir}", hint="rerun with -v for Vela's output")
        return found[0]

    @property
    def per_layer_path(self) -> Path:
        return self.out_dir / f"{MODEL_STEM}_per-layer.csv"

    def compiled(self) -> TfliteModel:
        if not self.compiled_path.is_file():
            raise ToolchainError(
                f"Vela finished but wrote no {self.compiled_path.name}", hint="rerun with -v for Vela's output"
            )
        return TfliteModel(self.compiled_path.read_bytes(), "Vela output")

    def summary(self) -> dict[str, object]:
        """The summary CSV's one row, numbers as numbers, under Vela's own column names."""
        rows = read_csv(self.summary_path)
        if len(rows) != 1:
            raise ToolchainError(f"Vela's summary {self.summary_path.name} has {len(rows)} rows, expected 1")
        return rows[0]

    def per_layer(self) -> list[dict[str, object]]:
        return read_csv(self.per_layer_path) if self.per_layer_path.is_file() else []


def _number(text: str) -> int | float | str:
    try:
        f = float(text)
    except ValueError:
        return text
    return int(f) if f.is_integer() and "." not in text and "e" not in text.lower() else f


def read_csv(path: Path) -> list[dict[str, object]]:
    with open(path, newline="") as f:
        return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]


def parse_stdout(text: str) -> tuple[dict[str, list[str]], dict[str, int]]:
    """(CPU-op reasons by ofm name, operator counts) from Vela's console output."""
    reasons: dict[str, list[str]] = {}
    current: list[str] | None = None
    counts: dict[str, int] = {}
    for line in text.splitlines():
        m = _WARNING.match(line.strip())
        if m:
            current = reasons.setdefault(m.group("ofm"), [])
            continue
        if current is not None:
            if not line.strip():
                current = None
            else:
                text_line = line.strip()
                current.append(text_line[len("Reason:") :].strip() if text_line.startswith("Reason:") else text_line)
        c = _COUNT.match(line.strip())
        if c:
            counts[c.group("where")] = int(c.group("n"))
    return reasons, counts


def vela_error(stdout: str, stderr: str, returncode: int) -> str:
    """Vela's own words for a failure: the exception message it ended with, or its last line."""
    lines = [ln.strip() for ln in (stderr or "").splitlines() + (stdout or "").splitlines() if ln.strip()]
    for ln in reversed((stderr or "").splitlines()):
        m = re.match(r"^(?:\w+\.)*(\w*(?:Error|Exception)\w*): (.*)$", ln.strip())
        if m:  # Vela raised: its exception's name and message, without the module path
            return f"{m.group(1)}: {m.group(2).strip()}"
    return lines[-1] if lines else f"exit code {returncode}"


def compile_model(
    model: bytes,
    out_dir: Path,
    config: VelaConfig,
    timeout: int = TIMEOUT_S,
    verbose: Callable[[str], None] | None = None,
) -> VelaRun:
    """Write ``model`` as model.tflite into ``out_dir`` and compile it there with Vela.

    ``verbose`` (hwquant -v) receives Vela's command line and its whole console output."""
    if not available():
        raise ToolchainError("Vela (ethos-u-vela) is not installed", hint="pip install 'hwquant[ethos-u]'")
    out_dir.mkdir(parents=True, exist_ok=True)
    src = out_dir / f"{MODEL_STEM}.tflite"
    src.write_bytes(model)
    args = argv(src, out_dir, config)
    try:
        p = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False, cwd=out_dir)
    except subprocess.TimeoutExpired as exc:
        raise ToolchainError(
            f"Vela did not finish within {timeout} s", hint="try --ethos-u-optimise Size, or a smaller model"
        ) from exc
    if verbose is not None:
        verbose("vela: " + " ".join(args[3:]) + "\n" + (p.stdout or "") + (p.stderr or ""))
    if p.returncode < 0:  # a native crash (Vela's C++ regor backend): named like every contained crash
        raise contain.crashed("compiling the model", "Vela", p.returncode, verbose=verbose is not None)
    if p.returncode != 0:
        raise ToolchainError(
            f"Vela failed (exit {p.returncode}): {vela_error(p.stdout, p.stderr, p.returncode)}",
            hint="rerun with -v for Vela's full output; `hwquant targets ethos-u --ops` lists Vela's constraints",
        )
    reasons, counts = parse_stdout(p.stdout)
    return VelaRun(args, out_dir, p.stdout, version(), reasons, counts)


def preflight(
    model: bytes, config: VelaConfig, verbose: Callable[[str], None] | None = None
) -> tuple[VelaRun, TfliteModel, dict[str, object]]:
    """Compile in a temporary folder: (the run, the compiled model, the summary), nothing kept on disk."""
    with tempfile.TemporaryDirectory(prefix="hwquant-vela-") as tmp:
        run = compile_model(model, Path(tmp), config, verbose=verbose)
        compiled, summary = run.compiled(), run.summary()
    return run, compiled, summary
