"""hwquant: hardware-targeted post-training quantization builds for TensorFlow / Keras models.

This module is the public API. Backends, built-in and third-party, import only from here
(enforced for the built-in ones by import-linter, see pyproject.toml):

- the plugin seam: ``Backend``, ``BackendOption``, ``BuildContext``, ``CheckRequest``, ``PackageResult``,
  ``OpSupport``, ``OpReport``, ``OpVerdict``, ``ToolchainStatus``, ``hookimpl``, ``BackendRegistry`` (what
  the hook receives);
- plain data: ``BuildOptions``, ``ModelFacts``, ``TensorSpec``, ``Recipe``, ``PRESETS``, ``preset``,
  ``DataSet`` (the calibration and evaluation data a backend reads from its ``BuildContext``);
- errors with exit codes: ``HwquantError``, ``UsageError``, ``InputError``, ``IncompatibleError``,
  ``ToolchainError``, ``GateError``;
- the device side: ``TfliteModel`` (the .tflite reader, with ``Op``, ``Tensor``, ``Quant``), and the
  ``runtime``, ``metrics`` and ``bench_inputs`` modules (LiteRT helpers, fidelity measures, inputs);
- helpers: ``bytes_sha256``, ``tree_sha256``, ``load_toml``, ``first_line``;
- ``build()``: the whole pipeline from Python.
"""

from __future__ import annotations

from hwquant.common.errors import (
    GateError,
    HwquantError,
    IncompatibleError,
    InputError,
    ToolchainError,
    UsageError,
    first_line,
)
from hwquant.common.hashing import bytes_sha256, tree_sha256
from hwquant.common.toml import load as load_toml
from hwquant.common.version import __version__
from hwquant.config.data import DataSet
from hwquant.device import bench_inputs, metrics, runtime
from hwquant.device.tflite_model import Op, Quant, Tensor, TfliteModel, builtin_op_names
from hwquant.plugin.backend import Backend, BuildContext, OpReport, OpSupport, OpVerdict, PackageResult
from hwquant.plugin.declaration import ToolchainStatus
from hwquant.plugin.facts import BuildOptions, CheckRequest, ModelFacts, TensorSpec
from hwquant.plugin.hookspecs import hookimpl
from hwquant.plugin.manager import BackendRegistry
from hwquant.plugin.options import BackendOption
from hwquant.plugin.recipe import PRESETS, Recipe, preset

__all__ = [
    "PRESETS",
    "Backend",
    "BackendOption",
    "BackendRegistry",
    "BuildContext",
    "BuildOptions",
    "CheckRequest",
    "DataSet",
    "GateError",
    "HwquantError",
    "IncompatibleError",
    "InputError",
    "ModelFacts",
    "Op",
    "OpReport",
    "OpSupport",
    "OpVerdict",
    "PackageResult",
    "Quant",
    "Recipe",
    "Tensor",
    "TensorSpec",
    "TfliteModel",
    "ToolchainError",
    "ToolchainStatus",
    "UsageError",
    "__version__",
    "bench_inputs",
    "build",
    "builtin_op_names",
    "bytes_sha256",
    "first_line",
    "hookimpl",
    "load_toml",
    "metrics",
    "preset",
    "runtime",
    "tree_sha256",
]


def build(model, target: str = "cpu", **kwargs):
    """Build ``model`` for ``target``; returns a BuildResult with the content of report.json.

    Keyword arguments are the fields of hwquant.BuildOptions (data, recipe, io_dtype, out, ...);
    backend options go in ``backend_options``.
    """
    from hwquant.pipeline.api import build as _build

    return _build(model, target=target, **kwargs)
