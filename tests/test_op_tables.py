"""Op tables proven against the runtimes they describe: one generated single-op model per
(op, dtype) row (tests/opgen.py), invoked by the real LiteRT interpreter."""
from __future__ import annotations

from collections import defaultdict

import pytest

import opgen
from hwquant import TfliteModel
from hwquant_backends.cpu import CpuBackend
from hwquant_backends.cpu.ops import SUPPORT as CPU


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


@pytest.mark.parametrize("op", sorted(_by_op()))
def test_cpu_table_agrees_with_litert(op, litert_results):
    """A row LiteRT cannot run, or an (op, dtype) LiteRT runs that the table lacks, fails."""
    for (name, dt), runs in litert_results.items():
        if name != op:
            continue
        ok = [gen for gen, err in runs if err is None]
        in_table = dt in CPU.ops.get(name, ())
        if in_table:
            assert ok, f"cpu table claims {name} {dt}, but LiteRT fails: {runs}"
        else:
            assert not ok, f"LiteRT runs {name} {dt} (generated as {ok}) but the cpu table lacks it"


def test_cpu_never_refuses_what_it_does_not_know():
    """An op outside the table is left to the verify stage's invoke, not refused (exit 3)."""
    m = TfliteModel(opgen.model("UNSORTED_SEGMENT_SUM", "int32"))
    saved = CPU.ops.pop("UNSORTED_SEGMENT_SUM")
    try:
        report = CpuBackend().check(m)
    finally:
        CPU.ops["UNSORTED_SEGMENT_SUM"] = saved
    (v,) = report.verdicts
    assert v.placement == "target" and v.status == "unverified by table" and not report.unsupported
    assert "UNSORTED_SEGMENT_SUM int32" in report.notes[0]


def test_cpu_refuses_flex_ops_which_litert_cannot_run():
    m = opgen.custom_model("FlexAddV2")
    assert opgen.run_litert(m) is not None  # LiteRT ships no Flex delegate
    report = CpuBackend().check(TfliteModel(m))
    assert [v.placement for v in report.verdicts] == ["unsupported"]
    # a custom op LiteRT registers itself is not refused by the table
    other = CpuBackend().check(TfliteModel(opgen.custom_model("TFLite_Detection_PostProcess")))
    assert not other.unsupported
