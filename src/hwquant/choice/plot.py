"""search.png: the search's candidates, size against fidelity (and latency where measured).

matplotlib is optional (it comes with the `build` extra): without it the build writes no plot and says so once (per
process: the note is not repeated for every target of a build, nor for later builds in the same process).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hwquant.choice.search import Candidate

_noted_missing = False  # the missing-matplotlib note was given


def write(path: Path, candidates: list[Candidate], log: Callable[[str], None]) -> list[str]:
    """Plot ``candidates`` into ``path``; returns the file names written (none without matplotlib)."""
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
    measured = [c for c in candidates if c.size is not None and c.fidelity is not None]
    if not measured:
        return []
    latency = any(c.latency_ms is not None for c in measured)
    fig, axes = plt.subplots(1, 2 if latency else 1, figsize=(11 if latency else 6.5, 4.5), squeeze=False)

    def fid(c: Candidate) -> tuple[float, str]:
        s = c.summary()
        if s["accuracy_delta_points"] is not None:
            return s["accuracy_delta_points"], "accuracy change vs float (points)"
        if s["top1_agreement"] is not None:
            return s["top1_agreement"], "top-1 agreement with float"
        return s["snr_db"] if s["snr_db"] is not None else 99.0, "SNR vs float (dB, worst output)"

    ylabel = fid(measured[0])[1]
    panels: list[tuple[str, Callable[[Candidate], float | None]]] = [
        ("size (KiB)", lambda c: c.size / 1024 if c.size is not None else None)
    ]
    if latency:
        panels.append(("host latency (ms)", lambda c: c.latency_ms))
    for ax, (xlabel, x) in zip(axes[0], panels):
        for c in measured:
            if x(c) is None:
                continue
            y = fid(c)[0]
            style: dict[str, Any] = (
                {"marker": "*", "s": 220, "color": "tab:green", "zorder": 3}
                if c.chosen
                else {"marker": "o", "s": 50, "color": "tab:blue" if c.within else "tab:red"}
            )
            ax.scatter([x(c)], [y], **style)
            ax.annotate(c.recipe.label, (x(c), y), textcoords="offset points", xytext=(5, 4), fontsize=8)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    fig.suptitle("hwquant search: star = chosen, blue = within budget, red = misses it", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return [path.name]
