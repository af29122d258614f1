"""Board profiles of the mcu target (``--mcu-board NAME``, ``--mcu-boards-file FILE``).

The footprint and the budget check they feed are shared with ethos-u (``_tflm.footprint``): flash =
model + sample IO + TFLM runtime + ``flash_allowance``; RAM = arena + stack + ``ram_allowance``.
A user profile can set its own allowances.

User profiles live in a TOML file::

    [boards.my-board]
    ram_kib = 512
    flash_kib = 2048
    flash_allowance_kib = 16   # optional: what the platform adds besides TFLM and the model (default 0)
    ram_allowance_kib = 8      # optional: objects, libc, application (default 8; the stack is added)
    description = "STM32H7 eval board"
    source = "where the numbers come from"
    fpu = true                 # optional: a single-precision FPU (default false); float layers need one

``fpu`` decides whether ``--mcu-allow-float`` may keep layers float (mixed precision, see fpu.py).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from hwquant import InputError, UsageError, load_toml
from hwquant_backends._tflm.footprint import (
    DEFAULT_FLASH_ALLOWANCE,
    DEFAULT_RAM_ALLOWANCE,
    Board,
    KiB,
    check_budget,
    footprint,
)

__all__ = ["BUILTIN_BOARDS", "Board", "check_budget", "footprint", "get_board", "load_boards"]

BUILTIN_BOARDS: dict[str, Board] = {
    b.name: b
    for b in (
        Board(
            "cortex-m4",
            "generic Cortex-M4F MCU, 256 KiB SRAM / 1 MiB flash",
            256 * KiB,
            1024 * KiB,
            "a common mid-range Cortex-M4F configuration, e.g. Nordic nRF52840 or Microchip ATSAMD51J20A "
            "(1 MB flash, 256 KB SRAM per their datasheets). fpu: both are Cortex-M4F parts (nRF52840 Product "
            "Specification, 'Key features': Arm Cortex-M4 with floating-point unit; SAM D5x/E5x datasheet: Cortex-M4 "
            "processor with single-precision FPU)",
            fpu=True,
        ),
        Board(
            "esp32-s3",
            "Espressif ESP32-S3 (dual Xtensa LX7) on an ESP32-S3-WROOM-1-N8 module",
            512 * KiB,
            8 * 1024 * KiB,
            "ESP32-S3 Series Datasheet, 'Memory': 512 KB internal SRAM; ESP32-S3-WROOM-1 datasheet: N8 variant "
            "has 8 MB quad SPI flash. ram_allowance is an estimate of what ESP-IDF (FreeRTOS, caches, drivers) "
            "keeps; flash_allowance covers the ESP-IDF bootloader-launched app image overhead. fpu: ESP-IDF "
            "Programming Guide (ESP32-S3), FreeRTOS 'Floating Point Usage': the LX7 cores have a single-precision "
            "FPU (float in hardware, double in software)",
            flash_allowance=256 * KiB,
            ram_allowance=128 * KiB,
            fpu=True,
        ),
        Board(
            "nrf52840",
            "Nordic nRF52840 (Cortex-M4F, 64 MHz)",
            256 * KiB,
            1024 * KiB,
            "nRF52840 Product Specification v1.8, 'Key features': 1 MB flash, 256 KB RAM; Arm Cortex-M4 with "
            "floating-point unit (single precision)",
            fpu=True,
        ),
        Board(
            "rp2040",
            "Raspberry Pi RP2040 (dual Cortex-M0+) on a Raspberry Pi Pico",
            264 * KiB,
            2048 * KiB,
            "RP2040 Datasheet, section 2.6 'Memory': 264 KB on-chip SRAM, no on-chip flash; Raspberry Pi Pico "
            "Datasheet: 2 MB QSPI flash (W25Q16JV). flash_allowance: the runtime figures are measured for "
            "Cortex-M4 (Thumb-2); Cortex-M0+ code (Thumb-1) is larger, not measured here: 32 KiB stated on top. "
            "fpu: none; the Cortex-M0+ has no FPU, float arithmetic runs in software (RP2040 Datasheet, "
            "'Bootrom': the fast floating-point library)",
            flash_allowance=32 * KiB,
            fpu=False,
        ),
    )
}


_KIB_KEYS = ("ram_kib", "flash_kib", "flash_allowance_kib", "ram_allowance_kib")
_TEXT_KEYS = ("description", "source")
_BOOL_KEYS = ("fpu",)
MAX_KIB = 2**32  # 4 TiB: far beyond any board, and a figure that stays finite and exact in bytes


def _kib(path: str | Path, name: str, key: str, value: Any, positive: bool) -> int:
    """A KiB figure of a boards file as bytes; InputError naming file, board and key unless it is a
    finite number (>= 0, or > 0 for the budgets). A quoted number is refused: it is not a number."""
    where = f"--mcu-boards-file {path}: boards.{name}.{key}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(
            f"{where}: expected a number of KiB, got {type(value).__name__} {value!r}",
            hint=f"write {key} = 256 (a TOML number, not a string)",
        )
    if not math.isfinite(value) or value < 0 or (positive and value == 0) or value > MAX_KIB:
        raise InputError(
            f"{where}: expected a finite number of KiB {'> 0' if positive else '>= 0'} and at most {MAX_KIB:,}, "
            f"got {value!r}"
        )
    return int(value * KiB)


def _board(path: str | Path, name: str, t: Any) -> Board:
    """One ``[boards.NAME]`` table, every value type-checked."""
    if not isinstance(t, dict):
        raise InputError(
            f"--mcu-boards-file {path}: boards.{name} must be a table [boards.{name}], got {type(t).__name__} {t!r}"
        )
    extra = set(t) - {*_KIB_KEYS, *_TEXT_KEYS, *_BOOL_KEYS}
    if extra:
        raise InputError(
            f"--mcu-boards-file {path}: board {name!r} has unknown key(s) {sorted(extra)}",
            hint=f"known keys: {', '.join((*_KIB_KEYS, *_TEXT_KEYS, *_BOOL_KEYS))}",
        )
    for key in ("ram_kib", "flash_kib"):
        if key not in t:
            raise InputError(
                f"--mcu-boards-file {path}: board {name!r} needs numeric ram_kib and flash_kib "
                f"(boards.{name}.{key} is missing)"
            )
    for key in _TEXT_KEYS:
        if key in t and not isinstance(t[key], str):
            raise InputError(
                f"--mcu-boards-file {path}: boards.{name}.{key}: expected a string, "
                f"got {type(t[key]).__name__} {t[key]!r}"
            )
    for key in _BOOL_KEYS:
        if key in t and not isinstance(t[key], bool):
            raise InputError(
                f"--mcu-boards-file {path}: boards.{name}.{key}: expected true or false, "
                f"got {type(t[key]).__name__} {t[key]!r}",
                hint=f"write {key} = true (a TOML boolean)",
            )
    return Board(
        name,
        t.get("description", name),
        _kib(path, name, "ram_kib", t["ram_kib"], True),
        _kib(path, name, "flash_kib", t["flash_kib"], True),
        t.get("source", str(path)),
        _kib(path, name, "flash_allowance_kib", t.get("flash_allowance_kib", DEFAULT_FLASH_ALLOWANCE / KiB), False),
        _kib(path, name, "ram_allowance_kib", t.get("ram_allowance_kib", DEFAULT_RAM_ALLOWANCE / KiB), False),
        t.get("fpu", False),
    )


def load_boards(path: str | Path | None = None) -> dict[str, Board]:
    """Built-in profiles, overridden and extended by the ``[boards.NAME]`` tables of ``path``."""
    boards = dict(BUILTIN_BOARDS)
    if path is None:
        return boards
    doc = load_toml(Path(path), "--mcu-boards-file")
    tables = doc.get("boards")
    if not isinstance(tables, dict) or not tables:
        raise InputError(
            f"--mcu-boards-file {path} defines no [boards.NAME] tables",
            hint="see `hwquant targets mcu` or docs/targets/mcu.md for the format",
        )
    for name, t in tables.items():
        boards[name] = _board(path, name, t)
    return boards


def get_board(name: str, path: str | Path | None = None) -> Board:
    boards = load_boards(path)
    try:
        return boards[name]
    except KeyError:
        raise UsageError(
            f"unknown board {name!r}",
            hint=f"known boards: {', '.join(sorted(boards))}; define your own with --mcu-boards-file FILE.toml",
        ) from None
