"""search.png: the search's candidates, size against fidelity (and latency where measured).

Each point is labelled with its recipe, the labels placed so that none overlaps another label or a
marker (a small deterministic placer: offsets around the point, further out in steps, measured with
the renderer); candidates that measured the same (identical size and fidelity) are one marker with
one label, "int8, int8-only (tie)". The budget's limit on the plotted measure is a dashed line with
the side that misses it shaded, and the legend says which point was chosen and why.

matplotlib is optional (it comes with the `build` extra): without it the build writes no plot and says so once (per
process: the note is not repeated for every target of a build, nor for later builds in the same process).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwquant.choice.search import Candidate

_noted_missing = False  # the missing-matplotlib note was given
BUDGET_GID = "budget-limit"  # the budget line's artist id (tests find it by this)
# the plotted measure -> (axis label, budget limit key, how a limit maps onto the axis)
MEASURES: dict[str, tuple[str, str, Callable[[float], float]]] = {
    "accuracy_delta_points": ("accuracy change vs float (points)", "max_accuracy_drop", lambda v: -v),
    "top1_agreement": ("top-1 agreement with float", "min_agreement", lambda v: v),
    "snr_db": ("SNR vs float (dB, worst output)", "min_snr", lambda v: v),
}


@dataclass
class Group:
    """Candidates that measured the same: one marker, one label."""

    members: list[Candidate]
    x: dict[str, float]  # panel x label -> x value
    y: float

    @property
    def chosen(self) -> bool:
        return any(c.chosen for c in self.members)

    @property
    def within(self) -> bool:
        return any(c.within and not c.needs for c in self.members)

    @property
    def label(self) -> str:
        names = list(dict.fromkeys(c.recipe.label for c in self.members))
        return ", ".join(names) + (" (tie)" if len(names) > 1 else "")


def measure_of(candidates: list[Candidate]) -> str:
    """The fidelity measure the plot's y axis shows: accuracy change with labels, else agreement, else SNR."""
    sums = [c.summary() for c in candidates]
    for key in ("accuracy_delta_points", "top1_agreement"):
        if any(s[key] is not None for s in sums):
            return key
    return "snr_db"


def write(
    path: Path, candidates: list[Candidate], log: Callable[[str], None], limits: dict[str, float] | None = None
) -> list[str]:
    """Plot ``candidates`` into ``path`` (``limits``: the budget's); returns the file names written (none
    without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        global _noted_missing
        if not _noted_missing:
            _noted_missing = True
            log("note: matplotlib is not installed, so no search.png (pip install matplotlib)")
        return []
    fig = figure(candidates, limits)
    if fig is None:
        return []
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return [path.name]


def figure(candidates: list[Candidate], limits: dict[str, float] | None = None) -> Any:
    """The search plot as a matplotlib Figure (None when no candidate was measured)."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    measured = [c for c in candidates if c.size is not None and c.fidelity is not None]
    if not measured:
        return None
    key = measure_of(measured)
    ylabel, limit_key, on_axis = MEASURES[key]
    limit = (limits or {}).get(limit_key)
    panels: list[tuple[str, Callable[[Candidate], float | None]]] = [
        ("size (KiB)", lambda c: c.size / 1024 if c.size is not None else None)
    ]
    if any(c.latency_ms is not None for c in measured):
        panels.append(("host latency (ms)", lambda c: c.latency_ms))
    groups = _groups(measured, key, panels)
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels) + 3.5, 4.8), squeeze=False)
    for ax, (xlabel, _) in zip(axes[0], panels, strict=True):
        shown = [g for g in groups if xlabel in g.x]
        for g in shown:
            ax.scatter([g.x[xlabel]], [g.y], **_style(g))
        if limit is not None:
            _budget(ax, on_axis(limit), [g.y for g in shown], key)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.margins(0.15)
    fig.suptitle("hwquant recipe search", fontsize=11)
    handles: list[Any] = [
        Line2D([], [], marker="*", ls="", ms=14, color="tab:green", label=_chosen_text(groups)),
        Line2D([], [], marker="o", ls="", color="tab:blue", label="within the budget"),
        Line2D([], [], marker="o", ls="", color="tab:red", label="misses the budget"),
    ]
    if any(c.needs for c in measured):
        handles.append(Line2D([], [], marker="o", ls="", mfc="none", color="grey", label="needs other IO: not chosen"))
    if limit is not None:
        handles.append(
            Line2D([], [], ls="--", color="tab:red", label=f"budget: {limit_key.replace('_', '-')} {limit:g}")
        )
        handles.append(Patch(color="tab:red", alpha=0.08, label="misses the limit"))
    fig.legend(handles=handles, loc="upper right", fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1 - 3.5 / (6.5 * len(panels) + 3.5), 0.95))
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]  # Agg's canvas
    for ax, (xlabel, _) in zip(axes[0], panels, strict=True):
        place_labels(ax, [g for g in groups if xlabel in g.x], xlabel, renderer)
    return fig


def _groups(
    measured: list[Candidate], key: str, panels: list[tuple[str, Callable[[Candidate], float | None]]]
) -> list[Group]:
    """Candidates with the same size, latency and plotted measure, as one group each (in order)."""
    out: dict[tuple[Any, ...], Group] = {}
    for c in measured:
        y = c.summary()[key]
        y = 99.0 if y is None else float(y)  # SNR of identical outputs: infinite, drawn at the top
        xs = {label: float(v) for label, x in panels if (v := x(c)) is not None}
        sig = (round(y, 9), *sorted((k, round(v, 9)) for k, v in xs.items()))
        if sig in out:
            out[sig].members.append(c)
        else:
            out[sig] = Group([c], xs, y)
    return list(out.values())


def _style(g: Group) -> dict[str, Any]:
    if g.chosen:
        return {"marker": "*", "s": 240, "color": "tab:green", "zorder": 3}
    if all(c.needs for c in g.members):
        return {"marker": "o", "s": 50, "facecolors": "none", "edgecolors": "grey", "zorder": 2}
    return {"marker": "o", "s": 50, "color": "tab:blue" if g.within else "tab:red", "zorder": 2}


def _chosen_text(groups: list[Group]) -> str:
    chosen = [c for g in groups for c in g.members if c.chosen]
    if not chosen:
        return "chosen: none (no candidate within the budget)"
    c = chosen[0]
    return f"chosen: {c.recipe.label} ({c.origin}; {'within the budget' if c.within else 'the best measured'})"


def _budget(ax: Any, y: float, ys: list[float], key: str) -> None:
    """The limit as a dashed line, the side that misses it shaded; the y range keeps the line in view."""
    lo, hi = min([*ys, y]), max([*ys, y])
    pad = (hi - lo) * 0.15 or abs(y) * 0.05 or 1.0
    ax.set_ylim(lo - pad, hi + pad)
    ax.axhline(y, ls="--", color="tab:red", lw=1.2, gid=BUDGET_GID)
    ax.axhspan(lo - pad, y, color="tab:red", alpha=0.08, lw=0)  # every plotted measure misses below its limit


def place_labels(ax: Any, groups: list[Group], xlabel: str, renderer: Any) -> list[Any]:
    """One annotation per group, each where its box overlaps no other label and no marker: positions on
    rings around the point, nearest first (right, left, above, below and between), inside the axes
    when there is room, else anywhere in the figure. Deterministic; a label placed away from its point
    gets a thin line to it."""
    scale = ax.figure.dpi / 72  # offset points -> pixels
    markers = []
    for g in groups:
        px, py = ax.transData.transform((g.x[xlabel], g.y))
        r = 10 if g.chosen else 6
        markers.append((px - r, py - r, px + r, py + r))
    a, f = ax.get_window_extent(renderer), ax.figure.get_window_extent(renderer)
    areas = [(a.x0, a.y0, a.x1, a.y1), (f.x0, f.y0, f.x1, f.y1)]
    placed: list[tuple[float, float, float, float]] = []
    texts = []
    for g in groups:
        px, py = ax.transData.transform((g.x[xlabel], g.y))
        probe = ax.annotate(g.label, (0, 0), xycoords="figure pixels", fontsize=8, ha="left", va="bottom")
        size = probe.get_window_extent(renderer)
        probe.remove()
        spot = _free_spot(px, py, size.width, size.height, areas, [*placed, *markers])
        dx, dy, ha, va, box = spot
        far = max(abs(dx), abs(dy)) > 14
        line = {"arrowstyle": "-", "color": "grey", "lw": 0.6, "shrinkA": 0, "shrinkB": 4} if far else None
        ann = ax.annotate(
            g.label,
            (g.x[xlabel], g.y),
            textcoords="offset points",
            xytext=(dx / scale, dy / scale),
            fontsize=8,
            ha=ha,
            va=va,
            arrowprops=line,
            annotation_clip=False,
        )
        placed.append(box)
        texts.append(ann)
    return texts


Box = tuple[float, float, float, float]


def _free_spot(
    px: float, py: float, w: float, h: float, areas: list[Box], taken: list[Box]
) -> tuple[float, float, str, str, Box]:
    """The nearest offset (pixels) from (px, py) whose label box (w x h) lies in an area (tried in order)
    and overlaps nothing taken: (dx, dy, ha, va, box)."""
    last: tuple[float, float, str, str, Box] | None = None
    for area in areas:
        for r in range(8, 2000, 6):
            for dx, dy in _ring(r):
                ha = "left" if dx > 0 else ("right" if dx < 0 else "center")
                va = "bottom" if dy > 0 else ("top" if dy < 0 else "center")
                x0 = px + dx - (w if dx < 0 else (w / 2 if dx == 0 else 0))
                y0 = py + dy - (h if dy < 0 else (h / 2 if dy == 0 else 0))
                box = (x0 - 1, y0 - 1, x0 + w + 1, y0 + h + 1)
                last = (dx, dy, ha, va, box)
                if box[0] < area[0] or box[2] > area[2] or box[1] < area[1] or box[3] > area[3]:
                    continue
                if not any(_overlap(box, o) for o in taken):
                    return dx, dy, ha, va, box
            if r > max(area[2] - area[0], area[3] - area[1]):
                break
    assert last is not None
    return last  # no free place in the whole figure (thousands of labels): the farthest tried


def _ring(r: int) -> list[tuple[int, int]]:
    """Offsets on the square ring of radius r: the four sides' middles first, then outwards to the corners."""
    out = [(r, 0), (-r, 0), (0, r), (0, -r)]
    for t in range(6, r + 1, 6):
        out += [(r, t), (r, -t), (-r, t), (-r, -t), (t, r), (-t, r), (t, -r), (-t, -r)]
    return out


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
