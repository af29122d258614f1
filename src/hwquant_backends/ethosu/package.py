"""What the ethos-u package stage checks and computes from Vela's output.

- ``check_compiled``: the compiled file parses, holds the ``ethos-u`` op, and keeps the int8 model's
  inputs and outputs (names, dtypes, shapes, quantization). The NPU op itself cannot run without
  the NPU, so this structural check is what can be verified here.
- ``arena``: the tensor arena the compiled model needs, from Vela's figures: every tensor TFLM
  allocates for it (Vela's ``scratch`` area, whose size is Vela's ``sram_memory_used`` in the Shared_Sram
  and Sram_Only memory modes; ``scratch_fast`` where Vela plans a separate NPU cache; the inputs,
  outputs and the tensors of CPU-fallback ops), 16-byte aligned and summed without lifetime reuse,
  plus TFLM's own runtime structures, plus the --ethos-u-arena-margin.

TFLM's structures (a TfLiteEvalTensor per tensor, node and registration structs and op data per op,
persistent tensors for the IO) cannot be measured on the compiled model: the TFLM Python
interpreter has no Ethos-U kernel. They are measured on the int8 model it was compiled from (the
recording allocator's tail, on this 64-bit host): the compiled model holds a subset of its tensors
and ops, the NPU part replaced by one ethos-u op, so that figure bounds the compiled model's (and a
32-bit MCU's structs are smaller than the host's).
"""

from __future__ import annotations

from typing import Any

from hwquant import IncompatibleError, Tensor, TfliteModel, ToolchainError
from hwquant_backends._tflm import arena as arena_mod
from hwquant_backends._tflm.arena import ALIGN, with_margin

from .mapping import NPU_OP

FAST_SCRATCH = "scratch_fast"
PROBE_TIMEOUT_S = 300


def tflm_structures(int8: TfliteModel, host_arena: int) -> int:
    """Bytes of TFLM's persistent structures for the int8 model (see module docstring)."""
    return arena_mod.structures_bytes(int8.content, len(int8.io(0)[0]), host_arena, PROBE_TIMEOUT_S)


def _aligned(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def _io_signature(model: TfliteModel) -> list[tuple[object, ...]]:
    ins, outs = model.io(0)
    sig: list[tuple[object, ...]] = []
    for t in [*ins, *outs]:
        q = (
            None
            if t.quant is None
            else (tuple(float(x) for x in t.quant.scale), tuple(int(x) for x in t.quant.zero_point))
        )
        sig.append((t.name, t.dtype, tuple(t.shape), q))
    return sig


def check_compiled(compiled: TfliteModel, int8: TfliteModel) -> dict[str, Any]:
    """Structural checks of Vela's output (ToolchainError when one fails)."""
    npu_ops = [op for op in compiled.ops if op.name == NPU_OP]
    if not npu_ops:
        raise IncompatibleError(
            "Vela placed no operator on the NPU (the compiled model has no ethos-u op)",
            hint="see the op table: every op stays on the CPU; use --target mcu instead",
        )
    if _io_signature(compiled) != _io_signature(int8):
        raise ToolchainError(
            "Vela's output does not keep the model's inputs and outputs "
            f"({_io_signature(compiled)} vs {_io_signature(int8)})",
            hint="report this model to the Vela maintainers",
        )
    cpu_ops = [op.name for op in compiled.ops if op.name != NPU_OP]
    return {
        "parses": True,
        "npu_ops": len(npu_ops),
        "cpu_ops": sorted(set(cpu_ops)),
        "io_kept": True,
        "note": "the ethos-u op runs only on an Ethos-U NPU (or Arm's FVP); here the compiled file is checked "
        "structurally and the int8 model it was compiled from is run in LiteRT and TFLM",
    }


def arena(compiled: TfliteModel, margin: str, structures: int) -> dict[str, Any]:
    """The tensor arena for the compiled model: the tensors Vela planned + ``structures`` (TFLM's
    own, from ``tflm_structures``) + margin (see module docstring)."""
    tensors = [t for t in compiled.subgraph_tensors[0] if not t.is_constant]
    sizes = {t.name: _aligned(int(t.buffer_bytes or _nbytes(t))) for t in tensors}
    planned = sum(sizes.values())
    exact = planned + structures
    out = {
        "exact_bytes": exact,
        "margin": margin,
        "bytes": with_margin(exact, margin),
        "vela_scratch_bytes": sizes.get("scratch", 0),
        "tensors_bytes": planned,
        "tflm_structures_bytes": structures,
        "from": "Vela's planned tensors of the compiled model (scratch area, inputs, outputs, CPU-op tensors; "
        "16-byte aligned, summed) + TFLM's structures measured on the int8 model (recording allocator's "
        "tail, 64-bit host; bounds the compiled model's); the compiled model itself cannot be allocated "
        "here (no Ethos-U kernel)",
    }
    if FAST_SCRATCH in sizes:
        out["npu_fast_memory_bytes"] = sizes[FAST_SCRATCH]
        out["note"] = (
            "Vela planned a separate NPU cache (scratch_fast) for this memory mode: the platform gives "
            "the Ethos-U driver that much fast SRAM (ethosu_init's fast memory)"
        )
    return out


def _nbytes(t: Tensor) -> int:
    width = {"int8": 1, "uint8": 1, "int16": 2, "int32": 4, "float32": 4, "int64": 8, "bool": 1}.get(t.dtype, 4)
    n = 1
    for d in t.shape:
        n *= max(int(d), 1)
    return n * width
