"""Board profiles for parts with an Ethos-U NPU (``--board NAME`` on the ethos-u target).

A profile names the NPU configuration (Vela's accelerator config), the closest system config and
memory mode from Vela's ``Arm/vela.ini``, and the memory budgets the footprint is checked against
(through the mcu backend's budget check: compiled model + flash allowance, arena + RAM allowance).
Numbers come from the vendors' public product pages / briefs named in ``source``; the system
config is the shipped one nearest the part (vela.ini has no per-vendor entries), so Vela's
estimates are for that reference system, not a measurement of the part. Explicit
--ethos-u-accelerator-config / --ethos-u-system-config / --ethos-u-memory-mode options override a profile.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hwquant import UsageError
from hwquant_backends.mcu.boards import KiB, Board

MiB = 1024 * KiB


@dataclass(frozen=True)
class NpuBoard:
    name: str
    accelerator: str
    system_config: str
    memory_mode: str
    budget: Board  # RAM / flash budgets, the mcu backend's Board

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "accelerator_config": self.accelerator, "system_config": self.system_config,
                "memory_mode": self.memory_mode, **{k: v for k, v in self.budget.to_dict().items() if k != "name"}}


def _b(name, accel, system, mode, desc, ram, flash, source) -> NpuBoard:
    return NpuBoard(name, accel, system, mode, Board(name, desc, ram, flash, source))


BOARDS: dict[str, NpuBoard] = {b.name: b for b in (
    _b("alif-e7-hp", "ethos-u55-256", "Ethos_U55_High_End_Embedded", "Shared_Sram",
       "Alif Ensemble E7, high-performance subsystem (Cortex-M55 + Ethos-U55 256 MACs)", int(13.5 * MiB),
       int(5.5 * MiB),
       "Alif Semiconductor Ensemble E7 product page / product brief: Ethos-U55 with 256 MACs in the "
       "high-performance and 128 MACs in the high-efficiency subsystem, up to 13.5 MB SRAM and 5.5 MB MRAM "
       "(whole chip; budgets are chip totals)"),
    _b("alif-e7-he", "ethos-u55-128", "Ethos_U55_High_End_Embedded", "Shared_Sram",
       "Alif Ensemble E7, high-efficiency subsystem (Cortex-M55 + Ethos-U55 128 MACs)", int(13.5 * MiB),
       int(5.5 * MiB),
       "Alif Semiconductor Ensemble E7 product page / product brief (see alif-e7-hp); chip totals"),
    _b("himax-we2", "ethos-u55-64", "Ethos_U55_High_End_Embedded", "Shared_Sram",
       "Himax WiseEye2 HX6538 (Cortex-M55 + Ethos-U55 64 MACs) on a Seeed Grove Vision AI Module V2",
       2 * MiB, 16 * MiB,
       "Himax WiseEye2 (HX6538) product page: Cortex-M55, Ethos-U55 with 64 MACs, 2 MB on-chip SRAM; Seeed "
       "Grove Vision AI Module V2 wiki: 16 MB external flash. Vela's U55 High_End system runs the NPU at "
       "500 MHz; the WE2 runs at 400 MHz, so Vela's time estimates are optimistic by about 20%"),
    _b("renesas-ra8p1", "ethos-u55-256", "Ethos_U55_High_End_Embedded", "Shared_Sram",
       "Renesas RA8P1 (Cortex-M85 + Cortex-M33 + Ethos-U55 256 MACs)", 2 * MiB, 1 * MiB,
       "Renesas RA8P1 product page: Ethos-U55 NPU with 256 GOPS at 500 MHz (256 MACs), 2 MB SRAM, 1 MB MRAM "
       "(on-chip; larger models go to external OSPI flash: use --boards-file for that budget)"),
)}


def get_board(name: str) -> NpuBoard:
    try:
        return BOARDS[name]
    except KeyError:
        raise UsageError(f"unknown Ethos-U board {name!r}", hint=f"known boards: {', '.join(sorted(BOARDS))}; or "
                         "pass --ethos-u-accelerator-config/--ethos-u-system-config/--ethos-u-memory-mode directly") from None
