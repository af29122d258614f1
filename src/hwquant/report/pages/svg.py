"""Tiny inline SVG charts for the HTML report: a horizontal bar chart and a labelled scatter.

Plain strings, no dependency and no script: the charts render with JavaScript off. Every string that
reaches the markup goes through :func:`esc` (tensor names and recipe labels come from report.json,
which a user may hand over). Each chart carries a ``<title>`` and an ``aria-label`` (its text
alternative), and never relies on colour alone: bars carry their value as text, the chosen scatter
point is a different shape and says "chosen" in its label.

Text widths are estimated (monospace, :data:`CHAR_W` pixels a character at 12 px), which is what the
label placement and the wrapping of long tensor names use.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeGuard

CHAR_W = 7.3  # px per character of 12px monospace (Chromium's DejaVu Sans Mono: 7.22)
LINE_H = 15.0  # px per text line
FONT = "font-family:ui-monospace,Menlo,Consolas,'DejaVu Sans Mono',monospace;font-size:12px"


def esc(text: object) -> str:
    """``text`` safe inside an element or a double-quoted attribute."""
    return html.escape(str(text), quote=True)


def finite(v: object) -> TypeGuard[float]:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def fmt(v: float) -> str:
    """A short number: 3 significant digits, thousands separated for large ones."""
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def wrap(text: str, width: int) -> list[str]:
    """``text`` cut into lines of at most ``width`` characters, preferring to cut after ``;`` ``/`` ``_``
    or a space (tensor names); no character is dropped, so the lines joined give the text back."""
    width = max(width, 8)
    lines: list[str] = []
    rest = text
    while len(rest) > width:
        cut = max(rest.rfind(c, 0, width) for c in ";/_ ,.:")
        cut = cut + 1 if cut >= width // 3 else width
        lines.append(rest[:cut])
        rest = rest[cut:]
    lines.append(rest)
    return lines


def _text_lines(x: float, y: float, lines: Sequence[str], cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    spans = "".join(
        f'<tspan x="{x:.1f}" dy="{0 if i == 0 else LINE_H:.0f}">{esc(t)}</tspan>' for i, t in enumerate(lines)
    )
    return f'<text x="{x:.1f}" y="{y:.1f}"{attr}>{spans}</text>'


def _open(width: float, height: float, title: str, desc: str) -> str:
    return (
        f'<svg role="img" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" aria-label="{esc(title)}" style="{FONT}">'
        f"<title>{esc(title)}</title><desc>{esc(desc)}</desc>"
    )


# -- bar chart ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    note: str = ""  # text after the value (e.g. the op type)
    flagged: bool = False  # drawn in the warning colour and marked with "!" (not colour alone)


def bar_chart(bars: Sequence[Bar], *, title: str, unit: str, width: int = 960, bar_h: int = 14) -> str:
    """Horizontal bars, one per row; each row's full label (wrapped, never cut) above its bar, the
    value as text at the bar's end. Non-finite values get no bar and say so."""
    label_cols = int((width - 20) / CHAR_W)
    rows = [(b, wrap(b.label, label_cols)) for b in bars]
    vals = [b.value for b in bars if finite(b.value)]
    lo = min([0.0, *vals])  # negative values (an SNR below 0 dB) start the axis: a longer bar is always larger
    top = max([*vals, lo + 1e-12])
    texts = [_bar_text(b, unit) for b in bars]
    room = max([len(t) for t in texts] + [8]) * CHAR_W + 16  # the longest value text fits after a full bar
    plot_w = max(width - 20 - room, width * 0.35)
    y = 8.0
    parts: list[str] = []
    for b, lines in rows:
        parts.append(_text_lines(10, y + 12, lines, "lbl"))
        y += LINE_H * len(lines) + 2
        if finite(b.value):
            w = max(1.0, (b.value - lo) / (top - lo) * plot_w)
            cls = "bar flag" if b.flagged else "bar"
            parts.append(f'<rect class="{cls}" x="10" y="{y:.1f}" width="{w:.1f}" height="{bar_h}" rx="2"/>')
            text = _bar_text(b, unit)
            parts.append(f'<text class="val" x="{16 + w:.1f}" y="{y + bar_h - 3:.1f}">{esc(text)}</text>')
        else:
            parts.append(f'<text class="val" x="10" y="{y + bar_h - 3:.1f}">{esc(f"{b.value} (no bar)")}</text>')
        y += bar_h + 10
    desc = "; ".join(f"{b.label}: {b.value} {unit}" for b in bars[:50])
    return _open(width, y + 4, title, desc) + "".join(parts) + "</svg>"


def _bar_text(b: Bar, unit: str) -> str:
    return f"{'! ' if b.flagged else ''}{fmt(b.value)} {unit}{'  ' + b.note if b.note else ''}"


# -- scatter -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Point:
    x: float
    y: float
    label: str
    chosen: bool = False
    ok: bool = True  # within the budget


Box = tuple[float, float, float, float]  # x0, y0, x1, y1


def overlaps(a: Box, b: Box, pad: float = 1.0) -> bool:
    return a[0] < b[2] + pad and b[0] < a[2] + pad and a[1] < b[3] + pad and b[1] < a[3] + pad


def place_labels(
    anchors: Sequence[tuple[float, float]],
    labels: Sequence[str],
    area: Box,
    avoid: Sequence[Box] = (),
    overflow_y: float | None = None,
) -> list[Box]:
    """A box for each label near its anchor, inside ``area``, overlapping no other label, no anchor's
    marker and nothing in ``avoid``: tries positions around the anchor, then further away in steps
    (greedy; a label that finds no free spot in the area is stacked from ``overflow_y`` down, left-aligned)."""
    markers = [(x - 5, y - 5, x + 5, y + 5) for x, y in anchors]
    placed: list[Box] = []
    lowest = area[3] if overflow_y is None else overflow_y
    for (ax, ay), label in zip(anchors, labels, strict=True):
        w, h = len(label) * CHAR_W + 4, LINE_H
        box = None
        for dist in range(8, 400, 6):
            for sx, sy in ((1, 0), (-1, 0), (0, -1), (0, 1), (1, -1), (1, 1), (-1, -1), (-1, 1)):
                x0 = ax + dist if sx > 0 else (ax - dist - w if sx < 0 else ax - w / 2)
                y0 = ay + dist if sy > 0 else (ay - dist - h if sy < 0 else ay - h / 2)
                cand = (x0, y0, x0 + w, y0 + h)
                if cand[0] < area[0] or cand[2] > area[2] or cand[1] < area[1] or cand[3] > area[3]:
                    continue
                if any(overlaps(cand, o) for o in (*placed, *markers, *avoid)):
                    continue
                box = cand
                break
            if box is not None:
                break
        if box is None:  # no room: stack it under the plot area, left-aligned
            x0 = area[0]
            box = (x0, lowest + 2, x0 + w, lowest + 2 + h)
            lowest = box[3]
        placed.append(box)
    return placed


def ties(points: Sequence[Point]) -> list[Point]:
    """Points at the same place merged into one, labelled "a, b (tie)" (chosen or within the budget when
    any of them is); order kept."""
    groups: dict[tuple[float, float], list[Point]] = {}
    for p in points:
        groups.setdefault((p.x, p.y), []).append(p)
    out = []
    for (x, y), same in groups.items():
        names = list(dict.fromkeys(p.label for p in same))
        label = ", ".join(names) + (" (tie)" if len(names) > 1 else "")
        out.append(Point(x, y, label, any(p.chosen for p in same), any(p.ok for p in same)))
    return out


def scatter(
    points: Sequence[Point],
    *,
    title: str,
    x_label: str,
    y_label: str,
    limit: float | None = None,
    limit_label: str = "",
    width: int = 960,
    height: int = 420,
) -> str:
    """Points (non-finite ones left out) on linear axes, a dashed horizontal line at ``limit``, each
    point labelled (labels do not overlap), the chosen one a larger diamond with "(chosen)" in its label,
    points outside the budget hollow; points at the same place are one point labelled "a, b (tie)", as
    in search.png."""
    pts = ties([p for p in points if finite(p.x) and finite(p.y)])
    left, right, top, bottom = 80.0, width - 20.0, 20.0, height - 50.0
    xs = [p.x for p in pts] or [0.0, 1.0]
    ys = [p.y for p in pts] + ([limit] if finite(limit) else [])
    ys = ys or [0.0, 1.0]

    def span(lo: float, hi: float) -> tuple[float, float]:
        if hi - lo < 1e-12:
            d = abs(hi) * 0.05 or 1.0
            return lo - d, hi + d
        d = (hi - lo) * 0.12
        return lo - d, hi + d

    x0, x1 = span(min(xs), max(xs))
    y0, y1 = span(min(ys), max(ys))

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (right - left)

    def py(y: float) -> float:
        return bottom - (y - y0) / (y1 - y0) * (bottom - top)

    parts = [f'<rect class="plot" x="{left}" y="{top}" width="{right - left}" height="{bottom - top}"/>']
    for i in range(5):  # ticks
        xv = x0 + (x1 - x0) * (i + 0.5) / 5
        yv = y0 + (y1 - y0) * (i + 0.5) / 5
        parts.append(f'<text class="tick" x="{px(xv):.1f}" y="{bottom + 16:.1f}" text-anchor="middle">{fmt(xv)}</text>')
        parts.append(f'<text class="tick" x="{left - 6:.1f}" y="{py(yv) + 4:.1f}" text-anchor="end">{fmt(yv)}</text>')
    parts.append(f'<text class="axis" x="{(left + right) / 2:.1f}" y="{height - 14:.1f}" text-anchor="middle">')
    parts.append(f"{esc(x_label)}</text>")
    parts.append(f'<text class="axis" transform="translate(14 {(top + bottom) / 2:.1f}) rotate(-90)" ')
    parts.append(f'text-anchor="middle">{esc(y_label)}</text>')
    avoid: list[Box] = []
    if finite(limit):
        assert limit is not None
        ly = py(limit)
        parts.append(f'<line class="limit" x1="{left}" x2="{right}" y1="{ly:.1f}" y2="{ly:.1f}"/>')
        text = f"limit {fmt(limit)} {limit_label}".strip()
        w = len(text) * CHAR_W + 4
        box = (right - w - 4, ly - LINE_H - 2, right - 4, ly - 2)
        avoid.append(box)
        parts.append(f'<text class="limit-label" x="{box[0] + 2:.1f}" y="{box[3] - 4:.1f}">{esc(text)}</text>')
    anchors = [(px(p.x), py(p.y)) for p in pts]
    labels = [f"{p.label}{' (chosen)' if p.chosen else ''}{'' if p.ok else ' (over budget)'}" for p in pts]
    boxes = place_labels(anchors, labels, (left + 2, top + 2, right - 2, bottom - 2), avoid, overflow_y=height - 4)
    extra = max([b[3] for b in boxes] + [height]) - height
    for (ax, ay), p, label, b in zip(anchors, pts, labels, boxes, strict=True):
        cls = "pt chosen" if p.chosen else ("pt" if p.ok else "pt over")
        if p.chosen:
            parts.append(
                f'<path class="{cls}" d="M{ax:.1f} {ay - 8:.1f}L{ax + 8:.1f} {ay:.1f}L{ax:.1f} {ay + 8:.1f}'
                f'L{ax - 8:.1f} {ay:.1f}Z"/>'
            )
        else:
            parts.append(f'<circle class="{cls}" cx="{ax:.1f}" cy="{ay:.1f}" r="5"/>')
        parts.append(f'<text class="plbl" x="{b[0] + 2:.1f}" y="{b[3] - 4:.1f}">{esc(label)}</text>')
    desc = "; ".join(f"{lbl}: {x_label} {fmt(p.x)}, {y_label} {fmt(p.y)}" for p, lbl in zip(pts, labels, strict=True))
    if finite(limit):
        desc += f"; budget limit {limit} {limit_label}"
    total_h = height + extra + (6 if extra else 0)
    return _open(width, total_h, title, desc) + "".join(parts) + "</svg>"


# -- memory picture ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MemoryRow:
    name: str  # "Flash", "RAM"
    parts: tuple[tuple[str, float], ...]  # (what, bytes), drawn left to right
    budget: float | None = None  # the board's budget in bytes


def kib(v: float) -> str:
    return f"{v / 1024:,.1f} KiB"


def memory_bars(rows: Sequence[MemoryRow], *, title: str, width: int = 960) -> str:
    """One stacked bar per memory (the parts of what the build needs) against the board's budget (a
    dashed line); each part named with its size in the legend under its bar, and the total said as text
    with its share of the budget and "fits" or "OVER BUDGET" (not colour alone). Each row has its own
    scale (the larger of need and budget); without budgets the rows share one."""
    left, right = 70.0, width - 20.0
    shared = max([sum(v for _, v in r.parts) for r in rows] + [1.0])
    y = 10.0
    parts: list[str] = []
    desc: list[str] = []
    for r in rows:
        total = sum(v for _, v in r.parts)
        scale = max(total, r.budget, 1.0) if r.budget is not None else shared
        parts.append(f'<text class="lbl" x="4" y="{y + 30:.1f}">{esc(r.name)}</text>')
        x = left
        for i, (what, v) in enumerate(r.parts):
            w = max(2.0 if v > 0 else 0.0, v / scale * (right - left))
            parts.append(
                f'<rect class="seg seg{i % 5}" x="{x:.1f}" y="{y + 16:.1f}" width="{w:.1f}" height="22">'
                f"<title>{esc(what)}: {esc(kib(v))}</title></rect>"
            )
            x += w
        over = r.budget is not None and total > r.budget
        verdict = "" if r.budget is None else (" - OVER BUDGET" if over else " - fits")
        share = f" ({100 * total / r.budget:.1f}%)" if r.budget else ""
        head = f"needs {kib(total)}" + (f" of {kib(r.budget)} budget{share}" if r.budget is not None else "") + verdict
        parts.append(
            f'<text class="{"val over" if over else "val"}" x="{left:.1f}" y="{y + 10:.1f}">{esc(head)}</text>'
        )
        if r.budget is not None:
            bx = left + r.budget / scale * (right - left)
            parts.append(f'<line class="limit" x1="{bx:.1f}" x2="{bx:.1f}" y1="{y + 12:.1f}" y2="{y + 42:.1f}"/>')
        lx, ly = left, y + 56
        for i, (what, v) in enumerate(r.parts):
            text = f"{what} {kib(v)}"
            w = len(text) * CHAR_W + 24
            if lx + w > right:
                lx, ly = left, ly + LINE_H + 2
            parts.append(f'<rect class="seg seg{i % 5}" x="{lx:.1f}" y="{ly - 10:.1f}" width="10" height="10"/>')
            parts.append(f'<text class="val" x="{lx + 14:.1f}" y="{ly:.1f}">{esc(text)}</text>')
            lx += w
        desc.append(f"{r.name}: {head} ({', '.join(f'{w} {kib(v)}' for w, v in r.parts)})")
        y = ly + 14
    return _open(width, y + 4, title, "; ".join(desc)) + "".join(parts) + "</svg>"
