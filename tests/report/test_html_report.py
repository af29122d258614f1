"""report.html per target folder and its SVG charts: escaping, no network reference, label placement,
size; and (slow) real digits builds opened in headless Chromium."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwquant.report.pages import svg
from hwquant.report.pages.html import render_target_page, write_target_page
from tests.helpers.html_pages import NETWORK_REF, chromium, open_page, parse, report_with

TAGS = {
    "html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "nav", "a", "section", "div",
    "span", "b", "code", "pre", "table", "thead", "tbody", "tr", "th", "td", "ul", "ol", "li", "br",
    "details", "summary", "button", "script", "svg", "desc", "rect", "text", "tspan", "line", "circle", "path",
}  # fmt: skip
ATTRS = {
    "lang", "charset", "name", "content", "http-equiv", "class", "id", "href", "role", "width", "height",
    "viewbox", "aria-label", "style", "x", "y", "dy", "x1", "x2", "y1", "y2", "rx", "cx", "cy", "r", "d",
    "transform", "text-anchor", "data-for", "hidden",
}  # fmt: skip
HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "</style><b>x</b>",
    "' onmouseover='alert(1)",
    "//evil.example/x.js",
    "javascript:alert(1)",
    "]]><!--",
    "a&amp;b &lt;",
]
names = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=80),
    st.lists(st.sampled_from(["<", ">", "&", '"', "'", "/", ";", "=", "a", " ", "script"]), min_size=1).map("".join),
)


def _markup_of(page: str) -> tuple[list[str], set[str]]:
    p = parse(page)
    return [t for t, _ in p.tags], {a for _, attrs in p.tags for a, _ in attrs}


# -- escaping ----------------------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(names)
def test_a_hostile_name_anywhere_injects_no_markup(name):
    """Every string from the report is text: the page's elements and attributes are only the page's own,
    one script, no link outside the folder, and the name reads back whole as text."""
    page = render_target_page(report_with(name))
    tags, attrs = _markup_of(page)
    assert set(tags) <= TAGS, set(tags) - TAGS
    assert attrs <= ATTRS, attrs - ATTRS
    assert tags.count("script") == 1 and tags.count("style") == 1
    p = parse(page)
    assert any(name in chunk for chunk in p.text), "the name is not shown as text"
    for _tag, a in p.tags:
        for k, v in a:
            if k == "href":
                assert v is not None and (v.startswith("#") or not re.match(r"[a-z]+:|//|/", v, re.I)), v


def test_artifact_names_link_only_inside_the_folder():
    page = render_target_page(report_with("ok"))
    hrefs = [v for t, a in parse(page).tags for k, v in a if k == "href"]
    assert "model.tflite" in hrefs and "project/main.cc" in hrefs
    page = render_target_page(report_with("//evil.example/x.js"))
    assert "//evil.example" not in [v for t, a in parse(page).tags for k, v in a if k == "href"]


# -- no network --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("target", ["ethos-u", "mcu", "cpu"])
def test_the_page_references_no_network_address(target):
    page = render_target_page(report_with("conv1", target=target))
    assert not NETWORK_REF.search(page), NETWORK_REF.search(page)
    assert "default-src 'none'" in page  # the CSP blocks any request that would slip in


# -- sections ----------------------------------------------------------------------------------------------
def test_sections_show_what_the_report_holds():
    r = report_with("conv1")
    page = render_target_page(r)
    for anchor in ("verdict", "memory", "decision", "fidelity", "sensitivity", "ops", "vela", "timings", "about"):
        assert f'<section id="{anchor}">' in page, anchor
    # placement said in words, not colour alone
    assert "on the target" in page and "falls back (CPU)" in page and "unsupported" in page
    assert 'class="pl-fallback"' in page and 'class="pl-unsupported"' in page
    # the copyable line names the layers under the budget's 30 dB (20 and 25 dB), quoted for a shell
    line = re.search(r'<pre id="float-layers">([^<]*)</pre>', page).group(1)
    assert line == "--float-layer conv1 --float-layer conv1/layer1"
    # board fit in words, with the budget
    assert "fits" in page and "5,632.0 KiB" in page
    # a section the report has no data for is left out
    r2 = {k: v for k, v in r.items() if k not in ("sensitivity", "search", "ethos-u")}
    page2 = render_target_page(r2)
    assert '<section id="sensitivity">' not in page2 and '<section id="memory">' not in page2


def test_budget_verdicts_follow_the_gates():
    r = report_with("out")
    r["fidelity"]["outputs"]["out"]["top1_agreement"] = 0.9
    page = render_target_page(r)
    verdict = re.search(r'<div class="verdict" id="verdict-line">(.*?)</div>', page).group(1)
    assert "missed" in verdict and "&#10007;" in verdict
    assert "agrees on top-1 for 0.900, limit 0.98" in page  # the gate's own line
    r["fidelity"]["outputs"]["out"]["top1_agreement"] = 0.99
    assert "met" in re.search(r'id="verdict-line">(.*?)</div>', render_target_page(r)).group(1)


def test_write_target_page_writes_report_html(tmp_path):
    page = write_target_page(report_with("x"), tmp_path)
    assert page == tmp_path / "report.html" and page.read_text().startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_a_mobilenet_sized_report_stays_under_500_kib():
    """MobileNetV2 int8: ~65 ops, ~150 tensors, ~250 Vela rows; long tensor names."""
    name = "model/mobilenetv2_1.00_224/block_16_project_BN/FusedBatchNormV3;model/block_16_project/Conv2D"
    r = report_with(name, n_layers=160)
    r["ops"]["ops"] = r["ops"]["ops"] * 40
    r["ethos-u"]["per_layer_estimates"]["rows"] *= 2
    size = len(render_target_page(r).encode())
    assert size < 500 * 1024, size


# -- svg ---------------------------------------------------------------------------------------------------
boxes_in = st.lists(
    st.tuples(st.floats(0, 600), st.floats(0, 300), st.text(min_size=1, max_size=30)), min_size=1, max_size=25
)


@settings(max_examples=200, deadline=None)
@given(boxes_in)
def test_scatter_labels_never_overlap(points):
    """Each label lies inside the plot area or in the overflow band under it, and overlaps no other label
    nor any point's marker."""
    area = (0.0, 0.0, 600.0, 300.0)
    anchors = [(x, y) for x, y, _ in points]
    labels = [t for _, _, t in points]
    boxes = svg.place_labels(anchors, labels, area, overflow_y=330.0)
    for i, a in enumerate(boxes):
        assert (a[0] >= area[0] and a[2] <= area[2] and a[1] >= area[1] and a[3] <= area[3]) or a[1] >= 330.0
        for b in boxes[i + 1 :]:
            assert not svg.overlaps(a, b, pad=0), (a, b)
        if a[3] <= area[3]:
            for x, y in anchors:
                assert not svg.overlaps(a, (x - 5, y - 5, x + 5, y + 5), pad=0)


@given(st.text(max_size=300), st.integers(1, 120))
def test_wrap_keeps_every_character(text, width):
    lines = svg.wrap(text, width)
    assert "".join(lines) == text
    assert all(len(line) <= max(width, 8) for line in lines)


def test_scatter_draws_the_limit_and_marks_the_chosen_one():
    pts = [
        svg.Point(9584, 1.0, "int8-only", chosen=True),
        svg.Point(10496, 0.997, "int16x8"),
        svg.Point(12000, 0.9, "fp16", ok=False),
    ]
    out = svg.scatter(
        pts, title="cands", x_label="size (bytes)", y_label="agreement", limit=0.98, limit_label="(budget)"
    )
    assert out.count("<title>cands</title>") == 1 and 'aria-label="cands"' in out
    assert 'class="limit"' in out and "limit 0.98 (budget)" in out
    assert "int8-only (chosen)" in out and 'class="pt chosen"' in out and "<path" in out
    assert "fp16 (over budget)" in out and 'class="pt over"' in out
    # the limit line is drawn between the chosen point (1.0) and the one under it (0.9)
    ys = {m.group(1): float(m.group(2)) for m in re.finditer(r'class="(pt over|limit)"[^>]*?(?:cy|y1)="([\d.]+)"', out)}
    limit_y = float(re.search(r'class="limit" x1="[\d.]+" x2="[\d.]+" y1="([\d.]+)"', out).group(1))
    over_y = float(re.search(r'class="pt over" cx="[\d.]+" cy="([\d.]+)"', out).group(1))
    assert over_y > limit_y, ys


def test_bar_chart_keeps_full_names_and_says_values_in_text():
    long = "digits_cnn_1/conv3_1/Relu;digits_cnn_1/conv3_1/BiasAdd;digits_cnn_1/conv3_1/convolution;x" * 2
    out = svg.bar_chart(
        [svg.Bar(long, 39.0, "CONV_2D", flagged=True), svg.Bar("b", float("nan"))], title="t", unit="dB"
    )
    text = "".join(parse(out).text)
    assert long in "".join(re.findall(r"<tspan[^>]*>([^<]*)</tspan>", out))
    assert "! 39 dB  CONV_2D" in text and "nan (no bar)" in text


def test_memory_bars_say_over_budget_in_words():
    out = svg.memory_bars(
        [svg.MemoryRow("RAM", (("tensor arena", 300_000.0), ("stack", 3072.0)), budget=256 * 1024)], title="m"
    )
    assert "OVER BUDGET" in out and 'class="limit"' in out and "tensor arena 293.0 KiB" in out


# -- real builds in a real browser -------------------------------------------------------------------------
needs_chromium = pytest.mark.skipif(
    chromium() is None, reason="headless Chromium not installed (Debian: apt-get install chromium)"
)


def _build(digits_dir: Path, out: Path, *args: str) -> None:
    cmd = [sys.executable, "-m", "hwquant.cli", "build", str(digits_dir / "model.keras"), "--out", str(out)]
    cmd += ["--data", str(digits_dir / "calibration.npz"), "--eval-data", str(digits_dir / "eval.npz"), *args]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]


@pytest.fixture(scope="module")
def digits_builds(digits_dir, tmp_path_factory):
    """Real digits builds: cpu, mcu, ethos-u with the recipe search and board budgets; mcu sensitivity."""
    root = tmp_path_factory.mktemp("digits-html")
    _build(digits_dir, root / "auto", "-t", "cpu,mcu,ethos-u", "--recipe", "auto", "--mcu-board", "cortex-m4",
           "--ethos-u-board", "alif-e7-hp")  # fmt: skip
    _build(digits_dir, root / "sens", "-t", "mcu", "--sensitivity")
    return root


@needs_chromium
@pytest.mark.slow
def test_chromium_detects_console_errors_and_requests(tmp_path):
    """The checks below can fail: a page that logs an error and loads a remote image is caught."""
    probe = tmp_path / "probe" / "report.html"
    probe.parent.mkdir()
    probe.write_text(
        '<!DOCTYPE html><p id="a">x</p><img src="https://example.com/x.png"><script>console.error("boom")</script>'
    )
    dom, console, requests = open_page(probe, tmp_path)
    assert 'id="a"' in dom
    assert any("boom" in line for line in console)
    assert requests == ["https://example.com/x.png"]


@needs_chromium
@pytest.mark.slow
@pytest.mark.parametrize("folder", ["auto/cpu", "auto/mcu", "auto/ethos-u", "sens/mcu"])
def test_digits_pages_render_in_chromium(digits_builds, folder, tmp_path):
    target_dir = digits_builds / folder
    report = json.loads((target_dir / "report.json").read_text())
    page = write_target_page(report, target_dir)
    html = page.read_text()
    assert page.stat().st_size < 500 * 1024
    assert not NETWORK_REF.search(html)
    shot = tmp_path / f"{folder.replace('/', '-')}.png"
    dom, console, requests = open_page(page, tmp_path, screenshot=shot)
    assert console == [], console
    assert requests == [], requests
    assert 'id="verdict-line"' in dom
    if folder.startswith("sens"):
        assert 'id="sensitivity"' in dom and 'id="float-layers"' in dom and "--float-layer " in dom
        assert "<svg" in dom and "Per-layer int8 sensitivity" in dom
        # the script ran: the copy button is shown
        assert re.search(r'<button class="copy" data-for="float-layers">copy</button>', dom)
        # the page without its script (headless Chromium's DOM dump needs scripts on, so the script is
        # cut out): the charts and the line are there, the copy button stays hidden
        nojs = tmp_path / "nojs" / "report.html"
        nojs.parent.mkdir()
        nojs.write_text(re.sub(r"<script>.*?</script>", "", html, flags=re.S))
        dom, console, requests = open_page(nojs, tmp_path, screenshot=tmp_path / "sens-nojs.png")
        assert console == [] and requests == [] and "<script" not in dom
        assert "<svg" in dom and 'id="float-layers"' in dom
        assert re.search(r'<button class="copy" data-for="float-layers" hidden="">copy</button>', dom)
        return
    assert "recipe <b>" in dom and 'id="decision"' in dom and "(chosen)" in dom  # the search scatter
    assert 'id="fidelity"' in dom and 'id="ops"' in dom and "on the target" in dom
    if folder.endswith(("mcu", "ethos-u")):
        assert 'id="memory"' in dom and "Flash" in dom and "RAM" in dom and "budget" in dom
        board = "cortex-m4" if folder.endswith("mcu") else "alif-e7-hp"
        assert f"Board <b>{board}</b>" in dom and "&#10003; fits" not in dom  # parsed: the DOM has the character
        assert "✓ fits" in dom
    if folder.endswith("ethos-u"):
        assert 'id="vela"' in dom and "Vela's estimated cycles per layer" in dom
    assert shot.stat().st_size > 10_000


def test_bars_grow_with_the_value_even_below_zero():
    out = svg.bar_chart([svg.Bar("a", -3.8), svg.Bar("b", -0.2), svg.Bar("c", 5.0)], title="t", unit="dB")
    widths = [float(w) for w in re.findall(r'<rect class="bar" x="10" y="[\d.]+" width="([\d.]+)"', out)]
    assert widths[0] < widths[1] < widths[2]


def test_budget_rows_are_the_reports_own_verdicts_with_intervals(tmp_path):
    """The page shows what the build decided (value, 95 % interval, samples, limit, pass/miss/undecided),
    the same rows as the terminal's verdict block, not a re-judgement by the gates' rules."""
    report = {
        "schema_version": 2,
        "target": "cpu",
        "budget": {"source": "default", "applied": True, "limits": {"min_agreement": 0.98}},
        "fidelity": {
            "outputs": {
                "probs": {
                    "kind": "probabilities",
                    "top1_agreement": 0.975,
                    "measures": {
                        "top1_agreement": {
                            "value": 0.975,
                            "samples": 40,
                            "low": 0.871,
                            "high": 0.996,
                            "limit": 0.98,
                            "verdict": "undecided",
                            "samples_to_decide": 700,
                        },
                    },
                },
                "recon": {
                    "kind": "regression",
                    "measures": {
                        "snr_db": {
                            "value": 12.5,
                            "samples": 40,
                            "low": 11.0,
                            "high": 14.0,
                            "limit": 20,
                            "verdict": "miss",
                        }
                    },
                },
            }
        },
    }
    page = render_target_page(report, tmp_path)
    assert "0.975 [0.871, 0.996]" in page and "on 40 samples" in page and "undecided" in page
    assert "about 700 samples would decide" in page
    assert "12.5 [11, 14]" in page and "&#10007; miss" in page and "[regression]" in page
    assert 'accuracy budget <span class="badge fail">&#10007; missed</span>' in page  # a miss: not met


def test_scatter_draws_tied_points_once_with_one_label():
    pts = [svg.Point(9584, 1.0, "int8-only", chosen=True), svg.Point(9584, 1.0, "int8-float-fallback")]
    out = svg.scatter(pts, title="t", x_label="size", y_label="agreement", limit=0.98)
    assert "int8-only, int8-float-fallback (tie) (chosen)" in out
    assert out.count('class="pt chosen"') == 1 and "<circle" not in out
