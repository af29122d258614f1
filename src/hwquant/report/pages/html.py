"""report.html: one target folder's report.json as a self-contained page ("look, don't read").

:func:`write_target_page` writes ``report.html`` beside ``report.json`` from that report's content
(the one exception: weight bytes per layer are read from the converted model in the same folder when
it is there). The page is one file: inline CSS, inline SVG charts (:mod:`hwquant.report.pages.svg`), a
few lines of optional script (the copy buttons; everything reads without it), no request to any
network address, no external font. Every string that comes from the report is escaped (tensor
names, paths, reasons may be anything a user's model holds).

Sections, as far as the report has the data: the verdict (recipe, IO, sizes, the budget's measures
with a verdict each, the device measures, board fit), the memory picture (mcu, ethos-u), the decision
(the rule's proposal, the candidates measured, the choice, as a table and a scatter), fidelity per
output, per-layer sensitivity (bar chart, full tensor names, a copyable ``--float-layer`` line), the
op table (placement coloured and said in words), weight bytes per layer, Vela's per-layer cycles
(ethos-u), time per stage, and the inputs and versions.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwquant.report import gates, measures
from hwquant.report.pages.svg import Bar, MemoryRow, Point, bar_chart, esc, finite, fmt, kib, memory_bars, scatter
from hwquant.report.verdict import MEASURE_NAMES, budget_measures

PAGE_NAME = "report.html"
MAX_ROWS = 400  # per table and chart: a page stays small for big models (the rest is in report.json)

CSS = """
:root{--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700;--mut:#57606a;--bg:#fff;--fg:#1f2328;--line:#d0d7de}
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;color:var(--fg);
background:var(--bg);margin:0 auto;max-width:1000px;padding:16px 20px 60px}
h1{font-size:22px;margin:8px 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid var(--line);
padding-bottom:4px}h3{font-size:15px;margin:16px 0 6px}
table{border-collapse:collapse;margin:6px 0 10px;font-size:13px}
th,td{border:1px solid var(--line);padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
code,pre,.mono{font-family:ui-monospace,Menlo,Consolas,'DejaVu Sans Mono',monospace;font-size:12px}
.name{font-family:ui-monospace,Menlo,Consolas,'DejaVu Sans Mono',monospace;font-size:12px;word-break:break-all}
pre{background:#f6f8fa;border:1px solid var(--line);padding:8px;white-space:pre-wrap;word-break:break-all}
.badge{display:inline-block;border-radius:4px;padding:1px 8px;font-weight:600;border:1px solid}
.pass{color:var(--ok);border-color:var(--ok);background:#dafbe1}
.fail{color:var(--bad);border-color:var(--bad);background:#ffebe9}
.info{color:var(--mut);border-color:var(--line);background:#f6f8fa}
.warn{color:var(--warn);border-color:var(--warn);background:#fff8c5}
.pl-target{background:#dafbe1}.pl-fallback{background:#fff8c5}.pl-unsupported{background:#ffebe9}
.muted{color:var(--mut)}.kv td:first-child{font-weight:600;white-space:nowrap}
.verdict{font-size:16px;margin:10px 0;padding:10px 12px;border-radius:6px;border:1px solid var(--line)}
svg{max-width:100%;height:auto;display:block;margin:6px 0}
svg .bar{fill:#0969da}svg .bar.flag{fill:#cf222e}svg .val,svg .lbl,svg .tick,svg .axis,svg .plbl{fill:#1f2328}
svg .val.over{fill:#cf222e;font-weight:700}
svg .plot{fill:#fbfcfd;stroke:#d0d7de}svg .limit{stroke:#cf222e;stroke-width:1.5;stroke-dasharray:6 4}
svg .limit-label{fill:#cf222e}svg .pt{fill:#0969da;stroke:#0969da;stroke-width:1.5}
svg .pt.over{fill:#fff;stroke:#cf222e}svg .pt.chosen{fill:#1a7f37;stroke:#0d4a1f}
svg .seg0{fill:#0969da}svg .seg1{fill:#8250df}svg .seg2{fill:#bf8700}svg .seg3{fill:#57606a}svg .seg4{fill:#1a7f37}
button.copy{font-size:12px;margin-left:6px}
@media print{button.copy{display:none}}
"""

SCRIPT = """
document.querySelectorAll('button.copy').forEach(function(b){b.hidden=false;b.addEventListener('click',function(){
var t=document.getElementById(b.dataset.for).textContent;if(navigator.clipboard){navigator.clipboard.writeText(t)
.then(function(){b.textContent='copied';},function(){b.textContent='select and copy';});}});});
"""

PLACEMENT_TEXT = {
    "target": "on the target",
    "fallback": "falls back (CPU)",
    "unsupported": "unsupported",
}


def _placement(row: dict[str, Any]) -> tuple[str, str]:
    """An op row's placement and the CSS class that colours it (none for a placement without one)."""
    pl = str(row.get("placement", ""))
    return pl, (f"pl-{pl}" if pl in PLACEMENT_TEXT else "")


# -- small helpers -----------------------------------------------------------------------------------------
def _d(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _l(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def _num(v: Any, digits: int = 4) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return esc(v)
    if not math.isfinite(v):
        return esc(str(v))
    if isinstance(v, int) or abs(v) >= 1000:
        return f"{int(v):,}"
    return esc(f"{v:.{digits}g}")


def _bytes(v: Any) -> str:
    if not finite(v):
        return "-" if v is None else esc(v)
    return f"{int(v):,} B ({esc(kib(v))})"


def _table(head: list[str], rows: list[list[str]], cls: str = "") -> str:
    """``head`` plain text (escaped here); ``rows`` cells already HTML (escape when building them)."""
    h = "".join(f"<th>{esc(c)}</th>" for c in head)
    body = "".join("<tr>" + "".join(c if c.startswith("<td") else f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>'


def _kv(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><td>{esc(k)}</td><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="kv"><tbody>{body}</tbody></table>'


def _badge(ok: bool | None, yes: str = "pass", no: str = "fail", unknown: str = "not measured") -> str:
    if ok is None:
        return f'<span class="badge info">? {esc(unknown)}</span>'
    return (
        f'<span class="badge pass">&#10003; {esc(yes)}</span>'
        if ok
        else f'<span class="badge fail">&#10007; {esc(no)}</span>'
    )


def _section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>{body}</section>'


def _cut(rows: list[Any], what: str) -> tuple[list[Any], str]:
    if len(rows) <= MAX_ROWS:
        return rows, ""
    return rows[:MAX_ROWS], f'<p class="muted">first {MAX_ROWS} of {len(rows)} {esc(what)}; all in report.json</p>'


# -- the verdict -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BudgetCheck:
    """One budget limit on one output (output None: no output is in the limit's scope)."""

    gate: gates.Gate
    limit: float
    output: str | None
    why: str | None  # the gate's line when it misses; None when it passes (or no output is in scope)
    scope: str = ""


def budget_checks(report: dict[str, Any]) -> list[BudgetCheck]:
    """The report's accuracy budget (its ``budget.limits``) checked on each output in each limit's scope,
    with the gates' own rules (a missing or non-finite measure misses). Empty when there is no budget."""
    budget = _d(report.get("budget"))
    limits = {k: v for k, v in _d(budget.get("limits")).items() if finite(v)}
    scope = _d(budget.get("scope"))
    try:
        m = measures.of(report)
    except Exception:  # a page shows what it can; the CLI validates before writing
        return []
    by_key = {g.key: g for g in gates.GATES if g.output is not None}
    out: list[BudgetCheck] = []
    for key, limit in limits.items():
        g = by_key.get(key)
        if g is None or g.output is None:
            continue
        where = str(scope.get(key, ""))
        read = [
            (n, o)
            for n, o in m.outputs.items()
            if g.output.applies(o)
            and not ("not class scores" in where and o.classifier)
            and not (where.startswith("class-score") and not o.classifier)
        ]
        out += [BudgetCheck(g, float(limit), n, g.output.miss(o, float(limit)), where) for n, o in read]
        if not read:
            out.append(BudgetCheck(g, float(limit), None, None, where))
    return out


def budget_met(checks: list[BudgetCheck]) -> bool | None:
    """True when every check on an output passes, False when one misses, None with nothing checked."""
    on = [c for c in checks if c.output is not None]
    return None if not on else all(c.why is None for c in on)


def _measure_rows(report: dict[str, Any]) -> tuple[list[list[str]], bool | None]:
    """The report's own verdicts, one row per budget measure of each output (:func:`budget_measures`, as the
    terminal's verdict block): the value with its 95 % interval and sample count, the limit, pass / miss /
    undecided. The budget is met unless a measure misses (an undecided one keeps the rule's proposal)."""
    rows: list[list[str]] = []
    verdicts: list[str] = []
    for name, o, measure, m in budget_measures(report):
        if not finite(m.get("limit")):
            continue
        kind = f" <span class='muted'>[{esc(o.get('kind'))}]</span>" if o.get("kind") else ""
        verdict = str(m.get("verdict"))
        verdicts.append(verdict)
        interval = (
            f" [{_num(m.get('low'))}, {_num(m.get('high'))}]" if finite(m.get("low")) and finite(m.get("high")) else ""
        )
        decide = m.get("samples_to_decide")
        badge = (
            '<span class="badge info">? undecided</span>'
            + (f" <span class='muted'>about {esc(decide)} samples would decide</span>" if decide else "")
            if verdict == "undecided"
            else _badge(verdict == "pass", "pass", "miss")
        )
        rows.append(
            [
                esc(MEASURE_NAMES.get(measure, measure)),
                f'<span class="name">{esc(name)}</span>{kind}',
                f'<td class="num">{_num(m.get("value"))}{interval} <span class="muted">on {esc(m.get("samples"))} samples</span></td>',
                f'<td class="num">{_num(m.get("limit"))}</td>',
                badge,
            ]
        )
    return rows, (None if not verdicts else "miss" not in verdicts)


OWN_HEADER = ["measure", "output", "value [95 % interval]", "limit", "verdict"]
GATE_HEADER = ["gate", "output", "measure", "limit", "verdict"]


def _budget_rows(report: dict[str, Any]) -> tuple[list[list[str]], bool | None, list[str]]:
    """One row per budget limit and output it reads, with the table's header: the report's own verdicts with
    intervals where it has them (schema 2 builds), else the measure, the limit and the gates' own rule
    (older reports)."""
    own, met = _measure_rows(report)
    if own:
        return own, met, OWN_HEADER
    checks = budget_checks(report)
    fid = _d(_d(report.get("fidelity")).get("outputs"))
    rows: list[list[str]] = []
    for c in checks:
        g = c.gate
        if c.output is None:
            rows.append(
                [
                    f"<code>{esc(g.flag)}</code>",
                    "-",
                    "-",
                    f"{_num(c.limit)}",
                    f'<span class="muted">no output in its scope ({esc(c.scope or "none")})</span>',
                ]
            )
            continue
        rows.append(
            [
                f"<code>{esc(g.flag)}</code>",
                f'<span class="name">{esc(c.output)}</span>',
                f'<td class="num">{_measure_text(g.key, _d(fid.get(c.output)))}</td>',
                f'<td class="num">{"&ge;" if g.direction == "min" else "&le;"} {_num(c.limit)} {esc(g.unit)}</td>',
                _badge(c.why is None) + (f" <span class='muted'>{esc(c.why)}</span>" if c.why else ""),
            ]
        )
    return rows, budget_met(checks), GATE_HEADER


def _measure_text(key: str, out: dict[str, Any]) -> str:
    if key == "min_snr":
        v = out.get("snr_db")
        return "infinite (identical)" if v is None and out.get("max_abs_error") == 0 else _num(v) + " dB"
    if key == "min_agreement":
        return _num(out.get("top1_agreement"))
    if key == "min_cosine":
        return _num(out.get("cosine"), 6)
    if key == "max_accuracy_drop":
        acc = _d(out.get("accuracy"))
        d = acc.get("delta_points")
        return "-" if d is None else f"{_num(d)} points (drop {_num(-d) if finite(d) else '-'})"
    return "-"


def _footprint(report: dict[str, Any]) -> dict[str, Any]:
    return _d(_d(report.get(str(report.get("target")))).get("footprint"))


def _memory(report: dict[str, Any]) -> str:
    fp = _footprint(report)
    flash, ram = _d(fp.get("flash")), _d(fp.get("ram"))
    if not flash and not ram:
        return ""
    rows = []
    if flash:
        parts = [
            ("model", flash.get("model_bytes")),
            ("sample IO", flash.get("io_bytes")),
            ("TFLM runtime", flash.get("runtime_bytes")),
            ("allowance", flash.get("allowance_bytes")),
        ]
        rows.append(
            MemoryRow("Flash", tuple((w, float(v)) for w, v in parts if finite(v)), _opt(flash.get("budget_bytes")))
        )
    if ram:
        parts = [
            ("tensor arena", ram.get("arena_bytes")),
            ("stack", ram.get("stack_bytes")),
            ("allowance", ram.get("allowance_bytes")),
        ]
        rows.append(
            MemoryRow("RAM", tuple((w, float(v)) for w, v in parts if finite(v)), _opt(ram.get("budget_bytes")))
        )
    board = _d(fp.get("board"))
    name = board.get("name")
    title = f"Memory picture: flash and RAM the build needs{f' against board {name}' if name else ''}"
    fits = fp.get("fits")
    head = (
        f"<p>Board <b>{esc(name)}</b>{': ' + esc(board.get('description')) if board.get('description') else ''} "
        f"{_badge(fits if isinstance(fits, bool) else None, 'fits', 'does not fit')}</p>"
        if name
        else '<p class="muted">No board given (<code>--mcu-board</code> / <code>--ethos-u-board</code>): '
        "the needs are shown without a budget.</p>"
    )
    table_rows = []
    for label, sec in (("Flash", flash), ("RAM", ram)):
        if sec:
            budget = sec.get("budget_bytes")
            total = sec.get("total_bytes")
            ok = None if not finite(budget) or not finite(total) else total <= budget
            table_rows.append(
                [
                    esc(label),
                    f'<td class="num">{_bytes(total)}</td>',
                    f'<td class="num">{_bytes(budget)}</td>',
                    _badge(ok, "fits", "over budget", "no budget"),
                ]
            )
    return (
        head
        + memory_bars(rows, title=title)
        + _table(["memory", "needs", "board budget", "verdict"], table_rows)
        + (f'<p class="muted">{esc(_d(flash.get("runtime")).get("method", ""))}</p>' if flash.get("runtime") else "")
    )


def _opt(v: Any) -> float | None:
    return float(v) if finite(v) else None


def _verdict(report: dict[str, Any]) -> str:
    rec = _d(report.get("recipe"))
    fields = _d(rec.get("fields"))
    sizes = _d(report.get("size_bytes"))
    dev = _d(report.get("measures"))
    rows, budget_ok, header = _budget_rows(report)
    fp = _footprint(report)
    fits = fp.get("fits") if isinstance(fp.get("fits"), bool) else None
    pieces = []
    if report.get("preflight_only") and not report.get("sensitivity_only"):
        pieces.append('<span class="badge info">preflight only: no artifact</span>')
    if report.get("sensitivity_only"):
        pieces.append('<span class="badge info">sensitivity analysis only: no artifact</span>')
    if budget_ok is not None:
        pieces.append("accuracy budget " + _badge(budget_ok, "met", "missed"))
    if fits is not None:
        pieces.append("board " + _badge(fits, "fits", "does not fit"))
    if rec:
        pieces.append(f"recipe <b>{esc(rec.get('label') or rec.get('name'))}</b>")
    if fields.get("io_dtype"):
        pieces.append(f"IO <b>{esc(fields.get('io_dtype'))}</b>")
    size = sizes.get("deployed") if finite(sizes.get("deployed")) else sizes.get("artifact")
    if finite(size):
        pieces.append(f"size <b>{esc(kib(size))}</b>")
    if finite(dev.get("tensor_arena_bytes")):
        pieces.append(f"arena <b>{esc(kib(dev['tensor_arena_bytes']))}</b>")
    out = f'<div class="verdict" id="verdict-line">{" &middot; ".join(pieces) or "no verdict in this report"}</div>'
    kv: list[tuple[str, str]] = []
    if rec:
        kv.append(
            ("recipe", f"<b>{esc(rec.get('name'))}</b> <span class='muted'>{esc(fields.get('description', ''))}</span>")
        )
        kv.append(
            (
                "weights / activations / IO",
                esc(f"{fields.get('weights')} / {fields.get('activations')} / {fields.get('io_dtype')}"),
            )
        )
        if _l(fields.get("float_layers")):
            kv.append(
                ("float layers", "<br>".join(f'<span class="name">{esc(x)}</span>' for x in fields["float_layers"]))
            )
    if sizes:
        kv.append(("float32 .tflite", _bytes(sizes.get("float32_tflite"))))
        kv.append(
            ("artifact", _bytes(sizes.get("artifact")) + f" (x{_num(sizes.get('ratio_to_float32'), 3)} of float32)")
        )
        if sizes.get("deployed") is not None:
            kv.append(("deployed (compiled)", _bytes(sizes.get("deployed"))))
        kv.append(("original model", _bytes(sizes.get("original"))))
    names = {
        "tensor_arena_bytes": "tensor arena",
        "flash_bytes": "flash footprint",
        "ram_bytes": "RAM footprint",
        "compiled_bytes": "compiled model",
    }
    for k, label in names.items():
        if dev.get(k) is not None:
            kv.append((label, _bytes(dev[k])))
    if dev.get("estimated_inferences_per_second") is not None:
        kv.append(
            (
                "estimated inferences/s",
                _num(dev["estimated_inferences_per_second"])
                + " <span class='muted'>(an estimate, not a measurement)</span>",
            )
        )
    lat = _d(report.get("latency_ms"))
    if lat:
        kv.append(("host latency", f"{_num(lat.get('mean'))} ms mean ({esc(lat.get('runtime') or 'LiteRT')})"))
    cache = _d(report.get("cache"))
    if cache:
        kv.append(("cache", "restored from the cache" if cache.get("hit") else "built (stored in the cache)"))
    out += _kv(kv)
    if rows:
        budget = _d(report.get("budget"))
        out += f"<h3>Accuracy budget <span class='muted'>({esc(budget.get('source', ''))})</span></h3>"
        out += _table(header, rows)
    warnings = _l(report.get("warnings"))
    if warnings:
        out += (
            "<h3>Warnings</h3><ul>"
            + "".join(f'<li><span class="badge warn">! warning</span> {esc(w)}</li>' for w in warnings)
            + "</ul>"
        )
    return out


# -- the decision ------------------------------------------------------------------------------------------
FIDELITY_AXES = (  # budget key -> (candidate key, axis label, how to read the limit)
    ("min_agreement", "top1_agreement", "top-1 agreement with float"),
    ("min_snr", "snr_db", "SNR vs float (dB)"),
    ("min_cosine", "cosine", "cosine with float"),
    ("max_accuracy_drop", "accuracy_delta_points", "accuracy change (points)"),
)


def _decision(report: dict[str, Any]) -> str:
    rec = _d(report.get("recipe"))
    search = _d(report.get("search"))
    out = ""
    reasons = _l(rec.get("reasons"))
    if reasons:
        out += "<h3>Why this recipe</h3><ol>" + "".join(f"<li>{esc(r)}</li>" for r in reasons) + "</ol>"
    cands = [c for c in _l(search.get("candidates")) if isinstance(c, dict)]
    if not cands:
        return out
    objective = str(search.get("objective") or "size")
    proposal = next((c for c in cands if c.get("origin") == "rule proposal"), None)
    chosen = next((c for c in cands if c.get("chosen")), None)
    out += "<p>"
    if proposal:
        out += f"The rule proposed <b>{esc(proposal.get('label') or proposal.get('recipe'))}</b>; "
    out += f"{len(cands)} candidate(s) were measured ({esc(search.get('why', ''))}, objective: {esc(objective)}); "
    out += f"chosen: <b>{esc(chosen.get('label') or chosen.get('recipe')) if chosen else 'none'}</b>.</p>"
    limits = _d(_d(report.get("budget")).get("limits"))
    axis = next(((b, k, lbl) for b, k, lbl in FIDELITY_AXES if b in limits), None) or next(
        ((b, k, lbl) for b, k, lbl in FIDELITY_AXES if any(finite(c.get(k)) for c in cands)), None
    )
    xkey, xlabel = ("latency_ms", "latency (ms, host)") if objective == "latency" else ("size_bytes", "size (bytes)")
    if axis is not None:
        bkey, ykey, ylabel = axis
        limit = limits.get(bkey)
        if bkey == "max_accuracy_drop" and finite(limit):
            limit = -float(limit)  # the axis is the change: a drop of 1 point is -1
        pts = [
            Point(
                float(c[xkey]),
                float(c[ykey]),
                str(c.get("label") or c.get("recipe")),
                bool(c.get("chosen")),
                bool(c.get("within_budget", True)),
            )
            for c in cands
            if finite(c.get(xkey)) and finite(c.get(ykey))
        ]
        if pts:
            out += scatter(
                pts,
                title=f"Search candidates: {xlabel} against {ylabel}",
                x_label=xlabel,
                y_label=ylabel,
                limit=float(limit) if finite(limit) else None,
                limit_label="(budget)",
            )
    head = [
        "candidate",
        "origin",
        "size",
        "latency ms",
        "SNR dB",
        "cosine",
        "top-1 agree",
        "acc. change",
        "arena",
        "within budget",
        "why not",
    ]
    rows = []
    for c in cands:
        tgt = _d(c.get("target"))
        rows.append(
            [
                f"<b>{esc(c.get('label') or c.get('recipe'))}</b>"
                + (" <span class='badge pass'>&#9670; chosen</span>" if c.get("chosen") else ""),
                esc(c.get("origin", "")),
                f'<td class="num">{_num(c.get("size_bytes"))}</td>',
                f'<td class="num">{_num(c.get("latency_ms"))}</td>',
                f'<td class="num">{_num(c.get("snr_db"))}</td>',
                f'<td class="num">{_num(c.get("cosine"), 6)}</td>',
                f'<td class="num">{_num(c.get("top1_agreement"))}</td>',
                f'<td class="num">{_num(c.get("accuracy_delta_points"))}</td>',
                f'<td class="num">{_num(tgt.get("tensor_arena_bytes"))}</td>',
                _badge(bool(c.get("within_budget")), "yes", "no"),
                "<br>".join(esc(w) for w in _l(c.get("why_not"))),
            ]
        )
    return out + _table(head, rows)


# -- fidelity ----------------------------------------------------------------------------------------------
def _fidelity(report: dict[str, Any]) -> str:
    fid = _d(report.get("fidelity"))
    outs = _d(fid.get("outputs"))
    if not outs:
        return ""
    rows = []
    for name, o in outs.items():
        o = _d(o)
        acc = _d(o.get("accuracy"))
        snr = o.get("snr_db")
        rows.append(
            [
                f'<span class="name">{esc(name)}</span>',
                f'<td class="num">{_num(o.get("samples"))}</td>',
                f'<td class="num">{_num(o.get("max_abs_error"))}</td>',
                f'<td class="num">{_num(o.get("mean_abs_error"))}</td>',
                f'<td class="num">{"inf (identical)" if snr is None and o.get("max_abs_error") == 0 else _num(snr)}</td>',
                f'<td class="num">{_num(o.get("cosine"), 6)}</td>',
                f'<td class="num">{_num(o.get("top1_agreement"))}</td>',
                (
                    f"{_num(acc.get('float'))} &rarr; {_num(acc.get('quantized'))} ({_num(acc.get('delta_points'))} pt)"
                    if acc
                    else "-"
                ),
                ("<span class='badge fail'>collapsed: one class for every sample</span>" if o.get("collapsed") else "")
                + (f" non-finite: {_num(o.get('non_finite'))}" if o.get("non_finite") else ""),
            ]
        )
    ver = _d(report.get("verify"))
    note = ""
    if ver:
        note = (
            f'<p class="muted">Measured with {esc(ver.get("runtime", ""))} on {_num(ver.get("samples"))} samples '
            f"of {esc(ver.get('eval_source', ''))}.</p>"
        )
        own = _d(ver.get(str(report.get("target"))))
        if "agree" in own:
            rts = ", ".join(str(x) for x in _l(own.get("runtimes")))
            note += (
                f"<p>Device runtime check ({esc(rts)}): {_badge(bool(own.get('agree')), 'agrees', 'disagrees')} "
                f"<span class='muted'>{esc(own.get('tolerance', ''))}</span></p>"
            )
    return note + _table(
        [
            "output",
            "samples",
            "max abs err",
            "mean abs err",
            "SNR dB",
            "cosine",
            "top-1 agree",
            "accuracy float → quant",
            "notes",
        ],
        rows,
    )


# -- sensitivity -------------------------------------------------------------------------------------------
def _sensitivity(report: dict[str, Any]) -> str:
    rows = [r for r in _l(report.get("sensitivity")) if isinstance(r, dict) and isinstance(r.get("tensor"), str)]
    if not rows:
        return ""
    rows = sorted(rows, key=lambda r: r["channel_snr_db"] if finite(r.get("channel_snr_db")) else math.inf)
    rows, more = _cut(rows, "layers")
    given = _d(_d(report.get("budget")).get("limits")).get("min_snr")
    limit = float(given) if finite(given) else -math.inf
    worst = [r for r in rows if finite(r.get("channel_snr_db")) and r["channel_snr_db"] < limit]
    why = f"the layers under the budget's {fmt(limit)} dB SNR" if worst else "the most sensitive layer"
    worst = worst or rows[:1]
    flagged = {id(r) for r in worst}
    bars = [
        Bar(
            r["tensor"],
            float(r["channel_snr_db"]) if finite(r.get("channel_snr_db")) else math.nan,
            str(r.get("op", "")),
            id(r) in flagged,
        )
        for r in rows
    ]
    line = " ".join(f"--float-layer {shlex.quote(r['tensor'])}" for r in worst)
    out = (
        "<p>Int8 error of each layer's output, worst (lowest SNR) first; marked bars (red, with <b>!</b>) are "
        f"{esc(why)}. To keep them float (a recipe with float fallback), add:</p>"
        f'<pre id="float-layers">{esc(line)}</pre>'
        '<button class="copy" data-for="float-layers" hidden>copy</button>'
    )
    out += bar_chart(bars, title="Per-layer int8 sensitivity: output SNR vs float (dB, lower is worse)", unit="dB")
    table = [
        [
            f'<td class="num">{_num(r.get("channel_snr_db"))}</td>',
            esc(r.get("op", "")),
            f'<td class="num">{_num(r.get("rmse_over_scale"))}</td>',
            esc(", ".join(_num(x) for x in _l(r.get("range")))),
            f'<span class="name">{esc(r["tensor"])}</span>',
        ]
        for r in rows
    ]
    return out + _table(["SNR dB", "op", "RMSE / scale", "range", "tensor (--float-layer name)"], table) + more


# -- ops ---------------------------------------------------------------------------------------------------
def _ops(report: dict[str, Any]) -> str:
    ops = _d(report.get("ops"))
    table = [r for r in _l(ops.get("table")) if isinstance(r, dict)]
    if not table:
        return ""
    counts = _d(ops.get("counts"))
    target = esc(report.get("target", ""))
    out = (
        "<p>"
        + ", ".join(f"{_num(v)} {esc(PLACEMENT_TEXT.get(k, k))}" for k, v in counts.items())
        + f" (target: {target})</p>"
    )
    rows = []
    for r in table:
        pl, cls = _placement(r)
        rows.append(
            [
                f'<td class="{cls}">{esc(r.get("operator", ""))}</td>',
                esc(r.get("dtype", "")),
                f'<td class="num">{_num(r.get("count"))}</td>',
                f'<td class="{cls}"><b>{esc(PLACEMENT_TEXT.get(pl, pl))}</b> ({esc(r.get("status", ""))})</td>',
                "<br>".join(esc(x) for x in _l(r.get("reasons"))),
            ]
        )
    out += _table(["operator", "dtype", "count", "placement", "reasons"], rows)
    per_op = [r for r in _l(ops.get("ops")) if isinstance(r, dict)]
    if per_op:
        per_op, more = _cut(per_op, "ops")
        prow = []
        for r in per_op:
            pl, cls = _placement(r)
            prow.append(
                [
                    f'<td class="num">{_num(r.get("index"))}</td>',
                    esc(r.get("op", "")),
                    esc(r.get("dtype", "")),
                    f'<td class="{cls}">{esc(PLACEMENT_TEXT.get(pl, pl))}</td>',
                    "<br>".join(esc(x) for x in _l(r.get("reasons"))),
                ]
            )
        out += f"<details><summary>every op ({len(per_op)})</summary>{_table(['#', 'op', 'dtype', 'placement', 'reasons'], prow)}{more}</details>"
    notes = _l(ops.get("notes"))
    if notes:
        out += "<ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>"
    return out


# -- weights per layer (from the converted model in the folder) --------------------------------------------
def weight_rows(model_path: Path) -> list[tuple[str, str, int]]:
    """(op index and name, output tensor, bytes of constant inputs) per op of a .tflite file; a constant
    shared by several ops counts for the first. Empty when the file cannot be read."""
    try:
        from hwquant.device.tflite_model import TfliteModel

        model = TfliteModel.from_file(model_path)
        seen: set[int] = set()
        rows = []
        for op in model.ops:
            total = 0
            for t in op.inputs:
                key = t.buffer
                if t.is_constant and t.buffer_bytes and key not in seen:
                    seen.add(key)
                    total += t.buffer_bytes
            if total:
                out = op.outputs[0].name if op.outputs else ""
                rows.append((f"{op.index} {op.name}", out, total))
        return rows
    except Exception:
        return []


def _weights(report: dict[str, Any], folder: Path | None) -> str:
    name = report.get("artifact_name")
    if folder is None or not isinstance(name, str) or not name.endswith(".tflite") or Path(name).is_absolute():
        return ""
    rows = weight_rows(folder / name)
    if not rows:
        return ""
    rows.sort(key=lambda r: -r[2])
    rows, more = _cut(rows, "layers")
    total = sum(r[2] for r in rows)
    bars = [Bar(f"{op}: {out}", b / 1024, f"{100 * b / total:.1f}%") for op, out, b in rows]
    return (
        f'<p class="muted">Bytes of constant data (weights, biases) each op reads, read from {esc(name)} in this folder; '
        f"total {esc(kib(total))}.</p>"
        + bar_chart(bars, title="Weight bytes per layer (KiB), largest first", unit="KiB")
        + more
    )


# -- ethos-u: Vela's per-layer cycles -----------------------------------------------------------------------
def _vela(report: dict[str, Any]) -> str:
    own = _d(report.get(str(report.get("target"))))
    per = _d(own.get("per_layer_estimates"))
    rows = [r for r in _l(per.get("rows")) if isinstance(r, dict)]
    est = _d(own.get("estimates"))
    if not rows and not est:
        return ""
    out = f'<p class="muted">{esc(per.get("source") or est.get("source") or "")}</p>'
    if est:
        kv = [
            (
                "system",
                esc(
                    f"{est.get('accelerator_configuration', '')} / {est.get('system_config', '')} / {est.get('memory_mode', '')}"
                ),
            ),
            ("cycles total", _num(est.get("cycles_total"))),
            ("NPU / CPU operators", f"{_num(est.get('npu_operators'))} / {_num(est.get('cpu_operators'))}"),
            ("estimated inferences/s", _num(est.get("inferences_per_second"))),
            ("MACs", _num(est.get("nn_macs"))),
        ]
        out += _kv(kv)
    cyc = [r for r in rows if finite(r.get("Op Cycles")) and r["Op Cycles"] > 0]
    if cyc:
        cyc, more = _cut(cyc, "layers")
        bars = [
            Bar(
                f"{r.get('Name', '')}",
                float(r["Op Cycles"]),
                f"{r.get('NNG Operator', '')} on {r.get('Target', '')} ({_pct(r.get('Network% (cycles)'))} of the network)",
            )
            for r in cyc
        ]
        out += (
            bar_chart(bars, title="Vela's estimated cycles per layer (ethos-u), in network order", unit="cycles") + more
        )
    return out


def _pct(v: Any) -> str:
    return f"{v:.1f}%" if finite(v) else "?"


# -- time per stage ----------------------------------------------------------------------------------------
def _timings(report: dict[str, Any]) -> str:
    t = {k: v for k, v in _d(report.get("timings_s")).items() if finite(v)}
    if not t:
        return ""
    shared = set(_l(report.get("timings_shared")))
    bars = [Bar(k + (" (shared by all targets)" if k in shared else ""), float(v)) for k, v in t.items()]
    out = bar_chart(bars, title="Time per stage (seconds)", unit="s")
    built = _d(_d(report.get("cache")).get("built_timings_s"))
    if built:
        out += (
            "<p>The build that made this cache entry took: "
            + ", ".join(f"{esc(k)} {_num(v)} s" for k, v in built.items())
            + "</p>"
        )
    return out


# -- inputs, versions, artifacts ---------------------------------------------------------------------------
def _safe_link(name: str) -> str:
    """A relative link to an artifact in this folder, or plain text for anything that is not one."""
    if not name or ":" in name or name.startswith(("/", "\\")) or "//" in name or ".." in Path(name).parts:
        return f'<span class="name">{esc(name)}</span>'
    return f'<a class="name" href="{esc(name)}">{esc(name)}</a>'


def _about(report: dict[str, Any]) -> str:
    rows = []
    for k, v in _d(report.get("inputs")).items():
        v = _d(v)
        where = v.get("path") or v.get("source") or ""
        extra = (
            f" ({_num(v.get('samples'))} samples{', labelled' if v.get('labelled') else ''})" if "samples" in v else ""
        )
        rows.append(
            (
                str(k),
                f'<span class="name">{esc(where)}</span>{extra}<br><span class="muted mono">sha256 {esc(v.get("sha256", "-"))}</span>',
            )
        )
    versions = _d(report.get("versions"))
    if versions:
        rows.append(("versions", esc(", ".join(f"{k} {v}" for k, v in versions.items()))))
    arts = [a for a in _l(report.get("artifacts")) if isinstance(a, str)]
    if arts:
        rows.append(("artifacts", " ".join(_safe_link(a) for a in arts)))
    cache = _d(report.get("cache"))
    if cache.get("key"):
        rows.append(("cache key", f'<span class="mono">{esc(cache["key"])}</span>'))
    return _kv(rows)


# -- the page ----------------------------------------------------------------------------------------------
def render_target_page(report: dict[str, Any], folder: Path | None = None) -> str:
    """The page's HTML for one target's report (``folder``: where its artifacts are, for weight bytes)."""
    target = str(report.get("target", "?"))
    model = _d(report.get("model")).get("path") or _d(_d(report.get("inputs")).get("model")).get("path") or "?"
    sections = [
        ("verdict", "Verdict", _verdict(report)),
        ("memory", "Memory picture (flash and RAM against the board)", _memory(report)),
        ("decision", "Decision: the rule, the measurements, the choice", _decision(report)),
        ("fidelity", "Fidelity per output (artifact vs float model)", _fidelity(report)),
        ("sensitivity", "Per-layer sensitivity", _sensitivity(report)),
        ("ops", "Operators and where they run", _ops(report)),
        ("weights", "Weight bytes per layer", _weights(report, folder)),
        (
            "vela",
            "Vela's per-layer estimates",
            _vela(report) if target == "ethos-u" or "per_layer_estimates" in _d(report.get(target)) else "",
        ),
        ("timings", "Time per stage", _timings(report)),
        ("about", "Inputs, versions, artifacts", _about(report)),
    ]
    present = [(a, t, b) for a, t, b in sections if b]
    nav = " &middot; ".join(f'<a href="#{a}">{esc(t.split(" (")[0].split(":")[0])}</a>' for a, t, _ in present)
    body = "".join(_section(a, t, b) for a, t, b in present)
    title = f"hwquant report: {model} for {target}"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'; img-src data:\">"
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f'<h1>{esc(target)} <span class="muted">&middot;</span> <span class="name">{esc(model)}</span></h1>'
        f'<p class="muted">hwquant {esc(_d(report.get("versions")).get("hwquant", ""))} &middot; '
        f"schema {esc(report.get('schema_version', '?'))} &middot; rebuilt from report.json with "
        f"<code>hwquant report</code></p><nav>{nav}</nav>{body}"
        f"<script>{SCRIPT}</script></body></html>\n"
    )


def write_target_page(report: dict[str, Any], folder: Path) -> Path:
    """Write ``folder/report.html`` for one target's report (the content of its report.json)."""
    folder = Path(folder)
    page = folder / PAGE_NAME
    tmp = folder / f".{PAGE_NAME}.tmp"
    tmp.write_text(render_target_page(report, folder), encoding="utf-8")
    tmp.replace(page)
    return page
