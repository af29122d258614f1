"""The exact tensor arena: the smallest size that allocates and invokes in TFLM.

Measured with the tflite-micro Python interpreter (the ``tflite_micro`` package, the same
allocator and kernels firmware links) by bisection. Each probe runs in a child process: TFLM
crashes (SIGSEGV) rather than failing cleanly when the arena cannot even hold its allocator,
and a child also keeps TFLM's allocation-failure messages off the user's terminal (``-v`` shows
them). A probe that dies on SIGSEGV counts as "does not fit" (too small an arena); one that dies
on any other signal (SIGABRT: a failed check in a kernel's prepare step) ends the measurement at
once with a ``contain.Crashed`` error (exit 4) naming the signal, the arena and the op known to
crash TFLM (``crashes.py``), and so does a model that crashed every probe up to ``LIMIT``. The first
probe that fits also reports the recording allocator's total; when that total fits and 16 bytes
less does not, it is the answer after three probes, otherwise bisection finds it.

The number is measured on a 64-bit host. Firmware on a 32-bit MCU needs at most as much:
TFLM's per-tensor and per-node runtime structs hold pointers, which are half the size there,
and the Python interpreter's recording allocator adds a little bookkeeping of its own.
The margin (``--mcu-arena-margin``, default ``DEFAULT_MARGIN``) covers a different TFLM version
or optimized kernels (e.g. CMSIS-NN scratch buffers) in the firmware.
"""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Any

from hwquant import ToolchainError, UsageError, contain

from .crashes import crash_about

ALIGN = 16  # TFLM aligns arena buffers to 16 bytes; sizes are searched and reported in these steps
DEFAULT_MARGIN = "10%"  # of the exact arena, rounded up to ALIGN; see module docstring
START = 16 * 1024  # first upper bound tried; doubled until the model fits
LIMIT = 256 * 1024 * 1024  # give up above this (no MCU has that much RAM)
PROBE_TIMEOUT_S = 120
_RECORDED_TOTAL = re.compile(r"Arena allocation total (\d+) bytes")
_RECORDED_TAIL = re.compile(r"Arena allocation tail (\d+) bytes")

# The one probe script (arena measurement here, TFLM's structures for ethos-u): exit 0 when the
# model allocates and invokes with the given arena, 3 when TFLM reports it does not fit; a crash
# (negative return code) also means "does not fit". With a 4th argument it prints the recording
# allocator's figures (to stderr, through TFLM's DebugLog).
_PROBE = r"""
import sys
import numpy as np
from tflite_micro.python.tflite_micro import runtime
model = open(sys.argv[1], "rb").read()
try:
    it = runtime.Interpreter.from_bytes(model, arena_size=int(sys.argv[2]))
    for i in range(int(sys.argv[3])):
        d = it.get_input_details(i)
        it.set_input(np.zeros(d["shape"], d["dtype"]), i)
    it.invoke()
    if len(sys.argv) > 4:  # report what the recording allocator used (TFLM prints to stderr)
        it.print_allocations()
except RuntimeError as exc:
    print(str(exc).splitlines()[0] if str(exc) else "RuntimeError", file=sys.stderr)
    sys.exit(3)
"""


def runtime_version() -> str | None:
    """The installed tflite-micro package's version (it measures the arena and runs the cross-check)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tflite-micro")
    except PackageNotFoundError:
        return None


def runtime_available() -> bool:
    try:
        from tflite_micro.python.tflite_micro import runtime  # noqa: F401
    except ImportError:
        return False
    return True


def require_runtime() -> Any:
    """The tflite_micro runtime module, or a ToolchainError saying how to get it."""
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError as exc:
        raise ToolchainError(
            "the TFLM Python interpreter (package tflite-micro) is not installed",
            hint="pip install tflite-micro (it measures the tensor arena and verifies the model)",
        ) from exc
    return runtime


@dataclass
class Probe:
    """One trial: did the model allocate and invoke in ``arena`` bytes?"""

    arena: int
    ok: bool
    detail: str


class ArenaProber:
    """Runs probes for one model (written once to a temporary file)."""

    def __init__(self, model: bytes, num_inputs: int):
        require_runtime()
        self.model, self.num_inputs = model, num_inputs
        self.probes: list[Probe] = []

    def __enter__(self) -> ArenaProber:
        fd, self.path = tempfile.mkstemp(suffix=".tflite", prefix="hwquant-arena-")
        with os.fdopen(fd, "wb") as f:
            f.write(self.model)
        return self

    def __exit__(self, *exc: object) -> None:
        os.unlink(self.path)

    def crashed(self, arena: int, p: subprocess.CompletedProcess[str]) -> contain.Crashed:
        """The error for a probe that died on a signal."""
        from hwquant import TfliteModel

        return contain.crashed(
            f"measuring the tensor arena ({arena}-byte probe)",
            "the TFLM interpreter",
            p.returncode,
            crash_about(TfliteModel(self.model, "artifact")),
            contain.verbose(),
            native=contain.last_line(p.stderr or ""),
        )

    def fits(self, arena: int, report: bool = False) -> bool:
        p = run_probe(self.path, arena, self.num_inputs, report, PROBE_TIMEOUT_S)
        lines = (p.stderr or "").strip().splitlines()
        if p.returncode < 0 and contain.verbose():
            sys.stderr.write(p.stderr or "")
        if p.returncode < 0 and p.returncode != -signal.SIGSEGV:
            raise self.crashed(arena, p)
        detail = "ok" if p.returncode == 0 else (lines[-1] if lines else f"exit code {p.returncode}")
        self.probes.append(Probe(arena, p.returncode == 0, detail))
        self.last = p
        total = _RECORDED_TOTAL.search(p.stderr or "")  # TFLM prints through DebugLog (stderr)
        self.recorded = int(total.group(1)) if (report and total and p.returncode == 0) else None
        return p.returncode == 0


def run_probe(path: str, arena: int, num_inputs: int, report: bool, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run the probe script on the model file ``path`` in a child process (see ``_PROBE``)."""
    try:
        return subprocess.run(
            [sys.executable, "-c", _PROBE, path, str(arena), str(num_inputs), *(["report"] if report else [])],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ToolchainError(f"the TFLM interpreter did not finish within {timeout:g} s (arena {arena} bytes)") from exc


def fits(model: bytes, num_inputs: int, arena: int) -> bool:
    """Whether ``model`` allocates and invokes in TFLM with an arena of ``arena`` bytes."""
    with ArenaProber(model, num_inputs) as prober:
        return bool(prober.fits(arena))


def structures_bytes(model: bytes, num_inputs: int, arena: int, timeout: float = PROBE_TIMEOUT_S) -> int:
    """TFLM's own persistent structures for ``model`` run in ``arena`` bytes: the recording
    allocator's tail (ethos-u adds it to the tensors Vela planned)."""
    with ArenaProber(model, num_inputs) as prober:
        p = run_probe(prober.path, arena, num_inputs, True, timeout)
    m = _RECORDED_TAIL.search(p.stderr or "")
    if p.returncode != 0 or not m:
        last = (p.stderr or "").strip().splitlines()[-1:] or [f"exit code {p.returncode}"]
        raise ToolchainError(
            f"the TFLM interpreter could not allocate the int8 model: {last[0]}",
            hint="rerun with -v; check `hwquant targets mcu --ops` for the CPU ops",
        )
    return int(m.group(1))


def measure(model: bytes, num_inputs: int) -> tuple[int, int]:
    """(smallest arena in ALIGN steps that allocates and invokes, number of probes run)."""
    with ArenaProber(model, num_inputs) as prober:
        lo, hi = 0, START  # lo: known to fail (or 0), hi: candidate
        while not prober.fits(hi, report=True):
            lo, hi = hi, hi * 2
            if hi > LIMIT:
                if prober.last.returncode < 0:  # it crashed (SIGSEGV) at every size: not an arena problem
                    raise prober.crashed(lo, prober.last)
                last = prober.probes[-1].detail
                raise ToolchainError(
                    f"the model does not allocate in TFLM even with {LIMIT // 2**20} MiB of arena ({last})",
                    hint="check that every op has a TFLM kernel (`hwquant targets mcu "
                    "--ops`); rerun with -v for TFLM's message",
                )
        # The recording allocator's total is the answer when the arena is tight; two probes prove it
        # (it fits, 16 bytes less does not). Otherwise, bisect as usual.
        if prober.recorded and lo < prober.recorded <= hi:
            guess = -(-prober.recorded // ALIGN) * ALIGN
            if not prober.fits(guess):
                lo = guess
            elif guess - ALIGN <= lo or not prober.fits(guess - ALIGN):
                return guess, len(prober.probes)
            else:
                hi = guess - ALIGN
        lo_steps, hi_steps = lo // ALIGN, hi // ALIGN
        while hi_steps - lo_steps > 1:
            mid = (lo_steps + hi_steps) // 2
            if prober.fits(mid * ALIGN):
                hi_steps = mid
            else:
                lo_steps = mid
        return hi_steps * ALIGN, len(prober.probes)


MAX_MARGIN_PERCENT = 1000  # ten times the exact arena
MAX_MARGIN_BYTES = 2**31 - 1  # an arena lives in a 32-bit address space
_PERCENT = re.compile(r"[0-9]+(?:\.[0-9]+)?%", re.ASCII)
_BYTES = re.compile(r"[0-9]+", re.ASCII)


def parse_margin(spec: object) -> tuple[float, int]:
    """'10%' -> (0.10, 0); '512' -> (0.0, 512). Only plain ASCII decimals (no sign, nan, inf, `1_000` or
    other scripts' digits), at most MAX_MARGIN_PERCENT % or MAX_MARGIN_BYTES bytes."""
    text = str(spec).strip()
    if _PERCENT.fullmatch(text):
        frac, fixed = float(text[:-1]) / 100.0, 0
    elif _BYTES.fullmatch(text):
        frac, fixed = 0.0, int(text)
    else:
        why = "is negative" if text.startswith("-") else "is neither a percentage nor a byte count"
        raise UsageError(
            f"--mcu-arena-margin {str(spec)[:40]!r} {why}",
            hint="e.g. --mcu-arena-margin 10% or --mcu-arena-margin 2048 (use 0 for the exact arena)",
        )
    if frac * 100 > MAX_MARGIN_PERCENT or fixed > MAX_MARGIN_BYTES:
        raise UsageError(
            f"--mcu-arena-margin {str(spec)[:40]!r} is larger than any arena needs",
            hint=f"at most {MAX_MARGIN_PERCENT}% or {MAX_MARGIN_BYTES} bytes",
        )
    return frac, fixed


def with_margin(exact: int, spec: object) -> int:
    """The arena to allocate in firmware: exact plus margin, rounded up to ALIGN bytes."""
    frac, fixed = parse_margin(spec)
    total = exact + math.ceil(exact * frac) + fixed
    return -(-total // ALIGN) * ALIGN
