"""At 80 columns terminal tables become lists: nothing a user must copy (a tensor name for --float-layer, a
reason, a rule) is folded or cut with an ellipsis (issue 18)."""

from __future__ import annotations

from rich.console import Console

from hwquant.cli.shared import registry
from hwquant.cli.targets import render_ops, render_targets
from hwquant.common.tables import table
from hwquant.report.result import render_search, render_sensitivity
from hwquant.report.summary import Row, render

LONG = "model/encoder_block_3/multi_head_attention/attention_output/dense/Tensordot/MatMul;bias"
REASON = "agrees on top-1 for 0.962 (95 % interval 0.93-0.98, 200 samples), limit 0.98; int8 IO kept, see --io-dtype"


def _console(width: int) -> Console:
    return Console(width=width, record=True, color_system=None, force_terminal=False)


def _whole(text: str, *values: str) -> None:
    assert "…" not in text
    lines = text.splitlines()
    for v in values:
        assert any(v in line for line in lines), f"{v!r} is not printed whole on one line:\n{text}"


def test_sensitivity_names_are_printed_whole_at_80_columns():
    rows = [
        {"tensor": LONG, "op": "FULLY_CONNECTED", "channel_snr_db": 3.5, "rmse_over_scale": 0.8, "range": [-4.0, 4]},
        {"tensor": LONG + "_2", "op": "ADD", "channel_snr_db": None, "rmse_over_scale": None, "range": [0, 1]},
    ]
    c = _console(80)
    render_sensitivity(rows, c)
    out = c.export_text()
    _whole(out, LONG, LONG + "_2", "FULLY_CONNECTED")
    assert max(len(line) for line in out.splitlines() if LONG not in line) <= 80  # only the names run past


def test_search_reasons_are_printed_whole_and_a_wide_terminal_keeps_the_table():
    cand = {
        "label": "int8-float-fallback + 1 float layer",
        "chosen": False,
        "within_budget": False,
        "why_not": [REASON],
        "size_bytes": 9000,
        "latency_ms": None,
        "top1_agreement": 0.962,
        "snr_db": 14.2,
        "accuracy": None,
        "target": {"tensor_arena_bytes": 6416},
    }
    search = {"objective": "size", "candidates": [cand, {**cand, "label": "int8-only", "chosen": True}]}
    budget = {"source": "default", "limits": {"min_agreement": 0.98}}
    narrow = _console(80)
    render_search(search, budget, narrow)
    text = narrow.export_text()
    _whole(text, REASON, "int8-float-fallback + 1 float layer")
    assert "- candidate: int8-only" in text and "chosen: *" in text
    wide = _console(400)
    render_search(search, budget, wide)
    text = wide.export_text()
    assert "┃" in text and "- candidate:" not in text  # it fits: still a table
    _whole(text, REASON)


def test_targets_and_op_rules_are_printed_whole_at_80_columns():
    reg = registry()
    c = _console(80)
    render_targets(reg.all(), reg.sources, c)
    rule = reg.get("mcu").describe()["recipe_rule"]
    assert len(rule) > 80
    _whole(c.export_text(), rule)
    c = _console(80)
    render_ops(reg.get("mcu"), c)
    longest = max((x for row in reg.get("mcu").op_table()["ops"] for x in row["constraints"]), key=len)
    _whole(c.export_text(), longest)


def test_check_rows_are_printed_whole_at_80_columns():
    rep = {"target": "mcu", "recipe": {"name": "int8-only"}, "size_bytes": {"artifact": 5000}}
    job = "keyword-spotting-model-with-a-long-name.mcu-nucleo-f446re"
    c = _console(80)
    render([Row(job, "keyword-spotting-model-with-a-long-name", "mcu-nucleo-f446re", rep, "", [])], c)
    _whole(c.export_text(), job, "keyword-spotting-model-with-a-long-name", "mcu-nucleo-f446re")


def test_markup_in_a_cell_is_printed_as_it_is():
    c = _console(80)
    table(c, "t", ("name", "value"), [("[bold]x[/bold]", "[0, 1]")])
    text = c.export_text()
    assert "[bold]x[/bold]" in text and "[0, 1]" in text
