"""hwquant: hardware-targeted post-training quantization builds for TensorFlow / Keras models.

This module is the public API. Backends, built-in and third-party, import only from here
(enforced for the built-in ones by import-linter, see pyproject.toml):

- the plugin seam: ``Backend``, ``BackendOption``, ``BuildContext``, ``PackageResult``, ``OpSupport``,
  ``OpReport``, ``OpVerdict``, ``ToolchainStatus``, ``hookimpl``;
- plain data: ``BuildOptions``, ``ModelFacts``, ``TensorSpec``, ``Recipe``, ``PRESETS``, ``preset``;
- errors with exit codes: ``HwquantError``, ``UsageError``, ``InputError``, ``IncompatibleError``,
  ``ToolchainError``, ``GateError``;
- the device side: ``TfliteModel`` (the .tflite reader, with ``Op``, ``Tensor``, ``Quant``), and the
  ``runtime``, ``metrics`` and ``bench_inputs`` modules (LiteRT helpers, fidelity measures, inputs);
- helpers: ``bytes_sha256``, ``tree_sha256``, ``load_toml``, ``first_line``;
- ``build()``: the whole pipeline from Python.
"""
from __future__ import annotations

__version__ = "0.1.0"

from hwquant.common.errors import (  # noqa: E402
    GateError,
    HwquantError,
    IncompatibleError,
    InputError,
    ToolchainError,
    UsageError,
    first_line,
)
from hwquant.common.hashing import bytes_sha256, tree_sha256  # noqa: E402
from hwquant.common.toml import load as load_toml  # noqa: E402
from hwquant.device import bench_inputs, metrics, runtime  # noqa: E402
from hwquant.device.tflite_model import Op, Quant, Tensor, TfliteModel, builtin_op_names  # noqa: E402
from hwquant.plugin.backend import (  # noqa: E402
    Backend,
    BackendOption,
    BuildContext,
    OpReport,
    OpSupport,
    OpVerdict,
    PackageResult,
    ToolchainStatus,
)
from hwquant.plugin.facts import BuildOptions, ModelFacts, TensorSpec  # noqa: E402
from hwquant.plugin.hookspecs import hookimpl  # noqa: E402
from hwquant.plugin.recipe import PRESETS, Recipe, preset  # noqa: E402

__all__ = [
    "Backend", "BackendOption", "BuildContext", "OpReport", "OpSupport", "OpVerdict", "PackageResult",
    "ToolchainStatus", "hookimpl",
    "BuildOptions", "ModelFacts", "TensorSpec", "Recipe", "PRESETS", "preset",
    "HwquantError", "UsageError", "InputError", "IncompatibleError", "ToolchainError", "GateError", "first_line",
    "TfliteModel", "Op", "Tensor", "Quant", "builtin_op_names", "runtime", "metrics", "bench_inputs",
    "bytes_sha256", "tree_sha256", "load_toml",
    "build", "__version__",
]


def build(model, target: str = "cpu", **kwargs):
    """Build ``model`` for ``target``; returns a BuildResult with the content of report.json.

    Keyword arguments are the fields of hwquant.BuildOptions (data, recipe, io_dtype, out, ...);
    backend options go in ``backend_options``.
    """
    from hwquant.pipeline.build import build as _build

    return _build(model, target=target, **kwargs)
