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
- ``contain``: run native code on a user's model in the build's worker process (``contain.call``), so
  a crash is a ``ToolchainError`` naming the step and the signal;
- helpers: ``bytes_sha256``, ``tree_sha256``, ``load_toml``, ``first_line``, ``checked_text`` (a user's file
  read after the checks every input gets: a regular file within its kind's size limit, never a FIFO);
- ``progress``: ``with progress.stage("vela: compiling"):`` puts long work on the command's progress display
  (stderr, terminals only; a no-op elsewhere);
- ``build()`` (one target -> one BuildResult) and ``build_many()`` (several -> a dict keyed by target
  folder): the whole pipeline from Python.
"""

from __future__ import annotations

# first, before anything heavy: on the command line an early Ctrl-C / SIGTERM is exit 130 with one line
from hwquant.common import early as _early  # noqa: F401

# isort: split
from typing import TYPE_CHECKING, Any

from hwquant.common import progress
from hwquant.common.errors import (
    GateError,
    HwquantError,
    IncompatibleError,
    InputError,
    ToolchainError,
    UsageError,
    first_line,
)
from hwquant.common.files import read_text as checked_text
from hwquant.common.hashing import bytes_sha256, tree_sha256
from hwquant.common.toml import load as load_toml
from hwquant.common.version import __version__
from hwquant.config.data import DataSet
from hwquant.device import bench_inputs, contain, metrics, runtime
from hwquant.device.tflite_model import Op, Quant, Tensor, TfliteModel, builtin_op_names
from hwquant.plugin.backend import Backend, BuildContext, OpReport, OpSupport, OpVerdict, PackageResult
from hwquant.plugin.declaration import ToolchainStatus
from hwquant.plugin.facts import BuildOptions, CheckRequest, ModelFacts, TensorSpec
from hwquant.plugin.hookspecs import hookimpl
from hwquant.plugin.manager import BackendRegistry
from hwquant.plugin.options import BackendOption
from hwquant.plugin.recipe import PRESETS, Recipe, preset

if TYPE_CHECKING:
    from hwquant.report.result import BuildResult

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
    "build_many",
    "builtin_op_names",
    "bytes_sha256",
    "checked_text",
    "contain",
    "first_line",
    "hookimpl",
    "load_toml",
    "metrics",
    "preset",
    "progress",
    "runtime",
    "tree_sha256",
]


def build(model: Any, target: str = "cpu", **kwargs: Any) -> BuildResult:
    """Build ``model`` for ONE target; returns its BuildResult (the content of report.json).

    ``model``: the path of a .keras/.h5 file or SavedModel folder, or a Keras model object (saved to a
    temporary .keras file that hwquant removes after the build). ``target``: one target name; for
    several, use ``build_many()`` (``build()`` raises UsageError, exit 2, naming it).

    Keyword arguments are the fields of hwquant.BuildOptions (data, eval_data, recipe, io_dtype, out,
    ...); backend options go in ``backend_options``. ``data`` and ``eval_data`` take what the CLI takes
    (a path, ``random:N``, ``module:function``) or data in memory, as the TFLite guide's examples give
    it: a numpy array (the samples of the single input), a dict ``{input_name: array}`` (``labels`` for
    class labels), a list of samples, or a ``representative_dataset`` generator function.

    Example::

        result = hwquant.build(keras_model, "cpu", data=x_train[:200], out="build")
        result.artifact_path  # build/cpu/model.tflite
    """
    from hwquant.pipeline.api import build as _build

    return _build(model, target=target, **kwargs)


def build_many(model: Any, target: str | list[str] | tuple[str, ...] = "cpu", **kwargs: Any) -> dict[str, BuildResult]:
    """Build ``model`` for several targets (``"cpu,mcu"`` or ``["cpu", "mcu"]``) from one load, one float
    conversion and one calibration; returns ``{target folder: BuildResult}`` in the order given.

    Arguments as for ``build()``. When some targets fail, the others still build and
    ``hwquant.common.errors.TargetsFailed`` (exit of the first failure) is raised after them.
    """
    from hwquant.pipeline.api import build_many as _build_many

    return _build_many(model, target=target, **kwargs)
