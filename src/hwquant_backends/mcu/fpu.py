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

from hwquant import BuildOptions, IncompatibleError, UsageError

from . import boards

RECIPE = "int8-float-fallback"


def refusal(options: BuildOptions) -> UsageError | IncompatibleError | None:
    """Why this build may not keep layers float on the microcontroller, or None when it may."""
    o = options.backend_options
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
