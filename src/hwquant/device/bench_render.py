"""The table ``hwquant bench`` prints: one column per model, side by side, baseline first."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from hwquant.common import tables


def _ms(v: float | None) -> str:
    if v is None:
        return "-"
    if v < 1:
        return f"{v * 1e3:.1f} µs"
    return f"{v:.3f} ms" if v < 10 else f"{v:.1f} ms"


def _num(v: float | None, fmt: str = "{:.3g}") -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and math.isinf(v):
        return "∞" if v > 0 else "-∞"
    return fmt.format(v)


def _size(n: int) -> str:
    return f"{n / 1024:.1f} KiB" if n < 1024 * 1024 else f"{n / (1024 * 1024):.2f} MiB"


def rows(report: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(label, one cell per model) for every line of the table."""
    ms = report["models"]

    def lat(k: str) -> list[str]:
        return [_ms(m["latency_ms"][k]) for m in ms]

    out: list[tuple[str, list[str]]] = [
        ("size", [_size(m["size_bytes"]) for m in ms]),
        ("inputs", [m["inputs"] for m in ms]),
        ("load", [_ms(m["load_ms"]) for m in ms]),
        ("init", [_ms(m["init_ms"]) for m in ms]),
        ("first inference", [_ms(m["first_inference_ms"]) for m in ms]),
        ("runs", [str(m["latency_ms"]["count"]) + (" (max-secs)" if m["stopped_by_max_secs"] else "") for m in ms]),
        ("min", lat("min")),
        ("mean", lat("mean")),
        ("std", lat("std")),
        ("p50", lat("p50")),
        ("p90", lat("p90")),
        ("p99", lat("p99")),
        ("max", lat("max")),
        ("throughput", [_num(m["throughput_per_s"], "{:.1f}/s") for m in ms]),
        ("peak RSS", [f"{m['peak_rss_mb']:.1f} MiB" for m in ms]),
    ]
    if len(ms) > 1:
        out += [
            ("speed-up vs first (median)", [_num(m["vs_first"]["speedup"], "{:.2f}×") for m in ms]),
            ("size vs first", [_num(m["vs_first"]["size_ratio"], "{:.2f}×") for m in ms]),
        ]
    if any("fully_accelerated" in m for m in ms):
        out.append(("fully on GPU", [{True: "yes", False: "no"}.get(m.get("fully_accelerated"), "-") for m in ms]))
    names = sorted({o for m in ms for o in m.get("fidelity", {}).get("outputs", {})})
    for name in names:
        outs = [m.get("fidelity", {}).get("outputs", {}).get(name) for m in ms]
        out.append((f"{name}: SNR", [_num(o["snr_db"], "{:.1f} dB") if o else "-" for o in outs]))
        out.append((f"{name}: max|err|", [_num(o["max_abs_error"]) if o else "-" for o in outs]))
        out.append((f"{name}: mean|err|", [_num(o["mean_abs_error"]) if o else "-" for o in outs]))
        out.append((f"{name}: cosine", [_num(o["cosine"], "{:.5f}") if o else "-" for o in outs]))
        if any(o and "top1_agreement" in o for o in outs):
            out.append((f"{name}: top-1 agree", [_num(o.get("top1_agreement"), "{:.1%}") if o else "-" for o in outs]))
    return out


def column_labels(paths: list[str]) -> list[str]:
    """The shortest path suffixes that tell the models apart (gpu/model.tflite, cpu/model.tflite)."""
    parts = [Path(p).parts for p in paths]
    for n in range(1, max(len(x) for x in parts) + 1):
        labels = ["/".join(x[-n:]) for x in parts]
        if len(set(labels)) == len(labels):
            return labels
    return [str(p) for p in paths]


def render(report: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    ms = report["models"]
    opts = report["options"]
    title = (
        f"hwquant bench · {opts['accelerator']} · threads {opts['num_threads'] or 'default'} · "
        f"{report['runtime']['runtime']} {report['runtime']['version']}"
    )
    labels = column_labels([m["model"] for m in ms])
    body = rows(report)
    table = Table(title=title, title_justify="left")
    table.add_column("")
    for label in labels:
        table.add_column(label, justify="right")
    for label, cells in body:
        table.add_row(label, *cells)
    if tables.fits(console, table):
        console.print(table)
    else:  # a narrow terminal: each measure as a list of model: value, nothing cut
        tables.as_lists(console, title, ["", *labels], [[label, *cells] for label, cells in body])
    ref = next((m["fidelity"]["reference"] for m in ms if "fidelity" in m), None)
    if ref:
        console.print(f"fidelity against {ref} on {opts['data']}")
    if any("profile" in m for m in ms):
        console.print(f"per-op profile: {ms[0]['profile']['reason']}")
