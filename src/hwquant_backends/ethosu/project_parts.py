"""The NPU parts of the generated TFLM project (templates in ``templates/`` beside this module)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hwquant_backends._tflm.codegen import cmake_string, markdown_code, markdown_text
from hwquant_backends._tflm.project import NpuParts, fill, template

from .config import VelaConfig

TEMPLATES = Path(__file__).resolve().parent / "templates"


def npu_parts(cfg: VelaConfig, vela_version: str | None, cpu_ops: list[str], arena: dict[str, Any]) -> NpuParts:
    """The NPU parts; every configuration string passes through ``_tflm.codegen`` for the language it lands in."""
    fast = arena.get("npu_fast_memory_bytes")
    macs = cfg.accelerator.rsplit("-", 1)[-1]
    cmake: dict[str, object] = {"ACCELERATOR": cmake_string(cfg.accelerator)}
    values: dict[str, object] = {
        "ACCELERATOR": markdown_code(cfg.accelerator),
        "SYSTEM_CONFIG": markdown_code(cfg.system_config),
        "MEMORY_MODE": markdown_code(cfg.memory_mode),
        "VELA_VERSION": markdown_code(vela_version or "?"),
        "MACS": macs if macs.isascii() and macs.isdigit() else "N",
        "CPU_OPS": markdown_text(", ".join(cpu_ops)) if cpu_ops else "none: every op is on the NPU",
        "SCRATCH": int(arena.get("vela_scratch_bytes", 0)),
        "FAST_MEMORY": (
            f"\nThe memory mode gives the NPU its own cache: the platform passes {fast} bytes of fast "
            "SRAM to `ethosu_init()` (Vela's `scratch_fast`)."
        )
        if fast
        else "",
    }
    readme = fill(template(root=TEMPLATES, rel="README.md.in"), {**values, "PROJECT": "@PROJECT@"})
    return NpuParts(
        cmake_sources=fill(template(root=TEMPLATES, rel="npu_sources.cmake.in"), cmake),
        cmake_link=fill(template(root=TEMPLATES, rel="npu_link.cmake.in"), cmake),
        readme=readme,
        resolver_note=f"Ethos-U: AddEthosU() registers the NPU op (Vela {vela_version}, {cfg.accelerator}); "
        "the other ops are the ones Vela left on the CPU.",  # a C comment: project.render_main escapes it
    )
