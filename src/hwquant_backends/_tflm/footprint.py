"""The flash / RAM footprint of a TFLM build and the budget check against a board (mcu, ethos-u).

Flash needed = model bytes + the demo's sample IO arrays + the TFLM runtime for the model's
kernel set (core + one measured figure per kernel, ``flash_figures.py``: an upper bound on Cortex-M4)
+ ``flash_allowance`` (what the platform adds besides: SDK, boot image; 0 by default).
RAM needed = tensor arena (with its margin) + stack (``flash_figures.STACK_BYTES``) +
``ram_allowance`` (the MicroInterpreter and resolver objects, libc, application state).
A ``Board`` holds the budgets; the mcu backend's profiles (and boards files) and the ethos-u
backend's NPU boards both build one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from hwquant import IncompatibleError

from . import flash_figures

KiB = 1024
# The TFLM runtime is estimated per kernel set from measured builds (flash_figures.py); the board
# allowance is only what a platform adds besides it (an SDK, a boot image), none by default.
DEFAULT_FLASH_ALLOWANCE = 0
# Runtime of unknown kernel set (callers that pass no op list, e.g. the ethos-u driver path).
UNKNOWN_KERNELS_RUNTIME = 64 * KiB
# MicroInterpreter + MicroMutableOpResolver objects (well under 1 KiB), libc and application
# state; the stack is counted separately (flash_figures.STACK_BYTES).
DEFAULT_RAM_ALLOWANCE = 8 * KiB


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    ram: int  # bytes of on-chip SRAM the application can use for the arena and its own data
    flash: int  # bytes of program storage (on-chip or the usual external QSPI flash)
    source: str  # where the numbers come from
    flash_allowance: int = DEFAULT_FLASH_ALLOWANCE
    ram_allowance: int = DEFAULT_RAM_ALLOWANCE
    fpu: bool = False  # a single-precision hardware FPU: TFLM's float kernels run at hardware speed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def footprint(
    model_bytes: int, arena: int, board: Board | None = None, ops: list[str] | None = None, io_bytes: int = 0
) -> dict[str, Any]:
    """Flash and RAM the build needs, with the board's budget when one is given.

    ``ops`` (the resolver's builtin ops) sizes the TFLM runtime from measured figures; without it
    a fixed allowance stands in. ``io_bytes``: the generated demo's sample input/expected output arrays."""
    fa = board.flash_allowance if board else DEFAULT_FLASH_ALLOWANCE
    ra = board.ram_allowance if board else DEFAULT_RAM_ALLOWANCE
    if ops is not None:
        runtime = flash_figures.runtime_bytes(ops)
    else:
        runtime = {"total_bytes": UNKNOWN_KERNELS_RUNTIME, "method": "fixed allowance: the kernel set is not known"}
    stack = flash_figures.STACK_BYTES
    out: dict[str, Any] = {
        "flash": {
            "model_bytes": model_bytes,
            "io_bytes": io_bytes,
            "runtime_bytes": runtime["total_bytes"],
            "runtime": runtime,
            "allowance_bytes": fa,
            "total_bytes": model_bytes + io_bytes + runtime["total_bytes"] + fa,
        },
        "ram": {"arena_bytes": arena, "stack_bytes": stack, "allowance_bytes": ra, "total_bytes": arena + stack + ra},
    }
    if board is not None:
        out["board"] = board.to_dict()
        out["flash"]["budget_bytes"] = board.flash
        out["ram"]["budget_bytes"] = board.ram
        out["fits"] = out["flash"]["total_bytes"] <= board.flash and out["ram"]["total_bytes"] <= board.ram
    return out


def check_budget(
    model_bytes: int, arena: int, board: Board, ops: list[str] | None = None, io_bytes: int = 0
) -> dict[str, Any]:
    """The footprint on ``board``; IncompatibleError (exit 3) with the numbers when it does not fit."""
    fp = footprint(model_bytes, arena, board, ops, io_bytes)
    problems = []
    f, r = fp["flash"], fp["ram"]
    if f["total_bytes"] > board.flash:
        problems.append(
            f"flash: model {f['model_bytes']} B + sample IO {f['io_bytes']} B + TFLM runtime "
            f"{f['runtime_bytes']} B + allowance {f['allowance_bytes']} B = "
            f"{f['total_bytes']} B > {board.flash} B ({board.flash // KiB} KiB)"
        )
    if r["total_bytes"] > board.ram:
        problems.append(
            f"RAM: tensor arena {r['arena_bytes']} B + stack {r['stack_bytes']} B + allowance "
            f"{r['allowance_bytes']} B = {r['total_bytes']} B > {board.ram} B ({board.ram // KiB} KiB)"
        )
    if problems:
        raise IncompatibleError(
            f"the model does not fit board {board.name!r}: " + "; ".join(problems),
            hint="shrink the model (fewer filters, smaller input), pick a larger board, "
            "or lower --mcu-arena-margin if the arena is just over",
        )
    return fp
