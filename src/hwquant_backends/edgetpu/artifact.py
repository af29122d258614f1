"""Check a compiled ``*_edgetpu.tflite`` against the compiler's own report and its input model.

The compiled file cannot run here: its ``edgetpu-custom-op`` needs the Edge TPU runtime
(libedgetpu) and an Edge TPU. So the build verifies the pre-compile int8 model in LiteRT, and
here checks what can be checked without the chip: the file parses, LiteRT's interpreter
accepts it up to that custom op, it holds one ``edgetpu-custom-op`` per Edge TPU subgraph the
compiler reported, the ops left for the CPU match the compiler's count, and its inputs and
outputs keep the shapes and dtypes of the model that was compiled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hwquant import InputError, TfliteModel, ToolchainError, contain

from .compiler_log import CompilerLog

CUSTOM_OP = "edgetpu-custom-op"
EXECUTABLE = "edgetpu_compiler"


def _io(model: TfliteModel) -> list[tuple[str, tuple[int, ...]]]:
    ins, outs = model.io(0)
    return [(t.dtype, tuple(t.shape)) for t in [*ins, *outs]]


def litert_load(content: bytes) -> str:
    """Load in LiteRT: 'ok', or 'needs libedgetpu' when only the Edge TPU custom op is unresolved.
    Runs in the build's worker process (``hwquant.contain``): a crash there is exit 4."""
    return contain.call(
        _litert_load_here,
        content,
        stage="loading the compiled model",
        tool="the LiteRT interpreter",
        about=f"the compiled model is {len(content)} bytes",
        capture=True,
    )


def _litert_load_here(content: bytes) -> str:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        return "not checked (ai-edge-litert not installed)"
    try:
        Interpreter(model_content=content).allocate_tensors()
        return "ok"
    except (RuntimeError, ValueError) as exc:
        if CUSTOM_OP in str(exc):
            return f"parsed; {CUSTOM_OP} needs the Edge TPU runtime (libedgetpu) to run"
        raise ToolchainError(
            f"the compiled model does not load in LiteRT: {exc}", hint="check the compiler version; recompile"
        ) from None


def inspect_compiled(path: Path, log: CompilerLog, source: TfliteModel, block: int = 0) -> dict[str, Any]:
    """Facts about the compiled file; raises ToolchainError where they contradict the compiler."""
    try:
        compiled = TfliteModel.from_file(path)
    except InputError as exc:  # the compiler's output, not the user's input
        raise ToolchainError(
            f"{EXECUTABLE} reported success but wrote a damaged {path.name}: {exc.message}",
            hint="a compiler failure: recompile, or try another compiler version",
        ) from None
    counts = compiled.op_counts()
    custom = counts.get(CUSTOM_OP, 0)
    cpu = sum(n for name, n in counts.items() if name != CUSTOM_OP)
    facts = {
        "file": path.name,
        "size_bytes": compiled.size_bytes,
        "op_counts": dict(counts),
        "edgetpu_custom_ops": custom,
        "cpu_ops": cpu,
        "litert": litert_load(compiled.content),
    }
    result = log.models[block] if len(log.models) > block else None
    if result is not None and result.subgraphs is not None and result.subgraphs != custom:
        raise ToolchainError(
            f"{path.name} holds {custom} {CUSTOM_OP} op(s) but the compiler reported "
            f"{result.subgraphs} Edge TPU subgraph(s)",
            hint="the compiler output is inconsistent: recompile",
        )
    if result is not None and result.subgraphs and custom == 0:
        raise ToolchainError(f"{path.name} has no {CUSTOM_OP}: nothing runs on the Edge TPU")
    if result is not None and result.cpu_ops is not None and result.cpu_ops != cpu:
        facts["cpu_ops_note"] = (
            f"the compiler said {result.cpu_ops} op(s) run on the CPU; the compiled file "
            f"holds {cpu} besides {CUSTOM_OP} (the compiler may count ops it fused or dropped)"
        )
    if _io(compiled) != _io(source):
        raise ToolchainError(
            f"{path.name} has inputs/outputs {_io(compiled)}, the model given to the compiler has {_io(source)}",
            hint="the compiled file does not belong to this model: recompile",
        )
    return facts
