"""index.html over a tree of builds, its change against a baseline tree, the Markdown summary, and the
`hwquant report` command (fast: trees of reports; slow: real builds in Chromium)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from hwquant.cli.report_cmd import report as report_cmd
from hwquant.report.pages.dashboard import write_dashboard
from tests.helpers.html_pages import NETWORK_REF, chromium, open_page, parse, report_with


def _tree(root: Path, reports: dict[str, dict]) -> Path:
    for rel, rep in reports.items():
        (root / rel).mkdir(parents=True, exist_ok=True)
        (root / rel / "report.json").write_text(json.dumps(rep))
    return root


def _pair(tmp_path: Path) -> tuple[Path, Path]:
    """Two trees of the same builds (models a and b, tables mcu and ethos-u); in the new one model b grew
    by 3 KiB, its arena by 512 B, it lost 0.4 accuracy points, and its top-1 agreement fell below the
    budget's 0.98."""
    old = {f"{m}/{t}": report_with(m, target=t) for m in ("a", "b") for t in ("mcu", "ethos-u")}
    new = json.loads(json.dumps(old))
    b = new["b/mcu"]
    b["size_bytes"]["artifact"] += 3072
    b["measures"]["tensor_arena_bytes"] += 512
    b["fidelity"]["outputs"]["b"]["accuracy"]["quantized"] -= 0.004
    b["fidelity"]["outputs"]["b"]["top1_agreement"] = 0.95
    new["b/ethos-u"]["measures"]["flash_bytes"] -= 1000  # better
    return _tree(tmp_path / "new", new), _tree(tmp_path / "old", old)


def _rows(page: str) -> dict[str, str]:
    """build/table -> the row's HTML."""
    return {
        re.search(r'<td class="name">[^<]*</td><td class="name">([^<]*)</td>', r).group(1): r
        for r in re.findall(r"<tr class=\"[^\"]*\">.*?</tr>", page)
    }


def test_dashboard_lists_models_by_tables_with_links(tmp_path):
    new, _ = _pair(tmp_path)
    out = write_dashboard(new, new / "index.html")
    page = out.read_text()
    rows = _rows(page)
    assert set(rows) == {"a/mcu", "a/ethos-u", "b/mcu", "b/ethos-u"}
    assert "change vs baseline" not in page
    assert "9.4 KiB" in rows["a/mcu"] and "5.3 KiB" in rows["a/mcu"]  # size, arena
    assert "&#10007; fail" in rows["b/mcu"] and "agrees on top-1 for 0.950, limit 0.98" in rows["b/mcu"]
    assert "&#10003; pass" in rows["a/mcu"]
    # each table's page is written where missing, and linked relatively
    for rel in rows:
        assert (new / rel / "report.html").is_file()
    hrefs = [v for t, a in parse(page).tags for k, v in a if k == "href"]
    assert sorted(hrefs) == sorted(f"{rel}/report.html" for rel in rows)
    assert all((new / h).is_file() for h in hrefs)
    assert not NETWORK_REF.search(page)


def test_baseline_shows_changes_and_what_crossed_a_gate(tmp_path):
    new, old = _pair(tmp_path)
    md = tmp_path / "summary.md"
    page = write_dashboard(new, new / "index.html", baseline=old, markdown=md).read_text()
    rows = _rows(page)
    assert "unchanged" in rows["a/mcu"] and "unchanged" in rows["a/ethos-u"]
    assert 'class="unchanged"' in re.search(r'<tr class="[^"]*">[^\n]*?a/mcu', page).group(0)
    b = rows["b/mcu"]
    assert "▼ +3.0 KiB worse" in b and "▼ +512 B worse" in b and "▼ -0.40 points worse" in b
    assert 'class="worse"' in b
    assert "crossed a gate" in b and "crossed: budget --min-agreement b: agrees on top-1 for 0.950" in b
    assert "▲ -1,000 B better" in rows["b/ethos-u"] and "changed" in rows["b/ethos-u"]
    assert "crossed" not in rows["b/ethos-u"]
    text = md.read_text()
    lines = {ln.split(" | ")[1]: ln for ln in text.splitlines() if ln.startswith("| ") and " | " in ln}
    assert lines["a/mcu"].endswith("| unchanged |") and lines["a/ethos-u"].endswith("| unchanged |")
    assert "9.4 KiB (▼ +3.0 KiB worse)" not in lines["b/mcu"]  # the new size is 12.4 KiB
    assert "12.4 KiB (▼ +3.0 KiB worse)" in lines["b/mcu"] and "(▼ -0.40 points worse)" in lines["b/mcu"]
    assert "**crossed a gate**" in lines["b/mcu"] and "**FAIL**" in lines["b/mcu"]
    assert "1 crossed a gate" in text.splitlines()[0] and "2 unchanged" in text.splitlines()[0]


def test_rows_only_in_one_tree_are_new_or_removed(tmp_path):
    new, old = _pair(tmp_path)
    (new / "a" / "mcu" / "report.json").unlink()
    _tree(new, {"c/mcu": report_with("c", target="mcu")})
    rows = _rows(write_dashboard(new, new / "index.html", baseline=old).read_text())
    assert ">new<" in rows["c/mcu"] and ">removed<" in rows["a/mcu"]


def test_markdown_cells_are_inert(tmp_path):
    name = "x|y<script>*z*"
    tree = _tree(tmp_path / "t", {"m/mcu": report_with(name, target="mcu")})
    md = tmp_path / "s.md"
    write_dashboard(tree, tree / "index.html", markdown=md)
    text = md.read_text()
    assert "<script>" not in text and "x|y" not in text
    row = next(ln for ln in text.splitlines() if ln.startswith("| ") and "m/mcu" in ln)
    assert row.count(" | ") == text.splitlines()[4].count(" | ")  # same number of cells as the header


# -- the command -------------------------------------------------------------------------------------------
def test_report_command_rewrites_a_target_page(tmp_path):
    tree = _tree(tmp_path / "out", {"mcu": report_with("conv", target="mcu")})
    res = CliRunner().invoke(report_cmd, [str(tree / "mcu")])
    assert res.exit_code == 0, res.output
    assert (tree / "mcu" / "report.html").is_file() and "wrote" in res.output
    res = CliRunner().invoke(report_cmd, [str(tree)])  # the build folder: a dashboard
    assert res.exit_code == 0, res.output
    assert (tree / "index.html").is_file()


@pytest.mark.parametrize("case", ["missing", "empty", "no-report-baseline", "bad-json", "bad-type"])
def test_report_command_exits_2_on_a_path_with_no_report(tmp_path, case):
    tree = _tree(tmp_path / "out", {"mcu": report_with("conv", target="mcu")})
    empty = tmp_path / "empty"
    empty.mkdir()
    args = {
        "missing": [str(tmp_path / "nope")],
        "empty": [str(empty)],
        "no-report-baseline": [str(tree), "--baseline", str(empty)],
        "bad-json": [str(tree / "mcu")],
        "bad-type": [str(tree / "mcu")],
    }[case]
    if case == "bad-json":
        (tree / "mcu" / "report.json").write_text("{not json")
    if case == "bad-type":
        r = report_with("conv", target="mcu")
        r["size_bytes"]["artifact"] = "big"
        (tree / "mcu" / "report.json").write_text(json.dumps(r))
    res = CliRunner().invoke(report_cmd, args)
    assert res.exit_code == 2, res.output
    assert "error:" in res.output and "hint:" in res.output and "Traceback" not in res.output
    assert not (tree / "mcu" / "report.html").exists()


# -- real builds: one model changed ------------------------------------------------------------------------
def _tiny(path: Path, filters: int) -> Path:
    """tests/models.keras_cnn's CNN with ``filters`` in its second conv (8 there): a changed model."""
    from tests.helpers import models

    tf = models._tf()
    tf.keras.utils.set_random_seed(models.SEED)
    inputs = tf.keras.Input(shape=models.KERAS_SHAPE, name=models.KERAS_INPUT)
    x = tf.keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = tf.keras.layers.MaxPooling2D(2, name="pool")(x)
    x = tf.keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name="conv2")(x)
    x = tf.keras.layers.Flatten(name="flatten")(x)
    outputs = tf.keras.layers.Dense(models.N_CLASSES, activation="softmax", name="probs")(x)
    path.parent.mkdir(parents=True, exist_ok=True)
    tf.keras.Model(inputs, outputs, name="tiny_cnn").save(path)
    return path


def _build(model: Path, out: Path, data: Path) -> None:
    cmd = [sys.executable, "-m", "hwquant.cli", "build", str(model), "-t", "mcu", "--out", str(out)]
    run = subprocess.run([*cmd, "--data", str(data)], capture_output=True, text=True, timeout=900, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.skipif(chromium() is None, reason="headless Chromium not installed (Debian: apt-get install chromium)")
def test_two_trees_of_real_builds_one_model_changed(tmp_path, digits_dir):
    from tests.helpers import models

    data = tmp_path / "data.npz"
    np.savez(data, image=models.keras_samples(64))
    old_model, new_model = _tiny(tmp_path / "m1" / "tiny.keras", 8), _tiny(tmp_path / "m2" / "tiny.keras", 24)
    digits = digits_dir / "model.keras"
    ddata = digits_dir / "calibration.npz"
    _build(digits, tmp_path / "old" / "digits", ddata)
    _build(old_model, tmp_path / "old" / "tiny", data)
    _build(digits, tmp_path / "new" / "digits", ddata)  # unchanged (a cache hit)
    _build(new_model, tmp_path / "new" / "tiny", data)  # changed: 3x the filters in conv2
    md = tmp_path / "summary.md"
    res = CliRunner().invoke(
        report_cmd, [str(tmp_path / "new"), "--baseline", str(tmp_path / "old"), "--markdown", str(md)]
    )
    assert res.exit_code == 0, res.output
    text = md.read_text()
    rows = {ln.split(" | ")[1]: ln for ln in text.splitlines() if ln.startswith("| ") and " | " in ln}
    assert rows["digits/mcu"].endswith("| unchanged |"), rows["digits/mcu"]
    tiny = rows["tiny/mcu"]
    assert "changed" in tiny or "crossed" in tiny
    assert re.search(r"KiB \(▼ \+[\d.]+ KiB worse\)", tiny), tiny  # size grew
    assert re.search(r"\d \((▲|▼) [+-][\d.]+ dB (better|worse)\)", tiny), tiny  # its SNR moved
    index = tmp_path / "new" / "index.html"
    dom, console, requests = open_page(index, tmp_path / "chromium", screenshot=tmp_path / "dashboard.png")
    assert console == [] and requests == []
    assert 'id="builds"' in dom and "digits/mcu" in dom and "unchanged" in dom


def test_gate_flags_mark_rows_and_what_newly_crosses_them(tmp_path):
    """--max-size 10000: model b's mcu table grew from 9,584 B to 12,656 B and crosses it; the command
    reports it and still exits 0 (`hwquant check` is the gate)."""
    new, old = _pair(tmp_path)
    md = tmp_path / "s.md"
    res = CliRunner().invoke(
        report_cmd, [str(new), "--baseline", str(old), "--markdown", str(md), "--max-size", "10000"]
    )
    assert res.exit_code == 0, res.output
    rows = _rows((new / "index.html").read_text())
    assert "crossed: gate mcu: max-size: artifact is 12656 bytes, limit 10000" in rows["b/mcu"]
    assert "max-size" not in rows["a/mcu"]
    assert "gate ethos-u: max-size: artifact is 10672 bytes" in rows["a/ethos-u"]  # fails in both trees
    assert "crossed" not in rows["a/ethos-u"]
    assert "gate mcu: max-size: artifact is 12656 bytes" in md.read_text()
    res = CliRunner().invoke(report_cmd, [str(new), "--max-size", "lots"])
    assert res.exit_code == 2 and "Traceback" not in res.output


@pytest.mark.parametrize("name", ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "a&b'c"])
def test_hostile_names_in_the_dashboard_are_text(tmp_path, name):
    folder = name.replace("/", "_")
    tree = _tree(tmp_path / "t", {f"{folder}/mcu": report_with(name, target="mcu")})
    page = write_dashboard(tree, tree / "index.html").read_text()
    p = parse(page)
    assert {t for t, _ in p.tags} <= {
        "html", "head", "meta", "title", "style", "body", "h1", "p", "span", "b", "table", "thead", "tbody",
        "tr", "th", "td", "a", "small",
    }  # fmt: skip
    assert not any(k.startswith("on") for _, a in p.tags for k, _ in a)
    assert any(f"{folder}/mcu" in chunk for chunk in p.text)
