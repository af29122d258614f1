"""What the ethos-u package stage checks and computes from Vela's output.

- ``check_compiled``: the compiled file parses, holds the ``ethos-u`` op, and keeps the int8 model's
  inputs and outputs (names, dtypes, shapes, quantization). The NPU op itself cannot run without
  the NPU, so this structural check is what can be verified here.
- ``arena``: the tensor arena the compiled model needs, from Vela's figures: every tensor TFLM
  allocates for it (Vela's ``scratch`` area, whose size is Vela's ``sram_memory_used`` in the Shared_Sram
  and Sram_Only memory modes; ``scratch_fast`` where Vela plans a separate NPU cache; the inputs,
  outputs and the tensors of CPU-fallback ops), 16-byte aligned and summed without lifetime reuse,
  plus an allowance for TFLM's own runtime structures, plus the --ethos-u-arena-margin.
"""
from __future__ import annotations

from typing import Any

from hwquant import IncompatibleError, ToolchainError, TfliteModel
from hwquant_backends.mcu.arena import ALIGN, with_margin

from .mapping import NPU_OP

# TFLM's runtime data in the arena besides the tensors: a TfLiteEvalTensor per tensor and the node
# and registration structs per op (tens of bytes each on a 32-bit MCU), the interpreter's
# allocator bookkeeping, and the Ethos-U kernel's per-op data. A Vela model has a handful of
# tensors and ops, so 2 KiB covers it with room; it is an allowance, not a measurement (the NPU op
# cannot be allocated in the TFLM Python interpreter, which has no Ethos-U kernel).
RUNTIME_ALLOWANCE = 2048
FAST_SCRATCH = "scratch_fast"


def _aligned(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def _io_signature(model: TfliteModel) -> list[tuple]:
    ins, outs = model.io(0)
    sig = []
    for t in [*ins, *outs]:
        q = None if t.quant is None else (tuple(float(x) for x in t.quant.scale),
                                          tuple(int(x) for x in t.quant.zero_point))
        sig.append((t.name, t.dtype, tuple(t.shape), q))
    return sig


def check_compiled(compiled: TfliteModel, int8: TfliteModel) -> dict[str, Any]:
    """Structural checks of Vela's output (ToolchainError when one fails)."""
    npu_ops = [op for op in compiled.ops if op.name == NPU_OP]
    if not npu_ops:
        raise IncompatibleError("Vela placed no operator on the NPU (the compiled model has no ethos-u op)",
                                hint="see the op table: every op stays on the CPU; use --target mcu instead")
    if _io_signature(compiled) != _io_signature(int8):
        raise ToolchainError("Vela's output does not keep the model's inputs and outputs "
                             f"({_io_signature(compiled)} vs {_io_signature(int8)})",
                             hint="report this model to the Vela maintainers")
    cpu_ops = [op.name for op in compiled.ops if op.name != NPU_OP]
    return {"parses": True, "npu_ops": len(npu_ops), "cpu_ops": sorted(set(cpu_ops)), "io_kept": True,
            "note": "the ethos-u op runs only on an Ethos-U NPU (or Arm's FVP); here the compiled file is checked "
                    "structurally and the int8 model it was compiled from is run in LiteRT and TFLM"}


def arena(compiled: TfliteModel, margin: str) -> dict[str, Any]:
    """The tensor arena for the compiled model, from the tensors Vela planned (see module docstring)."""
    tensors = [t for t in compiled.subgraph_tensors[0] if not t.is_constant]
    sizes = {t.name: _aligned(int(t.buffer_bytes or _nbytes(t))) for t in tensors}
    planned = sum(sizes.values())
    exact = planned + RUNTIME_ALLOWANCE
    out = {"exact_bytes": exact, "margin": margin, "bytes": with_margin(exact, margin),
           "vela_scratch_bytes": sizes.get("scratch", 0), "tensors_bytes": planned,
           "runtime_allowance_bytes": RUNTIME_ALLOWANCE,
           "from": "Vela's planned tensors of the compiled model (scratch area, inputs, outputs, CPU-op tensors; "
                   "16-byte aligned, summed) + an allowance for TFLM's runtime structures; not measured"}
    if FAST_SCRATCH in sizes:
        out["npu_fast_memory_bytes"] = sizes[FAST_SCRATCH]
        out["note"] = ("Vela planned a separate NPU cache (scratch_fast) for this memory mode: the platform gives "
                       "the Ethos-U driver that much fast SRAM (ethosu_init's fast memory)")
    return out


def _nbytes(t) -> int:
    width = {"int8": 1, "uint8": 1, "int16": 2, "int32": 4, "float32": 4, "int64": 8, "bool": 1}.get(t.dtype, 4)
    n = 1
    for d in t.shape:
        n *= max(int(d), 1)
    return n * width
