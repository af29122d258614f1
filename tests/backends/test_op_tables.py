"""Op tables proven against the runtimes they describe: one generated single-op model per
(op, dtype) row (tests/helpers/opgen.py), invoked by the real LiteRT interpreter."""

from __future__ import annotations

from collections import defaultdict

import pytest

from hwquant import CheckRequest, TfliteModel
from hwquant_backends._litert.ops import SUPPORT as CPU
from hwquant_backends._tflm.ops import PROVEN as MCU_PROVEN
from hwquant_backends._tflm.ops import SOURCE_ONLY as MCU_SOURCE_ONLY
from hwquant_backends._tflm.ops import SUPPORT as MCU
from hwquant_backends.cpu import CpuBackend
from tests.helpers import opgen


def _by_op():
    out = defaultdict(list)
    for op, dt in opgen.cases():
        out[op].append(dt)
    return out


@pytest.fixture(scope="module")
def litert_results():
    """(op, dtype as hwquant reads it) -> [(generated dtype, error or None)] for every generated model."""
    res = defaultdict(list)
    for op, dt in opgen.cases():
        m = opgen.model(op, dt)
        parsed = TfliteModel(m).ops[0]
        res[(parsed.name, parsed.dtype)].append((dt, opgen.run_litert(m)))
    return res


def test_cpu_every_row_is_backed_by_a_generated_model(litert_results):
    rows = {(op, dt) for op, dts in CPU.ops.items() for dt in dts}
    assert rows, "empty cpu table"
    unbacked = sorted(rows - set(litert_results))
    assert not unbacked, f"cpu rows with no generated single-op model: {unbacked}"


def _agree(op, results, rows, table, runtime):
    """A row the runtime cannot run, or an (op, dtype) it runs that the table lacks, fails."""
    for (name, dt), runs in results.items():
        if name != op:
            continue
        ok = [gen for gen, err in runs if err is None]
        if dt in rows.get(name, ()):
            assert ok, f"{table} table claims {name} {dt}, but {runtime} fails: {runs}"
        else:
            assert not ok, f"{runtime} runs {name} {dt} (generated as {ok}) but the {table} table lacks it"


@pytest.mark.parametrize("op", sorted(_by_op()))
def test_cpu_table_agrees_with_litert(op, litert_results):
    _agree(op, litert_results, CPU.ops, "cpu", "LiteRT")


def test_cpu_never_refuses_what_it_does_not_know():
    """An op outside the table is left to the verify stage's invoke, not refused (exit 3)."""
    m = TfliteModel(opgen.model("UNSORTED_SEGMENT_SUM", "int32"))
    saved = CPU.ops.pop("UNSORTED_SEGMENT_SUM")
    try:
        report = CpuBackend().check(m, CheckRequest())
    finally:
        CPU.ops["UNSORTED_SEGMENT_SUM"] = saved
    (v,) = report.verdicts
    assert v.placement == "target" and v.status == "unverified by table" and not report.unsupported
    assert "UNSORTED_SEGMENT_SUM int32" in report.notes[0]


def test_cpu_refuses_flex_ops_which_litert_cannot_run():
    m = opgen.custom_model("FlexAddV2")
    assert opgen.run_litert(m) is not None  # LiteRT ships no Flex delegate
    report = CpuBackend().check(TfliteModel(m), CheckRequest())
    assert [v.placement for v in report.verdicts] == ["unsupported"]
    # a custom op LiteRT registers itself is not refused by the table
    other = CpuBackend().check(TfliteModel(opgen.custom_model("TFLite_Detection_PostProcess")), CheckRequest())
    assert not other.unsupported


# -- mcu: the tflite-micro interpreter -----------------------------------------------------------
@pytest.fixture(scope="module")
def tflm_results():
    """(op, dtype as hwquant reads it) -> [(generated dtype, error or None)], run by TFLM in a child."""
    ran = opgen.run_tflm(opgen.cases())
    res = defaultdict(list)
    for (op, dt), err in ran.items():
        parsed = TfliteModel(opgen.model(op, dt)).ops[0]
        res[(parsed.name, parsed.dtype)].append((dt, err))
    return res


def test_mcu_every_proven_row_is_backed_by_a_generated_model(tflm_results):
    rows = {(op, dt) for op, dts in MCU_PROVEN.items() for dt in dts}
    assert not sorted(rows - set(tflm_results)), "mcu rows with no generated single-op model"
    # the rows that are not proven are exactly the declared source-only ones, none of them generable
    assert not {op for op in MCU_SOURCE_ONLY if op in opgen.SPECS}


@pytest.mark.parametrize("op", sorted(_by_op()))
def test_mcu_table_agrees_with_tflm(op, tflm_results):
    _agree(op, tflm_results, MCU_PROVEN, "mcu", "TFLM")
    for (name, dt), runs in tflm_results.items():  # a refused row is not in the table at all
        if name == op and all(err is not None for _, err in runs):
            assert dt not in MCU.ops.get(name, ()), f"{name} {dt} is in the mcu table but TFLM refuses it"


def test_mcu_refuses_what_tflm_refuses_and_marks_source_only_rows():
    from hwquant_backends.mcu import McuBackend

    report = McuBackend().check(TfliteModel(opgen.model("EXP", "int8")), CheckRequest())  # TFLM's EXP is float32 only
    assert [v.placement for v in report.unsupported] == ["unsupported"]
    assert opgen.run_tflm([("EXP", "int8")])[("EXP", "int8")] is not None


def test_mcu_source_only_rows_are_left_to_the_tflm_interpreter(monkeypatch):
    from hwquant_backends import mcu

    monkeypatch.setitem(MCU_SOURCE_ONLY, "SQRT", frozenset({"float32"}))  # as if SQRT were not generable
    report = mcu.McuBackend().check(TfliteModel(opgen.model("SQRT", "float32")), CheckRequest())
    (v,) = report.verdicts
    assert v.placement == "target" and v.status == "unverified by table" and "SQRT (float32)" in report.notes[0]


# -- gpu: no GPU here, so every row cites the source it was read from ------------------------------
def test_gpu_every_row_cites_its_gpu_compatibility_revision():
    from hwquant_backends.gpu import GpuBackend
    from hwquant_backends.gpu.ops import CITATIONS, OPS, SOURCE

    assert "@" in SOURCE and len(SOURCE.split("@")[1].split()[0]) == 40  # a full commit id
    assert SOURCE.endswith("gpu_compatibility.cc")
    assert set(OPS) == set(CITATIONS), set(OPS) ^ set(CITATIONS)
    table = GpuBackend().op_table()
    assert table["source"] == SOURCE and all(r["source"].startswith(SOURCE + ":") for r in table["ops"])


# -- edgetpu: no compiler here, so every row cites what it was checked against ---------------------
def _mapped_in_fixture_logs(fixtures):
    """{op: {log prefix}} for every 'Mapped to Edge TPU' row of the real compiler logs."""
    import re

    out = defaultdict(set)
    for log in sorted((fixtures / "edgetpu").glob("*.log")):
        for m in re.finditer(r"^([A-Z][A-Z0-9_]+)\s+\d+\s+Mapped to Edge TPU\s*$", log.read_text(), re.M):
            out[m.group(1)].add(log.name[:2])
    return out


def test_edgetpu_rows_cite_their_sources_and_the_logs_agree(shared_fixtures):
    from hwquant_backends.edgetpu import EdgeTpuBackend
    from hwquant_backends.edgetpu.ops import CITATIONS, RUNTIME_OF, SOURCES

    assert set(CITATIONS) == set(RUNTIME_OF)
    mapped = _mapped_in_fixture_logs(shared_fixtures)
    assert mapped, "no compiler logs found"
    for op, (listed, logs, runtime) in CITATIONS.items():
        assert set(listed) <= set(SOURCES) and runtime in ("consistent", "unconfirmed")
        assert set(logs) == mapped.get(op, set()), f"{op}: cited logs {logs}, logs mapping it {mapped.get(op)}"
        if runtime == "consistent":
            assert listed or logs, f"{op}: a runtime verdict needs a source"
    # every op a real compiler mapped is a row of the table
    assert set(mapped) <= set(RUNTIME_OF), set(mapped) - set(RUNTIME_OF)
    rows = EdgeTpuBackend().op_table()["ops"]
    assert all("runtime" in r["source"] for r in rows)
