"""Board profiles for parts with an Ethos-U NPU (``--board NAME`` on the ethos-u target).

A profile names the NPU configuration (Vela's accelerator config), the closest system config and
memory mode from Vela's ``Arm/vela.ini``, and the memory budgets the footprint is checked against
(through the TFLM budget check shared with mcu: compiled model + flash allowance, arena + RAM allowance).
Numbers come from the vendors' public product pages / briefs named in ``source``; the system
config is the shipped one nearest the part (vela.ini has no per-vendor entries), so Vela's
estimates are for that reference system, not a measurement of the part. Explicit
--ethos-u-accelerator-config / --ethos-u-system-config / --ethos-u-memory-mode options override a profile.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hwquant import UsageError
from hwquant_backends._tflm.footprint import Board, KiB

MiB = 1024 * KiB


@dataclass(frozen=True)
class NpuBoard:
    name: str
    accelerator: str
    system_config: str
    memory_mode: str
    budget: Board  # RAM / flash budgets (the TFLM footprint's Board)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "accelerator_config": self.accelerator,
            "system_config": self.system_config,
            "memory_mode": self.memory_mode,
            **{k: v for k, v in self.budget.to_dict().items() if k != "name"},
        }


def _b(name: str, accel: str, system: str, mode: str, desc: str, ram: int, flash: int, source: str) -> NpuBoard:
    return NpuBoard(name, accel, system, mode, Board(name, desc, ram, flash, source))


# Checked 2026-11-27 against the pages named in each ``source`` (found with the project's search of
# stored public pages/docs; titles and addresses as that search gives them). A figure no page read
# here states is marked "unconfirmed" in its source and kept as a budget only.
_ALIF_RTSS = (
    'Alif Semiconductor Ensemble Software Reference Manual, "2.4 Real-Time Subsystem (RTSS)" '
    "(swrm.alifsemi.com/Content/2.4%20Real%20Time%20SS.htm): RTSS-HP Cortex-M55 up to 400 MHz with "
    "256 KB ITCM + 1 MB DTCM and an Ethos-U55 with 256 MACs; RTSS-HE Cortex-M55 up to 160 MHz with "
    "256 KB ITCM + 256 KB DTCM and an Ethos-U55 with 128 MACs. The page gives CPU clocks, not the NPU "
    "clock (Vela's U55 High_End system assumes 500 MHz)"
)
_ALIF_MEM = (
    "E7 chip totals 13.5 MB SRAM / 5.5 MB MRAM: unconfirmed (no page read here states them; the "
    "budgets are chip totals shared by all cores, not the subsystem's TCM)"
)

BOARDS: dict[str, NpuBoard] = {
    b.name: b
    for b in (
        _b(
            "alif-e7-hp",
            "ethos-u55-256",
            "Ethos_U55_High_End_Embedded",
            "Shared_Sram",
            "Alif Ensemble E7, high-performance subsystem (Cortex-M55 + Ethos-U55 256 MACs)",
            int(13.5 * MiB),
            int(5.5 * MiB),
            f"{_ALIF_RTSS}. {_ALIF_MEM}",
        ),
        _b(
            "alif-e7-he",
            "ethos-u55-128",
            "Ethos_U55_High_End_Embedded",
            "Shared_Sram",
            "Alif Ensemble E7, high-efficiency subsystem (Cortex-M55 + Ethos-U55 128 MACs)",
            int(13.5 * MiB),
            int(5.5 * MiB),
            f"{_ALIF_RTSS}. {_ALIF_MEM}",
        ),
        _b(
            "himax-we2",
            "ethos-u55-64",
            "Ethos_U55_High_End_Embedded",
            "Shared_Sram",
            "Himax WiseEye2 HX6538 (Cortex-M55 + Ethos-U55 64 MACs) on a Seeed Grove Vision AI Module V2",
            2 * MiB,
            16 * MiB,
            'Seeed wiki "Grove Vision AI Module V2" (wiki.seeedstudio.com/grove_vision_ai_v2/): WiseEye2 HX6538, '
            "dual-core Cortex-M55 with an integrated Ethos-U55. 64 MACs: Himax's own Vela command for the WE2 "
            "(HimaxWiseEyePlus YOLOv8_on_WE2 README: vela --accelerator-config ethos-u55-64 --config "
            "himax_vela.ini). 400 MHz: the Vela config Seeed publishes for the module (SSCMA docs, "
            "files.seeedstudio.com/sscma/configs/vela_config.ini: core_clock=400e6, arena in SRAM on AXI0, "
            "weights in off-chip flash on AXI1), so with Vela's U55 High_End system (500 MHz) the estimated "
            "inferences/s are 25% too high (times 20% too low); "
            "pass that file with --ethos-u-vela-config (system My_Sys_Cfg, memory mode My_Mem_Mode_Parent) for the "
            "vendor's timing. 16 MB flash: a Grove Vision AI V2 "
            "firmware README in the code index names the board's W25Q128JW 16 MB QSPI NOR (not a vendor page). "
            "2 MB SRAM: unconfirmed (no page read here states the HX6538's SRAM size)",
        ),
        _b(
            "renesas-ra8p1",
            "ethos-u55-256",
            "Ethos_U55_High_End_Embedded",
            "Shared_Sram",
            "Renesas RA8P1 (Cortex-M85 + Cortex-M33 + Ethos-U55 256 MACs)",
            2 * MiB,
            1 * MiB,
            "Renesas article on the RA8P1, Chinese reprint (yunpan.plus/t/15247-1-1): Cortex-M85 + Cortex-M33 and an "
            "Ethos-U55 NPU, 7300+ CoreMark, 256 GOPS of AI performance (256 MACs x 2 ops x 500 MHz = 256 GOPS: "
            'the MAC count and clock are derived, unconfirmed as stated figures). SEGGER Knowledge Base "Renesas '
            'RA8P1" (kb.segger.com/Renesas_RA8P1): MRAM up to 1 MB (plus up to 8 MB SiP flash on J variants, '
            "external OSPI flash: budgets that use them are not modelled here). 2 MB SRAM: unconfirmed for the "
            "RA8P1 (Zephyr's EK-RA8M2 page gives 2 MB SRAM / 1 MB MRAM for the sibling RA8M2)",
        ),
    )
}


def get_board(name: str) -> NpuBoard:
    try:
        return BOARDS[name]
    except KeyError:
        raise UsageError(
            f"unknown Ethos-U board {name!r}",
            hint=f"known boards: {', '.join(sorted(BOARDS))}; or "
            "pass --ethos-u-accelerator-config/--ethos-u-system-config/--ethos-u-memory-mode directly",
        ) from None
