"""Model Explorer overlays (`hwquant report OUT/<table> --model-explorer`): node-data JSON read back with
Model Explorer's own types (ai-edge-model-explorer, an optional test dependency), and (slow) its node
keys matched against the graph Model Explorer's own TFLite adapter makes of a real artifact."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from hwquant.cli.report_cmd import report as report_cmd
from hwquant.report.pages.explorer import overlays, write_overlays
from tests.helpers.html_pages import report_with

me = pytest.importorskip("model_explorer.node_data_builder", reason="ai-edge-model-explorer not installed (optional)")
dacite = pytest.importorskip("dacite")


def _read(data: dict) -> dict:
    """Each graph's node data through Model Explorer's GraphNodeData (strict: no unknown key, types checked),
    serialized back with its own writer, keeping the keys we wrote (the writer adds its defaults)."""
    model = me.ModelNodeData(
        graphsData={
            g: dacite.from_dict(me.GraphNodeData, v, config=dacite.Config(strict=True)) for g, v in data.items()
        }
    )
    back = json.loads(model.to_json_string())
    return {g: {k: v for k, v in back[g].items() if k in data[g]} for g in back}


def test_overlays_read_back_with_model_explorers_types(tmp_path):
    r = report_with("conv1", target="mcu")
    written = write_overlays(r, tmp_path)
    assert sorted(p.name for p in written) == [
        "model_explorer_dtype.json",
        "model_explorer_placement.json",
        "model_explorer_sensitivity.json",
    ]
    for p in written:
        data = json.loads(p.read_text())
        assert _read(data) == data  # nothing lost or renamed by Model Explorer's reader
    placement = json.loads((tmp_path / "model_explorer_placement.json").read_text())["main"]["results"]
    assert placement == {"0": {"value": 0}, "1": {"value": 0}, "2": {"value": 1}, "3": {"value": 2}}
    sens = json.loads((tmp_path / "model_explorer_sensitivity.json").read_text())["main"]["results"]
    assert sens == {"conv1": {"value": 20.0}, "conv1/layer1": {"value": 25.0}, "conv1/layer2": {"value": 30.0}}


def test_a_report_without_per_node_data_has_no_overlay():
    r = report_with("x", target="cpu")
    del r["ops"], r["sensitivity"]
    assert overlays(r) == {}


def test_report_command_writes_overlays_for_a_target_folder_only(tmp_path):
    (tmp_path / "out" / "mcu").mkdir(parents=True)
    (tmp_path / "out" / "mcu" / "report.json").write_text(json.dumps(report_with("c", target="mcu")))
    res = CliRunner().invoke(report_cmd, [str(tmp_path / "out" / "mcu"), "--model-explorer"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "out" / "mcu" / "model_explorer_placement.json").is_file()
    res = CliRunner().invoke(report_cmd, [str(tmp_path / "out"), "--model-explorer"])
    assert res.exit_code == 2 and "--model-explorer writes one target's overlays" in res.output


@pytest.mark.slow
def test_node_keys_match_model_explorers_graph_of_a_real_artifact(digits_dir, tmp_path):
    """A real digits mcu build and its sensitivity: every overlay key is a node id or an output tensor
    name of the graph Model Explorer's TFLite adapter makes of model.tflite."""
    adapter = pytest.importorskip("model_explorer.builtin_tflite_flatbuffer_adapter")
    args = ["-t", "mcu", "--data", str(digits_dir / "calibration.npz")]
    for out, extra in ((tmp_path / "b", []), (tmp_path / "s", ["--sensitivity"])):
        cmd = [sys.executable, "-m", "hwquant.cli", "build", str(digits_dir / "model.keras"), "--out", str(out)]
        run = subprocess.run([*cmd, *args, *extra], capture_output=True, text=True, timeout=900, check=False)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    report = json.loads((tmp_path / "b" / "mcu" / "report.json").read_text())
    report["sensitivity"] = json.loads((tmp_path / "s" / "mcu" / "report.json").read_text())["sensitivity"]
    data = overlays(report)
    assert set(data) == {"placement", "dtype", "sensitivity"}
    graphs = adapter.BuiltinTfliteFlatbufferAdapter().convert(str(tmp_path / "b" / "mcu" / "model.tflite"), {})
    (graph,) = [g for c in graphs["graphCollections"] for g in c.graphs]
    assert graph["id"] == "main"
    op_ids = {n["id"] for n in graph["nodes"] if n["label"] not in ("GraphInputs", "GraphOutputs", "pseudo_const")}
    tensors = {
        a["value"]
        for n in graph["nodes"]
        for o in n["outputsMetadata"]
        for a in o["attrs"]
        if a["key"] == "tensor_name"
    }
    assert set(data["placement"]["main"]["results"]) == op_ids
    assert set(data["dtype"]["main"]["results"]) == op_ids
    assert set(data["sensitivity"]["main"]["results"]) <= tensors
    assert len(data["sensitivity"]["main"]["results"]) == len(report["sensitivity"])
    for d in data.values():
        assert _read(d) == d


@pytest.mark.parametrize(
    "bad",
    [{"main": {"results": {"0": {"value": "target"}}}}, {"main": {"results": {}, "colour": "red"}}],
)
def test_model_explorers_reader_rejects_what_it_cannot_read(bad):
    """The check above can fail: a string value or an unknown key is refused by Model Explorer's types."""
    with pytest.raises(dacite.DaciteError):
        _read(bad)
