"""search.png: labels that never overlap, the budget limit drawn, the chosen point explained, ties as one
point (issue 18). Checked on the matplotlib Figure with its own renderer."""

from __future__ import annotations

import pytest

pytest.importorskip("matplotlib")

from matplotlib.text import Text

from hwquant.choice import plot
from hwquant.choice.search import Candidate
from hwquant.choice.verify import Comparison, OutputComparison
from hwquant.plugin.recipe import preset


def _candidate(name, size, agree, *, chosen=False, misses=(), latency=None, needs=None, layer=None):
    out = OutputComparison(100, 0.1, 0.01, 20.0, 0.99, class_scores=True, top1_agreement=agree)
    recipe = preset(name) if layer is None else preset(name).with_float_layers([layer])
    fid = Comparison({"out": out}, 100)
    return Candidate(recipe, "allowed recipe", b"\0" * size, fid, latency, list(misses), chosen=chosen, needs=needs)


def _labels(fig):
    fig.canvas.draw()  # positions annotations as saving does
    renderer = fig.canvas.get_renderer()
    return [(t.get_text(), Text.get_window_extent(t, renderer)) for ax in fig.axes for t in ax.texts]


def _crowd():
    names = ["int8-only", "int8-float-fallback", "int16x8", "int16x8-float-fallback", "float16", "dynamic-int8"]
    cands = [
        _candidate(names[i % 6] if i < 6 else "int8-float-fallback", 5000 + 3 * i, 0.99 + 0.0005 * (i % 3),
                   chosen=i == 0, latency=0.1 + 0.001 * i, layer=None if i < 6 else f"model/dense_{i}/MatMul")
        for i in range(12)
    ]  # fmt: skip
    cands.append(_candidate("float32", 9000, 0.97, misses=["agrees on top-1 for 0.970, limit 0.98"]))
    return cands


def test_crowded_candidates_get_labels_that_do_not_overlap():
    fig = plot.figure(_crowd(), {"min_agreement": 0.98})
    labels = _labels(fig)
    assert len(labels) == 13 + 12  # one per candidate and panel (float32 has no latency); none dropped
    clashes = [(a, b) for i, (a, ba) in enumerate(labels) for b, bb in labels[i + 1 :] if ba.overlaps(bb)]
    assert clashes == []
    fig_box = fig.get_window_extent(fig.canvas.get_renderer())
    assert all(fig_box.contains(b.x0, b.y0) and fig_box.contains(b.x1, b.y1) for _, b in labels)


def test_the_budget_limit_is_drawn_and_the_chosen_point_is_explained_in_the_legend():
    fig = plot.figure(_crowd(), {"min_agreement": 0.98, "min_snr": 20.0})
    for ax in fig.axes:
        lines = [line for line in ax.get_lines() if line.get_gid() == plot.BUDGET_GID]
        assert len(lines) == 1 and list(lines[0].get_ydata()) == [0.98, 0.98]
        assert ax.get_ylim()[0] < 0.98 < ax.get_ylim()[1]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "chosen: int8-only (allowed recipe; within the budget)" in legend
    assert "budget: min-agreement 0.98" in legend and "misses the budget" in legend


def test_tied_candidates_are_one_point_with_one_label():
    cands = [
        _candidate("int8-only", 5000, 0.99, chosen=True),
        _candidate("int8-float-fallback", 5000, 0.99),
        _candidate("float16", 10000, 1.0),
    ]
    fig = plot.figure(cands, {"min_agreement": 0.98})
    texts = [t for t, _ in _labels(fig)]
    assert texts == ["int8-only, int8-float-fallback (tie)", "float16"]
    offsets = fig.axes[0].collections
    assert sum(len(c.get_offsets()) for c in offsets) == 2  # two markers, not three


def test_without_a_budget_no_limit_is_drawn_and_the_png_is_written(tmp_path):
    cands = [_candidate("int8-only", 5000, 0.99, chosen=True), _candidate("float16", 10000, 1.0)]
    fig = plot.figure(cands, None)
    assert not [line for ax in fig.axes for line in ax.get_lines() if line.get_gid() == plot.BUDGET_GID]
    assert plot.write(tmp_path / "search.png", cands, print, {"min_agreement": 0.98}) == ["search.png"]
    assert (tmp_path / "search.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
