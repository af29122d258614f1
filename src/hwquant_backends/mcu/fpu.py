"""Float layers on a microcontroller (mixed precision): only with ``--mcu-allow-float``, and only on a
board whose profile has a single-precision FPU (boards.py ``fpu``).

TFLM has float32 kernels for most ops (the float32 rows of ops.py), so a model that keeps its worst
layers float (recipe int8-float-fallback plus float layers) runs in TFLM; its float tensors take
four times the arena bytes of int8 ones, which the search reports per candidate. On a core without
an FPU (the RP2040's Cortex-M0+) every float operation is a software routine, so hwquant does not
offer float layers there even when asked. Without ``--mcu-board`` the flag is the user's word that
the target has an FPU (the build cannot check it), and the recipe's reasons say so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hwquant import BuildOptions, IncompatibleError, OpReport, OpVerdict, UsageError

from . import boards

RECIPE = "int8-float-fallback"


def refusal(options: BuildOptions) -> UsageError | IncompatibleError | None:
    """Why this build may not keep layers float on the microcontroller, or None when it may."""
    return refusal_of(options.backend_options)


def refusal_of(o: Mapping[str, Any]) -> UsageError | IncompatibleError | None:
    """:func:`refusal` from the mcu options alone (what a CheckRequest carries)."""
    if not o.get("allow_float"):
        return UsageError(
            f"mcu keeps every layer integer: recipe {RECIPE} (float layers) needs --mcu-allow-float "
            "and a board with a single-precision FPU",
            hint="pass --mcu-allow-float (with --mcu-board NAME of a board whose profile has fpu)",
        )
    name = o.get("board")
    if name and not boards.get_board(name, o.get("boards_file")).fpu:
        return IncompatibleError(
            f"board {name!r} has no single-precision FPU (its profile: fpu = false): float "
            "layers would run in software, so mcu keeps every layer integer",
            hint="choose a board with an FPU, or set fpu = true in your --mcu-boards-file profile if it has one",
        )
    return None


def reason(options: BuildOptions) -> str:
    """Why float layers are allowed (for the recipe's reasons)."""
    name = options.backend_options.get("board")
    if name:
        return f"float layers allowed: --mcu-allow-float and board {name!r} has a single-precision FPU"
    return (
        "float layers allowed: --mcu-allow-float without --mcu-board, taken as the user's word that the "
        "target has a single-precision FPU"
    )


FLOAT_DTYPES = ("float32", "float16")


def refuse_float_ops(report: OpReport, options: Mapping[str, Any]) -> list[OpVerdict]:
    """Float ops left in an integer build (the converter keeps e.g. LayerNorm's NEG float32 even in
    int8-only) are float layers too: TFLM has float32 kernels for them, but mcu runs them only with
    ``--mcu-allow-float`` on a board with an FPU, as it does the float layers of int8-float-fallback.
    Otherwise each is marked unsupported, naming the option, so the build stops with exit 3; returns
    the verdicts it marked."""
    why = refusal_of(options)
    if why is None or not any(v.dtype in ("int8", "int16") for v in report.verdicts):
        return []  # allowed, or a float model (a single-op table check; no mcu recipe builds one)
    marked = [v for v in report.verdicts if v.dtype in FLOAT_DTYPES and v.placement == "target"]
    for v in marked:
        v.placement, v.status = "unsupported", f"{v.dtype} (mcu runs integer ops)"
        v.reasons.append(
            f"a {v.dtype} op the converter kept in the integer model; mcu runs float ops only with "
            "--mcu-allow-float on a board with a single-precision FPU (TFLM has the float32 kernel)"
            if isinstance(why, UsageError)
            else f"a {v.dtype} op in the integer model: {why.message}"
        )
    floats = sorted({f"{v.op} ({v.dtype})" for v in marked})
    if floats:
        report.notes.append(f"float ops remain in the integer model: {', '.join(floats)}; {why.message}")
    return marked
