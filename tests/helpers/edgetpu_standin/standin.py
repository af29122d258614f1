"""Build the local stand-in image for edgetpu_compiler (tests only; no registry, no network).

What the stand-in can honestly produce: it cannot compile for the Edge TPU. Its
``<name>_edgetpu.tflite`` is made here, in Python, from the model under test: the same tensors,
inputs and outputs, with the ops replaced by ONE ``edgetpu-custom-op`` whose custom options are a
placeholder string. That is the structure a fully mapped compile has (one Edge TPU subgraph, no
CPU ops), so hwquant's checks of the compiled file (it parses, LiteRT stops only at the custom
op, one custom op per reported subgraph, same IO) run on a real flatbuffer. It says nothing
about whether the real compiler would map the model: the console output is a real published log
of some other model, replayed verbatim.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from tests.helpers import SHARED_FIXTURES

HERE = Path(__file__).resolve().parent
FIXTURES = SHARED_FIXTURES / "edgetpu"
PLACEHOLDER = b"hwquant stand-in: not an Edge TPU executable"
MODES = ("ok", "exit1", "fail0", "hang")


def make_compiled(model: bytes, custom_ops: int = 1) -> bytes:
    """A .tflite with ``model``'s tensors and IO whose only ops are ``edgetpu-custom-op`` (chained)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    m = s.ModelT.InitFromPackedBuf(bytearray(model), 0)
    code = s.OperatorCodeT()
    code.builtinCode = s.BuiltinOperator.CUSTOM
    code.deprecatedBuiltinCode = s.BuiltinOperator.CUSTOM
    code.customCode = "edgetpu-custom-op"
    code.version = 1
    m.operatorCodes.append(code)
    sg = m.subgraphs[0]
    ops = []
    for k in range(custom_ops):
        op = s.OperatorT()
        op.opcodeIndex = len(m.operatorCodes) - 1
        op.inputs = list(sg.inputs) if k == 0 else list(ops[-1].outputs)
        op.outputs = list(sg.outputs)
        op.customOptions = list(PLACEHOLDER)
        ops.append(op)
    sg.operators = ops
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def static_busybox() -> Path | None:
    """A statically linked busybox (Debian: busybox-static), or None."""
    for cand in (shutil.which("busybox"), "/bin/busybox", "/usr/bin/busybox"):
        if cand and Path(cand).is_file():
            head = Path(cand).read_bytes()[:8192]
            if b"ld-linux" not in head and b"/lib/ld-" not in head:
                return Path(cand)
    return None


def build_image(client, tag: str, fixture: str, compiled: bytes, mode: str = "ok") -> str:
    """Build ``tag`` from this folder plus a fixture log, the compiled stand-in model and a mode."""
    assert mode in MODES, mode
    busybox = static_busybox()
    if busybox is None:
        raise RuntimeError("no statically linked busybox (apt-get install busybox-static)")
    with tempfile.TemporaryDirectory(prefix="edgetpu-standin-") as tmp:
        ctx = Path(tmp)
        shutil.copy2(busybox, ctx / "busybox")
        shutil.copy2(HERE / "Dockerfile", ctx / "Dockerfile")
        shutil.copy2(HERE / "edgetpu_compiler", ctx / "edgetpu_compiler")
        (ctx / "edgetpu_compiler").chmod(0o755)
        shutil.copyfile(FIXTURES / fixture, ctx / "console.log")
        (ctx / "compiled.tflite").write_bytes(compiled)
        (ctx / "mode").write_text(mode)
        for f in ctx.iterdir():
            f.chmod(f.stat().st_mode | 0o444)
        client.images.build(path=str(ctx), tag=tag, rm=True, forcerm=True, network_mode="none")
    return tag
