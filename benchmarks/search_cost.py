"""What the measured recipe choice costs, and what it buys (issue 12).

Per model, in this process (TensorFlow warm), medians of ``repeats`` builds each:
  plain    the rule's recipe pinned (--recipe int8-float-fallback): no budget, no search;
           on a model where int8 collapses this ends at the doctor's verdict (exit 5), after
           the same load, conversion and verification a successful build makes
  default  no --recipe: the rule's proposal measured against the default budget (a search only
           when it misses)
  auto     --recipe auto with the model's budget: every candidate measured
and from the auto build's report: the chosen artifact against the best uniform recipe within
budget (smallest), size and fidelity.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    from hwquant.common.errors import HwquantError

    t0 = time.perf_counter()
    try:
        out = fn()
    except HwquantError as exc:  # a plain build the doctor fails still did the whole job
        out = exc
    return time.perf_counter() - t0, out


def _case(name, model, calib, ev, budget, work: Path, repeats: int, log) -> dict[str, Any]:
    import hwquant

    common = {"data": str(calib), "eval_data": str(ev)}
    runs: dict[str, list[float]] = {"plain": [], "default": [], "auto": []}
    auto = None
    for i in range(repeats):
        for kind, kw in (
            ("plain", {"recipe": "int8-float-fallback"}),
            ("default", {}),
            ("auto", {"recipe": "auto", "budget": budget, "budget_source": "command line"}),
        ):
            secs, out = _timed(
                lambda: hwquant.build(model, target="cpu", out=work / f"{name}-{kind}-{i}", **common, **kw)
            )
            runs[kind].append(secs)
            if kind == "auto":
                auto = out
            log(f"  {name} {kind}: {secs:.2f} s" + (f" ({type(out).__name__})" if isinstance(out, Exception) else ""))
    med = {k: statistics.median(v) for k, v in runs.items()}
    cli = _cli(model, calib, ev, work / f"{name}-cli", repeats, log)
    cands = auto.report["search"]["candidates"]
    chosen = next(c for c in cands if c["chosen"])
    uniform = [c for c in cands if c["within_budget"] and not c["float_layers"]]
    best = min(uniform, key=lambda c: c["size_bytes"]) if uniform else None
    pick = lambda c: (
        None
        if c is None
        else {
            k: c[k]
            for k in (
                "label",
                "size_bytes",
                "accuracy",
                "top1_agreement",
                "snr_db",
            )
        }
    )
    return {
        "budget": budget,
        "repeats": repeats,
        "median_s": med,
        "ratio_default_vs_plain": med["default"] / med["plain"],
        "ratio_auto_vs_plain": med["auto"] / med["plain"],
        "cli_median_s": cli,
        "cli_ratio_auto_vs_plain": cli["auto"] / cli["plain"],
        "candidates": len(cands),
        "measured": sum(1 for c in cands if c["size_bytes"] is not None),
        "chosen": pick(chosen),
        "best_uniform_within_budget": pick(best),
        "chosen_size_vs_best_uniform": (chosen["size_bytes"] / best["size_bytes"]) if best else None,
    }


def _cli(model, calib, ev, work: Path, repeats: int, log) -> dict[str, float]:
    """The same builds as a user runs them: one `hwquant build` process each (TensorFlow import included)."""
    import subprocess

    exe = Path(sys.executable).with_name("hwquant")
    out: dict[str, list[float]] = {"plain": [], "auto": []}
    for i in range(repeats):
        for kind, extra in (
            ("plain", ["--recipe", "int8-float-fallback"]),
            ("auto", ["--recipe", "auto", "--max-accuracy-drop", "1"]),
        ):
            t0 = time.perf_counter()
            subprocess.run(
                [
                    str(exe),
                    "build",
                    str(model),
                    "--target",
                    "cpu",
                    "--data",
                    str(calib),
                    "--eval-data",
                    str(ev),
                    "--out",
                    str(work / f"{kind}-{i}"),
                    "--no-cache",
                    *extra,
                ],
                capture_output=True,
                check=False,
            )
            out[kind].append(time.perf_counter() - t0)
            log(f"  cli {kind}: {out[kind][-1]:.2f} s")
    return {k: statistics.median(v) for k, v in out.items()}


def run(work: Path, quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    from tests.helpers import models_search  # benchmarks/run.py puts the repository root on sys.path

    repeats = 1 if quick else 3
    digits = REPO / "examples" / "digits"
    m, c, e = models_search.outlier_classifier(work / "outlier")
    cases = {
        "digits": _case(
            "digits",
            digits / "model.keras",
            digits / "calibration.npz",
            digits / "eval.npz",
            {"max_accuracy_drop": 1.0},
            work,
            repeats,
            log,
        ),
        "outlier": _case("outlier", m, c, e, {"max_accuracy_drop": 1.0}, work, repeats, log),
    }
    return {
        "notes": "cpu target; plain = --recipe int8-float-fallback, default = the rule's proposal under the "
        "default budget, auto = --recipe auto --max-accuracy-drop 1; medians of "
        f"{repeats} build(s) in one warm process",
        "cases": cases,
    }


def markdown(section: dict[str, Any]) -> list[str]:
    lines = [
        "## Recipe search (issue 12)",
        "",
        section["notes"],
        "",
        "| model | plain s | default s | auto s | default/plain | auto/plain | CLI plain s | CLI auto s | "
        "CLI auto/plain | candidates (converted) | chosen | size B | accuracy | best uniform within budget | size B | "
        "accuracy | chosen/best size |",
        "|---|" + "---:|" * 9 + "---|---:|---:|---|---:|---:|---:|",
    ]
    f = lambda v, fmt=".2f": "-" if v is None else format(v, fmt)
    for name, c in section["cases"].items():
        ch, best = c["chosen"], c["best_uniform_within_budget"] or {}
        lines.append(
            f"| {name} | {f(c['median_s']['plain'])} | {f(c['median_s']['default'])} | "
            f"{f(c['median_s']['auto'])} | {f(c['ratio_default_vs_plain'], '.3f')} | "
            f"{f(c['ratio_auto_vs_plain'], '.3f')} | {f(c['cli_median_s']['plain'])} | "
            f"{f(c['cli_median_s']['auto'])} | {f(c['cli_ratio_auto_vs_plain'], '.3f')} | "
            f"{c['candidates']} ({c['measured']}) | {ch['label']} | {ch['size_bytes']:,} | "
            f"{f(ch['accuracy'], '.3f')} | {best.get('label', '-')} | {f(best.get('size_bytes'), ',')} | "
            f"{f(best.get('accuracy'), '.3f')} | {f(c['chosen_size_vs_best_uniform'], '.3f')} |"
        )
    return [*lines, ""]
