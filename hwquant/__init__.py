"""hwquant: hardware-targeted post-training quantization builds for TensorFlow / Keras models."""
from __future__ import annotations

__version__ = "0.1.0"

from .backend import Backend, BackendOption, BuildContext, OpReport, OpSupport, OpVerdict, PackageResult  # noqa: E402
from .hookspecs import hookimpl  # noqa: E402

__all__ = ["Backend", "BackendOption", "BuildContext", "OpReport", "OpSupport", "OpVerdict", "PackageResult",
           "hookimpl", "build", "__version__"]


def build(model, target: str = "cpu", **kwargs):
    """Build ``model`` for ``target``; returns a BuildResult with the content of report.json.

    Keyword arguments are the fields of hwquant.facts.BuildOptions (data, recipe, io_dtype, out, ...);
    backend options go in ``backend_options``.
    """
    from .pipeline import build as _build

    return _build(model, target=target, **kwargs)
