"""The one place that imports the LiteRT runtime: interpreters, compiled models, IO scaling.

Everything here needs only numpy and ``ai_edge_litert`` (or the older ``tflite_runtime``), so
``hwquant bench``, ``hwquant inspect`` and the verify stage run where TensorFlow is absent.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import numpy as np

from hwquant.common import quiet
from hwquant.common.errors import InputError, ToolchainError, first_line
from hwquant.common.quiet import captured_fds
from hwquant.common.quiet import native_info_filtered as native_info_filtered  # re-exported: backends use it

try:
    from ai_edge_litert.interpreter import Interpreter

    RUNTIME = "ai-edge-litert"
except ImportError:  # older devices ship tflite-runtime
    try:
        from tflite_runtime.interpreter import Interpreter

        RUNTIME = "tflite-runtime"
    except ImportError:  # pragma: no cover - the base install depends on ai-edge-litert
        Interpreter = None
        RUNTIME = ""

_INSTALL_HINT = "pip install ai-edge-litert (or tflite-runtime on platforms without LiteRT wheels)"

# How the native GPU accelerator says it found no usable device (WebGPU / Vulkan).
NO_ADAPTER_MARKERS = (
    "No adapters found",
    "Failed to initialize WebGPU environment",
    "vkCreateInstance failed",
    "Failed to load GPU accelerator",
    "GPU accelerator is not registered",
)
NO_ADAPTER_HINT = (
    "run on a machine with a GPU and its driver plus a Vulkan loader (libvulkan1 and the vendor ICD); "
    "Mesa's software Vulkan (lavapipe) is rejected by LiteRT's WebGPU backend"
)


def runtime_version() -> dict[str, str]:
    """Name and version of the LiteRT runtime in use (for report.json 'versions')."""
    from importlib import metadata

    for dist in ("ai-edge-litert", "ai-edge-litert-nightly", "tflite-runtime"):
        try:
            return {"runtime": dist, "version": metadata.version(dist)}
        except metadata.PackageNotFoundError:
            continue
    return {"runtime": RUNTIME or "none", "version": "unknown"}


def make_interpreter(
    content: bytes,
    num_threads: int | None = None,
    *,
    source: str = "model",
    allocate: bool = True,
    reference_kernels: bool = False,
) -> Any:
    """A LiteRT interpreter for ``content``, with tensors allocated unless ``allocate=False``.

    ``reference_kernels`` selects LiteRT's reference kernels (OpResolverType.BUILTIN_REF: no
    optimized kernels, no XNNPACK), the integer arithmetic TFLM implements too.
    A model that fails to allocate (for example an int8 graph failing at prepare) raises
    ToolchainError carrying the interpreter's own message.
    """
    if Interpreter is None:
        raise ToolchainError("the LiteRT runtime is not installed", hint=_INSTALL_HINT)
    kwargs: dict[str, Any] = {}
    if reference_kernels:
        kinds = sys.modules[Interpreter.__module__].OpResolverType
        kwargs["experimental_op_resolver_type"] = kinds.BUILTIN_REF
    try:
        with captured_native_stderr():
            interp = Interpreter(model_content=bytes(content), num_threads=num_threads, **kwargs)
    except ValueError as exc:
        raise InputError(
            f"{source}: the LiteRT interpreter cannot load it ({first_line(exc)})",
            hint="pass a valid .tflite flatbuffer",
        ) from exc
    if allocate:
        allocate_tensors(interp, source)
    return interp


def allocate_tensors(interp: Any, source: str = "model") -> None:
    """Allocate (prepare every op); failure is a ToolchainError with the interpreter's message."""
    try:
        with captured_native_stderr():  # the XNNPACK delegate announces itself here
            interp.allocate_tensors()
    except RuntimeError as exc:
        raise ToolchainError(
            f"{source}: the LiteRT interpreter failed to allocate tensors: {first_line(exc)}",
            hint="the converter emitted a graph LiteRT cannot prepare; try another recipe "
            "(e.g. a float-fallback one) or report the model",
        ) from exc


# -- input / output scaling -------------------------------------------------------------------
def _qparams(detail: dict[str, Any]) -> tuple[float, int]:
    q = detail.get("quantization_parameters") or {}
    scales = q.get("scales")
    if scales is not None and len(scales) == 1:
        return float(scales[0]), int(q["zero_points"][0])
    scale, zp = detail.get("quantization", (0.0, 0))
    return float(scale), int(zp)


def is_quantized(detail: dict[str, Any]) -> bool:
    """True when the tensor is integer with a scale, i.e. real = scale * (q - zero_point)."""
    return np.issubdtype(np.dtype(detail["dtype"]), np.integer) and _qparams(detail)[0] != 0.0


def quantize(x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """Real-valued ``x`` in the tensor's dtype: q = round(x / scale + zero_point), clipped."""
    dtype = np.dtype(detail["dtype"])
    if not is_quantized(detail):
        return np.asarray(x).astype(dtype, copy=False)
    scale, zp = _qparams(detail)
    info = np.iinfo(dtype)
    q = np.round(np.asarray(x, np.float64) / scale + zp)
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(y: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """Real values of tensor data ``y`` as float32 (unchanged values for float tensors)."""
    if not is_quantized(detail):
        return np.asarray(y).astype(np.float32, copy=False) if np.asarray(y).dtype.kind == "f" else np.asarray(y)
    scale, zp = _qparams(detail)
    return ((np.asarray(y, np.float32) - zp) * scale).astype(np.float32)


def random_input(detail: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    """Random data of the right shape, dtype and range for one input tensor.

    Float inputs: uniform in [0, 1) (the range of normalized images). Quantized integer
    inputs: the quantization of that same [0, 1) range. Other integers: their full range
    capped to [0, 255]; bool: fair coin.
    """
    shape = tuple(int(d) for d in detail["shape"])
    dtype = np.dtype(detail["dtype"])
    if dtype.kind == "f":
        return rng.random(shape, dtype=np.float32).astype(dtype)
    if dtype == np.bool_:
        return rng.integers(0, 2, shape).astype(bool)
    if is_quantized(detail):
        return quantize(rng.random(shape, dtype=np.float32), detail)
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, 0), min(info.max, 255) + 1, shape).astype(dtype)


# -- signatures ----------------------------------------------------------------------------------
@dataclass
class Signature:
    """One signature of an interpreter: input/output details keyed by signature name."""

    key: str
    inputs: dict[str, dict[str, Any]]
    outputs: dict[str, dict[str, Any]]


def signature(interp: Any, key: str | None = None) -> Signature:
    """The named signature (default: the first); models without signatures use subgraph 0 IO."""
    sigs = interp.get_signature_list() if hasattr(interp, "get_signature_list") else {}
    if sigs:
        if key is not None and key not in sigs:
            raise InputError(f"the model has no signature {key!r}", hint=f"signatures: {', '.join(sigs)}")
        key = key or next(iter(sigs))
        runner = interp.get_signature_runner(key)
        return Signature(key, runner.get_input_details(), runner.get_output_details())
    return Signature(
        "", {d["name"]: d for d in interp.get_input_details()}, {d["name"]: d for d in interp.get_output_details()}
    )


# -- native logs and the compiled-model (accelerator) API ---------------------------------------
def captured_native_stderr() -> AbstractContextManager[Callable[[], str]]:
    """What native code writes to file descriptor 2 while the block runs (callable, text)."""
    return captured_fds((2,))


class NoGpuAdapter(ToolchainError):
    """LiteRT's GPU accelerator found no usable GPU adapter on this machine."""


def open_compiled_model(
    content: bytes, accelerator: str = "gpu", num_threads: int | None = None, enforce_f32: bool = False
) -> Any:
    """A LiteRT CompiledModel on ``accelerator`` ('gpu' or 'cpu').

    Raises NoGpuAdapter when the GPU accelerator finds no adapter, ToolchainError when the
    model fails to compile for it; both carry the native log line that says why.
    """
    try:
        from ai_edge_litert.compiled_model import CompiledModel
        from ai_edge_litert.hardware_accelerator import HardwareAccelerator
        from ai_edge_litert.options import CpuOptions, GpuOptions, Options
    except ImportError as exc:
        raise ToolchainError(
            "this LiteRT runtime has no CompiledModel API (needed for accelerators)",
            hint="pip install 'ai-edge-litert>=2'",
        ) from exc
    if accelerator == "gpu":
        opts = Options(hardware_accelerators=HardwareAccelerator.GPU, gpu_options=GpuOptions(enforce_f32=enforce_f32))
    else:
        opts = Options(
            hardware_accelerators=HardwareAccelerator.CPU, cpu_options=CpuOptions(num_threads=num_threads or 1)
        )
    with captured_native_stderr() as log:
        try:
            model, err = CompiledModel.from_buffer(bytes(content), options=opts), None
        except RuntimeError as exc:
            model, err = None, exc
            err.__traceback__ = None  # its frames hold the failed environment: let it go now,
            gc.collect()  # so its teardown log ("DestroyAccelerator ...") is captured too
    if quiet.is_verbose():
        sys.stderr.write(log())
    if err is None:
        return model
    native = log()
    reason = _error_line(native) or first_line(err)
    if accelerator == "gpu" and any(m in native for m in NO_ADAPTER_MARKERS):
        raise NoGpuAdapter(
            f"no GPU adapter: LiteRT's GPU accelerator found no usable GPU ({reason})", hint=NO_ADAPTER_HINT
        )
    raise ToolchainError(
        f"LiteRT could not compile the model for {accelerator}: {reason}",
        hint="check `hwquant inspect` for ops the accelerator lacks, or use --accelerator cpu",
    ) from err


def _error_line(native_log: str) -> str:
    """The native log line that best says why: an adapter failure first, then the first error."""
    lines = [ln.strip() for ln in native_log.splitlines()]
    picks: tuple[Callable[[str], bool], ...] = (
        lambda ln: any(m in ln for m in NO_ADAPTER_MARKERS),
        lambda ln: ln.startswith(("ERROR:", "E0")) and "compiler_plugin" not in ln,
    )
    for pick in picks:
        found = [ln for ln in lines if pick(ln)]
        if found:
            return found[0][:300]
    return ""


def compiled_io(model: Any, signature_index: int = 0) -> tuple[str, list[str], list[str]]:
    """(signature key, input names, output names) of a CompiledModel, in buffer order."""
    sig = model.get_signature_by_index(signature_index)
    key = sig.get("key") or sig.get("signature_key") or next(iter(model.get_signature_list()))
    names = model.get_signature_list()[key]
    return key, list(names["inputs"]), list(names["outputs"])


def run_compiled(
    model: Any, inputs: dict[str, np.ndarray], out_details: dict[str, dict[str, Any]], signature_index: int = 0
) -> dict[str, np.ndarray]:
    """One inference through a CompiledModel: write inputs, run, read outputs by name."""
    _, in_names, out_names = compiled_io(model, signature_index)
    ins = model.create_input_buffers(signature_index)
    outs = model.create_output_buffers(signature_index)
    for name, buf in zip(in_names, ins):
        buf.write(np.ascontiguousarray(inputs[name]))
    model.run_by_index(signature_index, ins, outs)
    result = {}
    for name, buf in zip(out_names, outs):
        d = out_details[name]
        n = int(np.prod(d["shape"]))
        result[name] = np.asarray(buf.read(n, np.dtype(d["dtype"]))).reshape(tuple(d["shape"]))
    return result
