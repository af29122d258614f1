"""report.json (versioned) and the terminal summary of a build."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hwquant.common.tables import table
from hwquant.report import assemble
from hwquant.report.schema import SCHEMA_VERSION, TargetReport

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["SCHEMA_VERSION", "BuildResult", "TargetReport", "record_gates", "render"]


class BuildResult:
    """The outcome of one target's build: the same content as report.json, with attribute access.

    ``report`` is report.json's data (a dict, as users and tests read it); ``typed`` reads it as a
    :class:`~hwquant.report.schema.TargetReport`."""

    def __init__(self, report: dict[str, Any], target_dir: Path | None):
        self.report = report
        self.target_dir = target_dir

    @classmethod
    def of(cls, report: TargetReport, target_dir: Path | None) -> BuildResult:
        return cls(report.to_json(), target_dir)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["report"][name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def typed(self) -> TargetReport:
        return TargetReport.from_json(self.report)

    @property
    def artifact_path(self) -> Path | None:
        if self.target_dir is None or self.report.get("preflight_only"):
            return None
        return self.target_dir / str(self.report.get("artifact_name", "model.tflite"))

    def to_dict(self) -> dict[str, Any]:
        return self.report

    def to_json(self) -> str:
        return assemble.dumps(self.report)

    def write(self, path: Path) -> None:
        """report.json at ``path`` and, beside it, report.html rendered from the same content."""
        from hwquant.report.pages.html import write_target_page

        assemble.write(self.report, path)
        write_target_page(self.report, path.parent)

    def rewrite(self) -> None:
        """The target folder's report.json (and report.html) replaced, atomically, by ``report``."""
        if self.target_dir is None or not (self.target_dir / "report.json").is_file():
            return
        tmp = self.target_dir / f".report.json.tmp-{os.getpid()}"
        self.write(tmp)
        os.replace(tmp, self.target_dir / "report.json")


def record_gates(results: list[BuildResult], gates: Any) -> list[str]:
    """Each result's gates (a :class:`~hwquant.report.gates.Gates`) checked and recorded in its report.json,
    so `hwquant check` sees the verdict the build gave; one line per failed gate across ``results``."""
    from hwquant.report.gates import check

    every: list[str] = []
    for r in results:
        fails = check(r.report, gates)
        r.report = assemble.gated(r.report, gates.to_dict(), fails).to_json()
        r.rewrite()
        every += fails
    return every


def _kb(n: int | None) -> str:
    return "-" if n is None else f"{n / 1024:,.1f} KiB"


def _num(v: Any, fmt: str, none: str = "n/a") -> str:
    """A measure for the terminal: null (a NaN or infinite value in report.json) shows as n/a."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return format(v, fmt)
    return none


def render(result: BuildResult, console: Console) -> None:
    """The short human summary: recipe and why, sizes, op table, fidelity, time per stage."""
    from rich.text import Text

    r = result.report
    if r.get("sensitivity_only"):
        render_sensitivity(r["sensitivity"], console)
        console.print(f"sensitivity only: no artifact; wrote {result.target_dir}/: report.html, report.json")
        return
    rec = r["recipe"]
    console.print(
        f"[bold]{r['target']}[/bold]: recipe [cyan]{rec.get('label', rec['name'])}[/cyan] "
        f"(weights {rec['fields']['weights']}, activations {rec['fields']['activations']}, "
        f"IO {rec['fields']['io_dtype']})"
    )
    for why in rec["reasons"]:  # printed whole: a reason or warning may name a tensor to copy
        console.print(f"  because {why}", markup=False, soft_wrap=True)
    for w in r.get("warnings", []):
        console.print(Text.assemble("  ", ("warning:", "yellow"), f" {w}"), soft_wrap=True)
    op_rows = r["ops"]["table"]
    table(
        console,
        "operators",
        ("Operator", "dtype", "Count", "Status", "Reason"),
        [(o["operator"], o["dtype"], str(o["count"]), o["status"], "; ".join(o["reasons"])) for o in op_rows],
        [{"target": "", "fallback": "yellow", "unsupported": "red"}.get(o["placement"], "") for o in op_rows],
    )
    if r.get("preflight_only"):
        console.print(f"preflight only: no artifact; wrote {result.target_dir}/: report.html, report.json")
        return
    s = r["size_bytes"]
    console.print(
        f"size: float32 {_kb(s['float32_tflite'])} -> {_kb(s['artifact'])} "
        f"(x{s['ratio_to_float32']:.3f}; original model {_kb(s['original'])})"
    )
    fid_rows = []
    for name, m in r["fidelity"]["outputs"].items():
        acc = m.get("accuracy") or {}
        snr = "inf" if m.get("snr_db") is None and m.get("max_abs_error") == 0 else _num(m.get("snr_db"), ".1f")
        fid_rows.append(
            (
                name,
                _num(m.get("max_abs_error"), ".4g"),
                _num(m.get("mean_abs_error"), ".4g"),
                snr,
                _num(m.get("cosine"), ".5f"),
                _num(m.get("top1_agreement"), ".3f", "-"),
                "-" if not acc else f"{_num(acc.get('float'), '.3f')} -> {_num(acc.get('quantized'), '.3f')}",
            )
        )
    table(
        console,
        f"fidelity vs float32 on {r['verify']['samples']} held-out samples ({r['verify']['eval_source']})",
        ("output", "max abs", "mean abs", "SNR dB", "cosine", "top-1 agree", "accuracy (float->quant)"),
        fid_rows,
    )
    if r.get("search"):
        render_search(r["search"], r.get("budget", {}), console)
    if r.get("sensitivity"):
        render_sensitivity(r["sensitivity"], console)
    times = ", ".join(f"{k} {v:.2f}s" for k, v in r["timings_s"].items())
    console.print(f"time: {times}")
    console.print(f"wrote {result.target_dir}/: {', '.join(r['artifacts'])}")


def render_search(search: dict[str, Any], budget: dict[str, Any], console: Console) -> None:
    """One row per candidate: size, fidelity, within budget or why not (in full); the chosen one marked."""
    limits = ", ".join(f"{k.replace('_', '-')} {v:g}" for k, v in budget.get("limits", {}).items()) or "none"
    extra = sorted({k for c in search["candidates"] for k in c.get("target") or {}})
    rows, styles = [], []
    for c in search["candidates"]:
        why = c.get("needs") or ("within" if c["within_budget"] else "; ".join(c["why_not"]))
        rows.append(
            (
                c["label"],
                "*" if c["chosen"] else "",
                _kb(c["size_bytes"]),
                "-" if c["latency_ms"] is None else f"{c['latency_ms']:.3f}",
                *[str((c.get("target") or {}).get(k, "-")) for k in extra],
                "-" if c["top1_agreement"] is None else f"{c['top1_agreement']:.3f}",
                "-" if c["snr_db"] is None else f"{c['snr_db']:.1f}",
                "-" if c["accuracy"] is None else f"{c['accuracy']:.3f}",
                why,
            )
        )
        styles.append("green" if c["chosen"] else ("" if c["within_budget"] else "dim"))
    table(
        console,
        f"recipe search ({search['objective']}; {budget.get('source', '?')} budget: {limits})",
        ("candidate", "chosen", "size", "latency ms", *extra, "top-1 agree", "SNR dB", "accuracy", "budget"),
        rows,
        styles,
    )


def render_sensitivity(rows: list[dict[str, Any]], console: Console, n: int = 8) -> None:
    """The layers int8 hurts most (channel SNR of each op's own quantization, lowest first)."""
    ranked = sorted(rows, key=lambda x: (x["channel_snr_db"] is None, x["channel_snr_db"] or 0.0))[:n]
    table(
        console,
        "int8 sensitivity per layer (worst first; TF QuantizationDebugger)",
        ("tensor", "op", "channel SNR dB", "rmse/scale", "range"),
        [
            (
                x["tensor"],
                x["op"],
                _num(x["channel_snr_db"], ".1f"),
                _num(x.get("rmse_over_scale"), ".3f"),
                f"[{x['range'][0]:.3g}, {x['range'][1]:.3g}]",
            )
            for x in ranked
        ],
    )
