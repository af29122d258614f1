"""Model Explorer overlays: a target's per-node numbers as node-data JSON for Google's Model Explorer.

``hwquant report OUT/<table> --model-explorer`` writes, beside report.json, one node-data file per
measure the report has (Model Explorer shows one overlay per file):

- ``model_explorer_placement.json``: where each op runs (0 on the target, 1 falls back, 2 unsupported;
  thresholds colour them green, amber, red), keyed by node id (the op's index in the main graph);
- ``model_explorer_dtype.json``: each op's compute dtype as its bit width (8, 16, 32), by node id;
- ``model_explorer_sensitivity.json``: each layer's int8 SNR in dB (a red-to-green gradient, low is
  worse), keyed by its output tensor name (the name ``--float-layer`` takes).

The format is Model Explorer's ``ModelNodeData`` (``model_explorer.node_data_builder``): a graph id
(``main``, the TFLite flatbuffer adapter's id for subgraph 0) mapping to ``results`` (node key ->
``{"value": number}``) plus ``thresholds`` or ``gradient``. Open the artifact with the overlays:

    pip install ai-edge-model-explorer
    model-explorer OUT/mcu/model.tflite --node_data_paths=OUT/mcu/model_explorer_placement.json,OUT/mcu/model_explorer_sensitivity.json
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

MAIN_GRAPH = "main"  # the TFLite flatbuffer adapter's graph id for subgraph 0
PLACEMENT_CODE = {"target": 0, "fallback": 1, "unsupported": 2}
DTYPE_BITS = {"int4": 4, "int8": 8, "uint8": 8, "int16": 16, "float16": 16, "bfloat16": 16, "int32": 32, "float32": 32}


def _ops(report: dict[str, Any]) -> list[dict[str, Any]]:
    ops = report.get("ops")
    rows = ops.get("ops") if isinstance(ops, dict) else None
    return [
        r for r in rows or [] if isinstance(r, dict) and r.get("subgraph", 0) == 0 and isinstance(r.get("index"), int)
    ]


def overlays(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Overlay name -> node-data JSON (Model Explorer's ModelNodeData), for each measure the report has."""
    target = str(report.get("target", "?"))
    out: dict[str, dict[str, Any]] = {}
    ops = _ops(report)
    placed = {str(r["index"]): PLACEMENT_CODE[r["placement"]] for r in ops if r.get("placement") in PLACEMENT_CODE}
    if placed:
        out["placement"] = {
            MAIN_GRAPH: {
                "name": f"hwquant placement on {target} (0 on the target, 1 falls back, 2 unsupported)",
                "results": {k: {"value": v} for k, v in placed.items()},
                "thresholds": [
                    {"value": 0, "bgColor": "#dafbe1"},
                    {"value": 1, "bgColor": "#fff8c5"},
                    {"value": 2, "bgColor": "#ffebe9"},
                ],
            }
        }
    bits = {str(r["index"]): DTYPE_BITS[r["dtype"]] for r in ops if r.get("dtype") in DTYPE_BITS}
    if bits:
        out["dtype"] = {
            MAIN_GRAPH: {
                "name": f"hwquant compute dtype on {target} (bits)",
                "results": {k: {"value": v} for k, v in bits.items()},
                "thresholds": [
                    {"value": 8, "bgColor": "#ddf4ff"},
                    {"value": 16, "bgColor": "#fbefff"},
                    {"value": 32, "bgColor": "#fff1e5"},
                ],
            }
        }
    snr = {
        str(r["tensor"]): float(r["channel_snr_db"])
        for r in report.get("sensitivity") or []
        if isinstance(r, dict)
        and isinstance(r.get("tensor"), str)
        and isinstance(r.get("channel_snr_db"), (int, float))
        and math.isfinite(r["channel_snr_db"])
    }
    if snr:
        out["sensitivity"] = {
            MAIN_GRAPH: {
                "name": "hwquant int8 sensitivity: output SNR vs float (dB, lower is worse)",
                "results": {k: {"value": v} for k, v in snr.items()},
                "gradient": [
                    {"stop": 0, "bgColor": "#ff8182"},
                    {"stop": 0.5, "bgColor": "#fff8c5"},
                    {"stop": 1, "bgColor": "#aceebb"},
                ],
            }
        }
    return out


def write_overlays(report: dict[str, Any], folder: Path) -> list[Path]:
    """Write ``folder/model_explorer_<name>.json`` for each overlay; the paths written."""
    written = []
    for name, data in overlays(report).items():
        path = Path(folder) / f"model_explorer_{name}.json"
        path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        written.append(path)
    return written
