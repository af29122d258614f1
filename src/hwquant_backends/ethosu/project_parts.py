"""The NPU parts of the generated TFLM project (templates in ``templates/`` beside this module)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hwquant_backends._tflm.project import NpuParts, fill, template

from .config import VelaConfig

TEMPLATES = Path(__file__).resolve().parent / "templates"


def npu_parts(cfg: VelaConfig, vela_version: str | None, cpu_ops: list[str], arena: dict[str, Any]) -> NpuParts:
    fast = arena.get("npu_fast_memory_bytes")
    values = {
        "ACCELERATOR": cfg.accelerator,
        "SYSTEM_CONFIG": cfg.system_config,
        "MEMORY_MODE": cfg.memory_mode,
        "VELA_VERSION": vela_version or "?",
        "MACS": cfg.accelerator.rsplit("-", 1)[1],
        "CPU_OPS": ", ".join(cpu_ops) if cpu_ops else "none: every op is on the NPU",
        "SCRATCH": arena.get("vela_scratch_bytes", 0),
        "FAST_MEMORY": (
            f"\nThe memory mode gives the NPU its own cache: the platform passes {fast} bytes of fast "
            "SRAM to `ethosu_init()` (Vela's `scratch_fast`)."
        )
        if fast
        else "",
    }
    readme = fill(template(root=TEMPLATES, rel="README.md.in"), {**values, "PROJECT": "@PROJECT@"})
    return NpuParts(
        cmake_sources=fill(template(root=TEMPLATES, rel="npu_sources.cmake.in"), values),
        cmake_link=fill(template(root=TEMPLATES, rel="npu_link.cmake.in"), values),
        readme=readme,
        resolver_note=f"Ethos-U: AddEthosU() registers the NPU op (Vela {vela_version}, {cfg.accelerator}); "
        "the other ops are the ones Vela left on the CPU.",
    )
