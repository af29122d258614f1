"""Running a model on LiteRT's GPU accelerator: probe for an adapter, verify against the CPU.

Where no GPU adapter exists (CI, this kind of machine) every function reports so in its
result instead of failing: a build for the GPU target is still verified on the CPU.

Both run in the build's worker process (``hwquant.contain``): a GPU driver or LiteRT crash on a
user's model is exit 4 naming the step and the signal, and this process never initializes a GPU
(the worker, forked from it, would inherit a half-made driver state).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

import numpy as np

from hwquant import ToolchainError, bench_inputs, contain, metrics, runtime

NO_ADAPTER = "no GPU adapter"


def probe_model() -> bytes:
    """A one-op float32 model (y = x + x, shape [1, 4]) built with the LiteRT schema: no TensorFlow."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    def tensor(name: str) -> Any:
        t = s.TensorT()
        t.shape, t.type, t.buffer, t.name = [1, 4], s.TensorType.FLOAT32, 0, name
        return t

    def tmap(name: str, idx: int) -> Any:
        x = s.TensorMapT()
        x.name, x.tensorIndex = name, idx
        return x

    code = s.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = s.BuiltinOperator.ADD
    code.version = 1
    op = s.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0, 0], [1]
    op.builtinOptionsType, op.builtinOptions = s.BuiltinOptions.AddOptions, s.AddOptionsT()
    sg = s.SubGraphT()
    sg.tensors, sg.inputs, sg.outputs, sg.operators, sg.name = [tensor("x"), tensor("y")], [0], [1], [op], "main"
    sig = s.SignatureDefT()
    sig.signatureKey, sig.subgraphIndex, sig.inputs, sig.outputs = "serving_default", 0, [tmap("x", 0)], [tmap("y", 1)]
    m = s.ModelT()
    m.version, m.operatorCodes, m.subgraphs, m.buffers, m.signatureDefs = 3, [code], [sg], [s.BufferT()], [sig]
    m.description = "hwquant GPU probe"
    b = flatbuffers.Builder(256)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


@lru_cache(maxsize=1)
def probe() -> dict[str, Any]:
    """Whether LiteRT's GPU accelerator finds an adapter here: {'available', 'detail'[, 'hint']}."""
    return contain.call(_probe_filtered, stage="probing for a GPU adapter", tool="LiteRT's GPU accelerator")


def _probe_filtered() -> dict[str, Any]:
    with runtime.native_info_filtered():  # the accelerators are made and destroyed inside: no INFO lines
        return _probe()


def _probe() -> dict[str, Any]:
    try:
        model = runtime.open_compiled_model(probe_model(), "gpu")
    except runtime.NoGpuAdapter as exc:
        return {"available": False, "status": NO_ADAPTER, "detail": exc.message, "hint": exc.hint}
    except ToolchainError as exc:
        return {"available": False, "status": "GPU accelerator unusable", "detail": exc.message, "hint": exc.hint}
    return {
        "available": True,
        "status": "GPU adapter found",
        "detail": f"LiteRT GPU accelerator ready (probe fully accelerated: {model.is_fully_accelerated()})",
    }


def _mean_ms(fn: Callable[[], object], runs: int) -> float:
    fn()
    t0 = time.perf_counter_ns()
    for _ in range(runs):
        fn()
    return (time.perf_counter_ns() - t0) / runs / 1e6


def verify_on_gpu(
    artifact: bytes, samples: Iterable[dict[str, np.ndarray]] | None, timing_runs: int = 20, enforce_f32: bool = False
) -> dict[str, Any]:
    """Run ``artifact`` on the GPU accelerator and on the CPU interpreter and compare.

    ``samples`` are real-valued inputs keyed by signature input name (None: 5 random ones).

    Returns {'status', 'available', 'fully_accelerated', 'fidelity_vs_cpu', 'latency_ms'} or,
    without a GPU adapter, {'status': 'no GPU adapter', 'available': False, 'detail', 'hint'}.
    """
    return contain.call(
        _verify_filtered,
        artifact,
        list(samples) if samples is not None else None,
        timing_runs,
        enforce_f32,
        stage="running the artifact on the GPU accelerator and the CPU interpreter",
        tool="LiteRT",
        about=f"the artifact is {len(artifact)} bytes",
    )


def _verify_filtered(
    artifact: bytes, samples: list[dict[str, np.ndarray]] | None, timing_runs: int, enforce_f32: bool
) -> dict[str, Any]:
    with runtime.native_info_filtered():  # the accelerators are made and destroyed inside: no INFO lines
        return _verify_on_gpu(artifact, samples, timing_runs, enforce_f32)


def _verify_on_gpu(
    artifact: bytes, samples: Iterable[dict[str, np.ndarray]] | None, timing_runs: int, enforce_f32: bool
) -> dict[str, Any]:
    try:
        gpu = runtime.open_compiled_model(artifact, "gpu", enforce_f32=enforce_f32)
    except runtime.NoGpuAdapter as exc:
        return {"status": NO_ADAPTER, "available": False, "detail": exc.message, "hint": exc.hint}
    except ToolchainError as exc:
        return {"status": "failed to compile for GPU", "available": True, "detail": exc.message, "hint": exc.hint}

    cpu = runtime.make_interpreter(artifact, source="artifact")
    sig = runtime.signature(cpu)
    runner = cpu.get_signature_runner(sig.key) if sig.key else None
    samples = list(samples) if samples is not None else bench_inputs.random_samples(sig, 5)
    ref: dict[str, list[np.ndarray]] = {}
    got: dict[str, list[np.ndarray]] = {}
    for s in samples:
        feed = {n: bench_inputs.feed(s[n], d) for n, d in sig.inputs.items()}
        cpu_out = runner(**feed) if runner is not None else _invoke_plain(cpu, feed, sig)
        gpu_out = runtime.run_compiled(gpu, feed, sig.outputs)
        for name, d in sig.outputs.items():
            ref.setdefault(name, []).append(runtime.dequantize(cpu_out[name], d))
            got.setdefault(name, []).append(runtime.dequantize(gpu_out[name], d))
    result: dict[str, Any] = {
        "status": "ran on GPU",
        "available": True,
        "fully_accelerated": bool(gpu.is_fully_accelerated()),
        "precision": "float32 (enforced)" if enforce_f32 else "float16 compute",
        "samples": len(samples),
    }
    if samples:
        result["fidelity_vs_cpu"] = metrics.json_safe(metrics.compare(ref, got))
        feed = {n: bench_inputs.feed(samples[0][n], d) for n, d in sig.inputs.items()}
        _, in_names, _ = runtime.compiled_io(gpu)
        ins, outs = gpu.create_input_buffers(0), gpu.create_output_buffers(0)
        for name, buf in zip(in_names, ins):
            buf.write(np.ascontiguousarray(feed[name]))
        for name, d in sig.inputs.items():
            cpu.set_tensor(d["index"], feed[name])
        result["latency_ms"] = {
            "gpu": _mean_ms(lambda: gpu.run_by_index(0, ins, outs), timing_runs),
            "cpu": _mean_ms(cpu.invoke, timing_runs),
            "runs": timing_runs,
        }
    return result


def _invoke_plain(interp: Any, feed: dict[str, np.ndarray], sig: runtime.Signature) -> dict[str, np.ndarray]:
    for name, d in sig.inputs.items():
        interp.set_tensor(d["index"], feed[name])
    interp.invoke()
    return {name: interp.get_tensor(d["index"]) for name, d in sig.outputs.items()}
