"""Vela's estimates for each benchmark model on two Ethos-U configurations (one preparation, one
calibration, one Vela compile per configuration). Estimates from Vela's performance model, not
measurements; the host numbers beside them are measured (LiteRT, int8 model, 1 thread)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CONFIGS = ("ethos-u55-128", "ethos-u85-256")
FIELDS = (
    "accelerator_configuration",
    "system_config",
    "memory_mode",
    "core_clock",
    "inferences_per_second",
    "inference_time",
    "cycles_total",
    "cycles_npu",
    "sram_memory_used",
    "off_chip_flash_memory_used",
    "dram_memory_used",
    "npu_operators",
    "cpu_operators",
    "nn_macs",
)


def estimates(case, work: Path, log: Callable[[str], None]) -> dict[str, Any]:
    try:
        import ethosu.vela  # noqa: F401
    except ImportError:
        return {"available": False, "reason": "Vela (ethos-u-vela) is not installed"}
    from hwquant.pipeline.many import build_many
    from hwquant.plugin.facts import BuildOptions

    out = work / case.name / "ethos-u"
    base = {
        "model": case.model,
        "target": "ethos-u",
        "data": str(case.calibration),
        "eval_data": str(case.eval),
        "out": out,
    }
    plan = {
        accel: ("ethos-u", BuildOptions(**base, backend_options={"accelerator_config": accel, "project": "none"}))
        for accel in CONFIGS
    }
    t0 = time.perf_counter()
    try:
        results = build_many(BuildOptions(**base), lambda s: None, None, False, plan)
    except Exception as exc:  # a model Vela or TFLM cannot take is a result, not a crash of the suite
        return {"available": False, "reason": f"{type(exc).__name__}: {str(exc)[:200]}"}
    rows = {}
    for accel, r in zip(CONFIGS, results):
        sec = r.report["ethos-u"]
        est = sec["estimates"]
        rows[accel] = {
            **{k: est.get(k) for k in FIELDS},
            "vela": sec["vela"]["version"],
            "compiled_bytes": sec["compiled_model"]["bytes"],
            "arena_bytes": sec["tensor_arena"]["bytes"],
        }
        log(
            f"  {case.name:12s} {accel:14s} est. {est['inferences_per_second']:10.1f} inf/s, "
            f"{est['cycles_total']} cycles, CPU ops {est.get('cpu_operators')}"
        )
    return {
        "available": True,
        "configs": rows,
        "build_s": time.perf_counter() - t0,
        "label": "Vela's estimates (its performance model for the named system config), not measurements",
    }
