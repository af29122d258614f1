"""index.html over a tree of builds: models x tables, and the change against a baseline tree.

``hwquant report DIR`` reads every report.json below DIR (what ``hwquant check DIR`` reads: a build's
OUT folder, a workspace, or a CI matrix's downloaded artifacts) and writes ``DIR/index.html``: one row
per model and table with its verdict, sizes, arena, flash, RAM, fidelity, and a relative link to the
table's report.html (written beside each report.json that lacks one, so the links work).

With ``baseline`` (the same tree built from the main branch) every measure shows its change, with a
direction colour and a text arrow and word (better/worse: never colour alone), rows whose measures
are all equal say "unchanged", and what newly misses a gate is flagged "crossed": the report's own
accuracy budget, the board fit, and the limits of ``gates`` when given. ``markdown`` writes the same
summary as GitHub-flavoured Markdown (``$GITHUB_STEP_SUMMARY``, GitLab merge-request notes).

Rows of the two trees are paired by job: the report's ``job`` (workspaces, fan-outs), else the report
folder's path below the tree's root.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hwquant.report import gates as gates_mod
from hwquant.report import measures
from hwquant.report.pages.html import CSS, PAGE_NAME, budget_checks, budget_met, write_target_page
from hwquant.report.pages.svg import esc, finite, kib
from hwquant.report.summary import summarize

INDEX_NAME = "index.html"


# -- the measures compared ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    key: str
    title: str
    better: str  # "lower" or "higher": which direction is an improvement
    show: Callable[[float], str]
    change: Callable[[float], str]


def _size(v: float) -> str:
    return f"{kib(v)}" if abs(v) >= 1024 else f"{v:,.0f} B"


def _size_change(d: float) -> str:
    return f"{'+' if d > 0 else '-'}{_size(abs(d))}"


def _pct(v: float) -> str:
    return f"{100 * v:.2f}%"


def _points(d: float) -> str:
    return f"{100 * d:+.2f} points"


COLUMNS: tuple[Column, ...] = (
    Column("size", "size", "lower", _size, _size_change),
    Column("arena", "arena", "lower", _size, _size_change),
    Column("flash", "flash", "lower", _size, _size_change),
    Column("ram", "RAM", "lower", _size, _size_change),
    Column("est_fps", "est. inf/s", "higher", lambda v: f"{v:,.0f}", lambda d: f"{d:+,.0f}"),
    Column("latency_ms", "latency ms", "lower", lambda v: f"{v:.3f}", lambda d: f"{d:+.3f} ms"),
    Column("snr", "worst SNR dB", "higher", lambda v: f"{v:.1f}", lambda d: f"{d:+.1f} dB"),
    Column("agreement", "top-1 agree", "higher", lambda v: f"{v:.4f}", lambda d: f"{d:+.4f}"),
    Column("accuracy", "accuracy", "higher", _pct, _points),
)


@dataclass
class Entry:
    """One table of one model: where it is, its measures and what misses a gate."""

    key: str
    model: str
    table: str
    report: dict[str, Any]
    path: Path
    values: dict[str, float | None]
    misses: list[str] = field(default_factory=list)
    budget: bool | None = None
    fits: bool | None = None

    @property
    def verdict(self) -> str:
        if self.report.get("preflight_only") or self.report.get("sensitivity_only"):
            return "no artifact"
        if self.misses:
            return "fail"
        return "pass" if (self.budget is not None or self.fits is not None) else "built"


def _obj(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _values(report: dict[str, Any]) -> dict[str, float | None]:
    m = measures.of(report)
    dev = _obj(report.get("measures"))
    snrs = [o.snr_db for o in m.outputs.values() if not o.identical]
    finite_snrs = [s for s in snrs if finite(s)]
    agree = [o.top1_agreement for o in m.outputs.values() if finite(o.top1_agreement)]
    fid = _obj(report.get("fidelity"))
    accs = [
        o["accuracy"]["quantized"]
        for o in (fid.get("outputs") or {}).values()
        if isinstance(o, dict) and isinstance(o.get("accuracy"), dict) and finite(o["accuracy"].get("quantized"))
    ]
    return {
        "size": m.size,
        "arena": m.arena,
        "flash": dev.get("flash_bytes") if finite(dev.get("flash_bytes")) else None,
        "ram": dev.get("ram_bytes") if finite(dev.get("ram_bytes")) else None,
        "est_fps": m.est_fps,
        "latency_ms": m.latency_ms,
        "snr": min(finite_snrs) if finite_snrs else (math.inf if m.outputs and not snrs else None),
        "agreement": min(agree) if agree else None,
        "accuracy": min(accs) if accs else None,
    }


def _misses(report: dict[str, Any], gates: gates_mod.Gates | None) -> tuple[list[str], bool | None, bool | None]:
    checks = budget_checks(report)
    lines = [f"budget {c.gate.flag} {c.output}: {c.why}" for c in checks if c.why]
    fp = _obj(_obj(report.get(str(report.get("target")))).get("footprint"))
    fits = fp.get("fits") if isinstance(fp.get("fits"), bool) else None
    if fits is False:
        board = _obj(fp.get("board")).get("name", "?")
        lines.append(f"board {board}: does not fit")
    if gates is not None and gates.any:
        lines += [f"gate {line}" for line in gates_mod.check(report, gates)]
    return lines, budget_met(checks), fits


def collect(tree: Path, gates: gates_mod.Gates | None = None) -> dict[str, Entry]:
    """Every table of every model below ``tree``, keyed by job (InputError, exit 2, when none)."""
    tree = Path(tree)
    summary = summarize(tree, gates_mod.Gates({}))
    entries: dict[str, Entry] = {}
    for row in summary.rows:
        if row.report is None:
            continue
        path = Path(row.path)
        rel = path.parent.relative_to(tree).as_posix() if path.parent != tree else path.parent.name
        job = row.report.get("job")
        key = job if isinstance(job, str) and job else rel
        if key in entries:  # a bench --json file of many models: one key per model
            key = f"{key}#{row.job}"
        misses, budget, fits = _misses(row.report, gates)
        entries[key] = Entry(key, row.model, row.target, row.report, path, _values(row.report), misses, budget, fits)
    return entries


# -- comparing ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Change:
    text: str  # "+3.0 KiB"
    direction: str  # "better", "worse", "same"


def change(col: Column, new: float | None, old: float | None) -> Change | None:
    """The change of one measure (None when either side lacks it)."""
    if new is None or old is None:
        return None if new is None and old is None else Change("appeared" if old is None else "gone", "same")
    if new == old or (not math.isfinite(new) and new == old):
        return Change("=", "same")
    if not (math.isfinite(new) and math.isfinite(old)):
        return Change(f"{old} -> {new}", "worse" if (new < old) == (col.better == "higher") else "better")
    d = new - old
    better = d < 0 if col.better == "lower" else d > 0
    return Change(col.change(d), "better" if better else "worse")


@dataclass
class Line:
    """One row of the dashboard: the entry now, the baseline's, the changes and gates crossed."""

    entry: Entry | None
    base: Entry | None
    changes: dict[str, Change | None] = field(default_factory=dict)
    crossed: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.base is None:
            return "new"
        if self.entry is None:
            return "removed"
        if self.crossed:
            return "crossed a gate"
        return "changed" if any(c is not None and c.direction != "same" for c in self.changes.values()) else "unchanged"


def compare(now: dict[str, Entry], base: dict[str, Entry] | None) -> list[Line]:
    lines = []
    for key in sorted(set(now) | set(base or {}), key=lambda k: ((now.get(k) or (base or {})[k]).model, k)):
        e, b = now.get(key), (base or {}).get(key)
        line = Line(e, b)
        if base is not None and e is not None and b is not None:
            line.changes = {c.key: change(c, e.values.get(c.key), b.values.get(c.key)) for c in COLUMNS}
            line.crossed = [m for m in e.misses if m not in b.misses]
        lines.append(line)
    return lines


ARROW = {"better": "▲", "worse": "▼", "same": "="}  # ▲ better, ▼ worse (whatever the sign of the change)


# -- HTML --------------------------------------------------------------------------------------------------
DASH_CSS = (
    CSS
    + """
body{max-width:1400px}.better{color:var(--ok);font-weight:600}.worse{color:var(--bad);font-weight:600}
.same{color:var(--mut)}tr.unchanged td{color:var(--mut)}td small{display:block;white-space:nowrap}
td.name{word-break:normal;white-space:nowrap}td.why{min-width:120px}.badge,td.num{white-space:nowrap}
td.why small,td.change small{white-space:normal;min-width:260px;font-size:11px}
"""
)

VERDICT_CLASS = {"pass": "pass", "fail": "fail", "built": "info", "no artifact": "info"}


def _cell(col: Column, line: Line) -> str:
    e = line.entry or line.base
    assert e is not None
    v = e.values.get(col.key)
    text = "-" if v is None else (col.show(v) if math.isfinite(v) else str(v))
    ch = line.changes.get(col.key)
    if ch is None or line.status == "unchanged" or ch.text == "=":
        return f'<td class="num">{esc(text)}</td>'
    word = "" if ch.direction == "same" else " " + ch.direction
    arrow = ARROW[ch.direction]
    return f'<td class="num">{esc(text)}<small class="{ch.direction}">{arrow} {esc(ch.text)}{word}</small></td>'


def _link(entry: Entry, out: Path) -> str:
    page = entry.path.parent / PAGE_NAME
    if not page.is_file():
        return "-"
    rel = os.path.relpath(page.resolve(), out.resolve().parent)
    return f'<a href="{esc(Path(rel).as_posix())}">{esc(entry.table)}</a>'


def _used(lines: list[Line]) -> list[Column]:
    """The measures some row has (a tree of cpu builds has no arena column)."""
    return [c for c in COLUMNS if any(_either(ln).values.get(c.key) is not None for ln in lines)]


def _either(line: Line) -> Entry:
    e = line.entry or line.base
    assert e is not None
    return e


def render_html(lines: list[Line], tree: Path, out: Path, baseline: Path | None) -> str:
    used = _used(lines)
    head = ["model", "build / table", "verdict", "recipe", *[c.title for c in used], "page"]
    if baseline is not None:
        head.append("change vs baseline")
    rows = []
    for line in lines:
        e = line.entry or line.base
        assert e is not None
        verdict = e.verdict if line.entry is not None else "removed"
        recipe = _obj(e.report.get("recipe"))
        cells = [
            f'<td class="name">{esc(e.model)}</td>',
            f'<td class="name">{esc(e.key)}</td>',
            f'<td class="why"><span class="badge {VERDICT_CLASS.get(verdict, "info")}">'
            f"{'&#10007; ' if verdict == 'fail' else ('&#10003; ' if verdict == 'pass' else '')}{esc(verdict)}</span>"
            + "".join(f"<small>{esc(m)}</small>" for m in (line.entry.misses if line.entry else []))
            + "</td>",
            f"<td>{esc(recipe.get('label') or recipe.get('name') or '-')}</td>",
            *[_cell(c, line) for c in used],
            f"<td>{_link(line.entry, out) if line.entry else '-'}</td>",
        ]
        if baseline is not None:
            status = line.status
            cls = {"crossed a gate": "fail", "changed": "warn", "new": "info", "removed": "warn"}.get(status, "info")
            extra = "".join(f"<small class='worse'>crossed: {esc(c)}</small>" for c in line.crossed)
            cells.append(f'<td class="change"><span class="badge {cls}">{esc(status)}</span>{extra}</td>')
        rows.append(f'<tr class="{"unchanged" if line.status == "unchanged" else ""}">{"".join(cells)}</tr>')
    counts = _counts(lines, baseline is not None)
    title = f"hwquant builds: {tree}"
    legend = (
        "<p class='muted'>Changes against the baseline: <span class='better'>▲ better</span>, "
        "<span class='worse'>▼ worse</span>, = same (the arrow says the direction of merit, the sign the change). "
        "Verdicts: the report's own accuracy budget and board fit"
        + (
            ", and the gates given"
            if any("gate " in m for line in lines if line.entry for m in line.entry.misses)
            else ""
        )
        + ".</p>"
    )
    h = "".join(f"<th>{esc(c)}</th>" for c in head)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f"<title>{esc(title)}</title><style>{DASH_CSS}</style></head><body>"
        f'<h1>hwquant builds <span class="name">{esc(tree)}</span></h1>'
        + (f'<p>against baseline <span class="name">{esc(baseline)}</span></p>' if baseline is not None else "")
        + f'<p id="counts">{esc(counts)}</p>{legend}'
        f'<table id="builds"><thead><tr>{h}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
        "</body></html>\n"
    )


def _counts(lines: list[Line], with_base: bool) -> str:
    models = {_either(line).model for line in lines}
    fails = sum(1 for line in lines if line.entry and line.entry.verdict == "fail")
    text = f"{len(models)} model(s), {len(lines)} table(s), {fails} failing"
    if with_base:
        by: dict[str, int] = {}
        for line in lines:
            by[line.status] = by.get(line.status, 0) + 1
        text += "; against the baseline: " + ", ".join(f"{n} {s}" for s, n in sorted(by.items()))
    return text


# -- Markdown ----------------------------------------------------------------------------------------------
def _md(text: str) -> str:
    """A table cell's text: pipes, newlines and markup characters made inert."""
    out = text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")
    for ch in "<>`*[]":
        out = out.replace(ch, f"&#{ord(ch)};")
    return out


def render_markdown(lines: list[Line], tree: Path, baseline: Path | None) -> str:
    used = _used(lines)
    head = ["model", "build / table", "verdict", "recipe", *[c.title for c in used]] + (["change"] if baseline else [])
    out = [f"### hwquant: {_md(_counts(lines, baseline is not None))}", ""]
    if baseline is not None:
        out += ["Changes against the baseline: ▲ better, ▼ worse, = same.", ""]
    out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for line in lines:
        e = line.entry or line.base
        assert e is not None
        verdict = e.verdict if line.entry is not None else "removed"
        recipe = _obj(e.report.get("recipe"))
        cells = [_md(e.model), _md(e.key), "**FAIL**" if verdict == "fail" else verdict]
        cells.append(_md(str(recipe.get("label") or recipe.get("name") or "-")))
        for c in used:
            v = e.values.get(c.key)
            text = "-" if v is None else (c.show(v) if math.isfinite(v) else str(v))
            ch = line.changes.get(c.key)
            if ch is not None and line.status != "unchanged" and ch.direction != "same":
                text += f" ({ARROW[ch.direction]} {ch.text} {ch.direction})"
            cells.append(_md(text))
        if baseline is not None:
            status = line.status
            cells.append(("**crossed a gate**: " + _md("; ".join(line.crossed))) if line.crossed else _md(status))
        out.append("| " + " | ".join(cells) + " |")
    fails = [(line.entry.key, m) for line in lines if line.entry for m in line.entry.misses]
    if fails:
        out += ["", "Failing:", *[f"- {_md(k)}: {_md(m)}" for k, m in fails]]
    return "\n".join(out) + "\n"


# -- entry point -------------------------------------------------------------------------------------------
def write_dashboard(
    tree: Path,
    out: Path,
    baseline: Path | None = None,
    markdown: Path | None = None,
    gates: gates_mod.Gates | None = None,
) -> Path:
    """Write ``out`` (an index.html) over the reports below ``tree``; each table's report.html is written
    beside its report.json where it is missing (so the links work). ``baseline``: the same tree from the
    main branch (changes and gates crossed). ``markdown``: the same summary as Markdown. Returns ``out``."""
    tree, out = Path(tree), Path(out)
    now = collect(tree, gates)
    base = collect(Path(baseline), gates) if baseline is not None else None
    per_file: dict[Path, int] = {}
    for e in now.values():
        per_file[e.path] = per_file.get(e.path, 0) + 1
    for e in now.values():
        page = e.path.parent / PAGE_NAME
        if e.path.name == "report.json" and per_file[e.path] == 1 and not page.is_file():
            write_target_page(e.report, e.path.parent)
    lines = compare(now, base)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(render_html(lines, tree, out, baseline), encoding="utf-8")
    tmp.replace(out)
    if markdown is not None:
        Path(markdown).write_text(render_markdown(lines, tree, baseline), encoding="utf-8")
    return out
