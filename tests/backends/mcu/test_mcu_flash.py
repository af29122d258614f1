"""The MCU flash estimate is an upper bound (issue 11 item 14): the runtime is sized per kernel set from
figures measured on real Cortex-M4 builds (hwquant_backends/_tflm/flash_figures.py, method in its docstring and
benchmarks/mcu_flash.py), and the RAM figure counts the stack."""

from __future__ import annotations

from hwquant_backends._tflm import flash_figures
from hwquant_backends._tflm.ops import RESOLVER_METHODS
from hwquant_backends.mcu import boards


def test_every_resolver_op_has_a_measured_figure():
    missing = sorted(set(RESOLVER_METHODS) - set(flash_figures.KERNEL_BYTES))
    assert not missing, f"no measured flash figure for {missing}: rerun benchmarks/mcu_flash.py"
    assert all(v >= 0 for v in flash_figures.KERNEL_BYTES.values())


def test_estimate_bounds_every_measured_build():
    """Real cross builds (digits: 5 ops; a 10-op CNN): the estimate is never below what they linked."""
    assert len(flash_figures.VALIDATION) >= 2
    for v in flash_figures.VALIDATION:
        est = flash_figures.runtime_bytes(v["ops"])["total_bytes"]
        assert est >= v["measured_runtime_bytes"], v
        assert est == v["estimate_runtime_bytes"], v  # the recorded estimate is what the code computes


def test_old_fixed_allowance_was_below_the_measured_ten_op_build():
    """Before: model + 64 KiB, whatever the kernels; the 10-op build linked more than that."""
    ten = next(v for v in flash_figures.VALIDATION if len(v["ops"]) == 10)
    assert ten["measured_runtime_bytes"] > 64 * 1024
    fp = boards.footprint(ten["model_bytes"], 4096, ops=ten["ops"], io_bytes=ten["io_bytes"])
    assert fp["flash"]["total_bytes"] >= ten["measured_text_data_bytes"]


def test_ram_counts_the_stack():
    fp = boards.footprint(10_000, 4_000, ops=["CONV_2D"])
    assert fp["ram"]["stack_bytes"] == flash_figures.STACK_BYTES > 0
    assert fp["ram"]["total_bytes"] == 4_000 + flash_figures.STACK_BYTES + boards.DEFAULT_RAM_ALLOWANCE


def test_unknown_op_counts_as_the_largest_kernel():
    r = flash_figures.runtime_bytes(["NOT_A_TFLM_OP"])
    assert r["unmeasured_ops"] == ["NOT_A_TFLM_OP"]
    assert r["kernel_bytes"]["NOT_A_TFLM_OP"] == max(flash_figures.KERNEL_BYTES.values())
