"""The verdict block: what a firmware engineer stakes a release on, for one built target, from its report.

Read only from report.json content, so a cached build prints the same block as the build that made it.
Headed by the manifest table name (``m4 (mcu)``) when it is not the backend's: final recipe and IO
dtype and why they are what they are; the quantized fraction and the float ops that remain; the ops
that fall back off the accelerator (ethos-u's CPU ops, edgetpu's host ops); each
budget measure with its value, 95 % interval, limit and verdict; the arena, flash and RAM against the
board (mcu) with fits yes/no and the margin; ethos-u's estimated inferences/s; the files written.
Nothing is truncated: a line a user must copy is printed whole.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MEASURE_NAMES = {
    "top1_agreement": "top-1 agreement",
    "label_agreement": "per-label agreement",
    "accuracy_drop_points": "accuracy drop (points)",
    "snr_db": "SNR dB",
    "cosine": "cosine",
}


FALLBACK_TO = {"ethos-u": "the Cortex-M (TFLM)", "edgetpu": "the host CPU", "gpu": "the CPU (LiteRT)"}


def _n(v: Any, fmt: str = ".4g") -> str:
    return "n/a" if v is None else format(v, fmt)


def header(report: dict[str, Any]) -> str:
    target = str(report.get("target", "?"))
    folder = report.get("folder")
    return f"{folder} ({target})" if folder and folder != target else target


def block(report: dict[str, Any], target_dir: Path | None = None) -> list[str]:
    """The verdict lines of one target's report (empty for a preflight-only or sensitivity report)."""
    if report.get("preflight_only") or report.get("sensitivity_only") or not report.get("recipe"):
        return []
    recipe = report["recipe"]
    fields = recipe.get("fields") or {}
    cache = report.get("cache") or {}
    lines = [
        f"verdict {header(report)}: {recipe.get('label', recipe.get('name'))}, IO {fields.get('io_dtype', '?')}"
        + (" (cached build)" if cache.get("hit") else "")
    ]
    asked = [r for r in recipe.get("reasons") or [] if "requested with --" in r]
    lines += [f"  differs from the target's default: {r}" for r in asked]
    search = report.get("search")
    if search and search.get("chosen") and search.get("chosen") != (search.get("candidates") or [{}])[0].get("label"):
        lines.append(f"  chosen by measurement: {search.get('why')}")
    q = report.get("quantized")
    if q:
        text = f"  quantized: {100 * q.get('quantized_fraction', 0):.0f} % of weight bytes"
        floats = q.get("float_ops") or []
        if floats and fields.get("activations") in ("int8", "int16"):
            names = ", ".join(dict.fromkeys(floats))
            n = len(floats)
            text += f"; {n} float op{'s' if n != 1 else ''} remain{'s' if n == 1 else ''}: {names} (float32)"
        lines.append(text)
    lines += _fallback_lines(report)
    lines += _budget_lines(report)
    lines += _device_lines(report)
    files = report.get("artifacts") or []
    if files:
        lines.append(f"  files: {target_dir}/: {', '.join(files)}" if target_dir else f"  files: {', '.join(files)}")
    return lines


def _fallback_lines(report: dict[str, Any]) -> list[str]:
    """The ops that run off the accelerator (ethos-u: on the Cortex-M in TFLM; edgetpu: on the host CPU),
    float ops left in an integer model among them."""
    rows = [r for r in ((report.get("ops") or {}).get("table") or []) if r.get("placement") == "fallback"]
    if not rows:
        return []
    counts: dict[str, int] = {}
    for r in rows:
        key = f"{r.get('operator')} ({r.get('dtype')})"
        counts[key] = counts.get(key, 0) + int(r.get("count") or 1)
    n = sum(counts.values())
    where = FALLBACK_TO.get(str(report.get("target")), "the CPU")
    names = ", ".join(k if c == 1 else f"{k} x{c}" for k, c in counts.items())
    return [f"  {n} op{'s' if n != 1 else ''} fall{'s' if n == 1 else ''} back to {where}: {names}"]


def budget_measures(report: dict[str, Any]) -> list[tuple[str, dict[str, Any], str, dict[str, Any]]]:
    """(output, its fidelity entry, measure, the measure's entry) for every measure the budget judged (it has
    a limit), in report order: what the verdict block and report.html both show."""
    found = []
    for name, o in ((report.get("fidelity") or {}).get("outputs") or {}).items():
        if not isinstance(o, dict):
            continue
        for measure, m in (o.get("measures") or {}).items():
            if isinstance(m, dict) and m.get("limit") is not None:
                found.append((name, o, measure, m))
    return found


def _budget_lines(report: dict[str, Any]) -> list[str]:
    budget = report.get("budget") or {}
    if not budget:
        return []
    if not budget.get("applied", True):
        return [f"  budget: not applied ({budget.get('why_not_applied', '')})"]
    out = [f"  budget ({budget.get('source', '?')}):"]
    for name, o, measure, m in budget_measures(report):
        kind = f" [{o['kind']}]" if o.get("kind") else ""
        line = (
            f"    {name}{kind} {MEASURE_NAMES.get(measure, measure)} {_n(m.get('value'))} "
            f"[{_n(m.get('low'))}, {_n(m.get('high'))}] on {m.get('samples')} samples, "
            f"limit {m['limit']:g}: {m.get('verdict')}"
        )
        if m.get("samples_to_decide"):
            line += f" (about {m['samples_to_decide']} eval samples would decide)"
        out.append(line)
    return out if len(out) > 1 else [*out, "    (no measure of this budget applies to these outputs)"]


def _device_lines(report: dict[str, Any]) -> list[str]:
    m = report.get("measures") or {}
    out = []
    parts = [
        f"{label} {m[key]} B"
        for key, label in (("tensor_arena_bytes", "arena"), ("flash_bytes", "flash"), ("ram_bytes", "RAM"))
        if m.get(key) is not None
    ]
    if parts:
        out.append("  " + ", ".join(parts))
    fp = (report.get(str(report.get("target"))) or {}).get("footprint") or {}
    board = fp.get("board")
    if board:
        flash, ram = fp.get("flash") or {}, fp.get("ram") or {}
        margins = []
        for what, d in (("flash", flash), ("RAM", ram)):
            if d.get("budget_bytes") is not None and d.get("total_bytes") is not None:
                margins.append(
                    f"{what} {d['total_bytes']} of {d['budget_bytes']} B (margin {d['budget_bytes'] - d['total_bytes']} B)"
                )
        out.append(f"  board {board.get('name', '?')}: fits {'yes' if fp.get('fits') else 'no'}; " + "; ".join(margins))
    if m.get("estimated_inferences_per_second") is not None:
        out.append(
            f"  estimated {m['estimated_inferences_per_second']:.1f} inferences/s (Vela's estimate, not a measurement)"
        )
    return out
