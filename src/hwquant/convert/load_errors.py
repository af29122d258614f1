"""What went wrong while loading a model, by who is at fault (README, "Exit codes").

- the file cannot be read as a model (corrupt, truncated, wrong format): exit 2, the user's input;
- Keras refuses a file in safe mode (a ``Lambda`` layer holds Python code that would run on
  load): exit 2, saying so and offering ``--trust-model``;
- the model was read but exporting or converting it failed (Keras export, TFLiteConverter): exit 4,
  a toolchain failure;
- the converter failed because the model uses TensorFlow ops that TFLite has no builtin kernel for
  (it would need the Select TF ops / flex runtime, or a custom op): exit 3 naming each op, its
  dtype and its layer; no hwquant target runs such ops;
- an exception raised inside hwquant's own code is a bug: it is re-raised unchanged (exit 1 with a
  traceback to report).
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

from hwquant.common.errors import HwquantError, IncompatibleError, InputError, ToolchainError, first_line

_OWN = (Path(__file__).resolve().parents[1],)  # the hwquant package


class Unreadable(InputError):
    """The model file could not be read."""

    def __init__(self, message: str, hint: str | None = None, detail: str = ""):
        super().__init__(message, hint)
        self.detail = detail


class ConverterFailed(ToolchainError):
    """The model was read, but exporting or converting it failed."""

    def __init__(self, message: str, hint: str | None = None, detail: str = ""):
        super().__init__(message, hint)
        self.detail = detail


def ours(exc: BaseException) -> bool:
    """Whether the innermost frame of ``exc``'s traceback is hwquant's own code (a bug)."""
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    try:
        here = Path(tb.tb_frame.f_code.co_filename).resolve()
    except (OSError, RuntimeError):
        return False
    return any(own in here.parents for own in _OWN)


def unsafe_lambda(exc: BaseException) -> bool:
    text = str(exc)
    return "safe_mode=False" in text or ("Lambda" in text and "arbitrary code execution" in text)


def _detail(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {first_line(exc, 300)}"


def _log_hint(verbose: bool) -> str:
    return "" if verbose else "; rerun with -v for TensorFlow's log"


@contextlib.contextmanager
def reading(path: Path, fmt: str, verbose: bool):
    """Failures to read ``path`` as a ``fmt`` model become exit 2 (bugs in hwquant propagate)."""
    try:
        yield
    except HwquantError:
        raise
    except Exception as exc:
        if ours(exc):
            raise
        if unsafe_lambda(exc):
            raise InputError(
                f"{path}: Keras refused to load it in safe mode: it holds a Lambda layer whose Python code "
                "would run when the model loads",
                hint="if you trust where the file comes from, pass --trust-model (loads it with safe_mode=False); "
                "otherwise rebuild the model without Lambda layers",
            ) from exc
        raise Unreadable(
            f"cannot load {path} as a {fmt} model ({_detail(exc)})",
            hint="check that the file is complete and was saved by TensorFlow/Keras" + _log_hint(verbose),
            detail=_detail(exc),
        ) from exc


@contextlib.contextmanager
def converting(path: Path, verbose: bool, what: str = "converting it to TFLite (float32)"):
    """Failures of Keras export or the TFLite converter on a model that was read become exit 4."""
    try:
        yield
    except HwquantError:
        raise
    except Exception as exc:
        if ours(exc):
            raise
        missing = tf_ops_without_builtin(str(exc))
        if missing:
            named = "; ".join(f"{op} ({dtype}, layer: {layer})" for op, dtype, layer in missing[:5])
            raise IncompatibleError(
                f"{len(missing)} TensorFlow op(s) in {path} have no TFLite builtin kernel, so no target can run "
                f"the model: {named}",
                hint="rebuild those layers from ops TFLite has (https://www.tensorflow.org/lite/guide/ops_compatibility); "
                "the Select TF ops (flex) runtime they would need is not part of any hwquant target",
            ) from exc
        raise ConverterFailed(
            f"{path} was read, but {what} failed ({_detail(exc)})",
            hint="a toolchain failure, not a damaged file" + _log_hint(verbose),
            detail=_detail(exc),
        ) from exc


_SELECT = re.compile(r"^(?:TF Select ops|Custom ops): (.+)$", re.MULTILINE)
_DETAIL = re.compile(r"^\s*tf\.(\w+)\((.*)$", re.MULTILINE)
_LAYER = re.compile(r'fused\["(\w+):", "([^"@]+)')
_DTYPES = {"f16": "float16", "f32": "float32", "f64": "float64", "i1": "bool", "i8": "int8", "i16": "int16"}
_DTYPES |= {"i32": "int32", "i64": "int64", "ui8": "uint8", "!tf_type.string": "string"}
_ELEMENT = re.compile(r"tensor<(?:[^<>]*?x)?(f16|f32|f64|i1|i8|i16|i32|i64|ui8|!tf_type\.string)>")


def tf_ops_without_builtin(text: str) -> list[tuple[str, str, str]]:
    """(op, dtype, layer) for each TensorFlow op the converter reports as needing the Select TF ops
    (flex) runtime or a custom op ("TF Select ops: MatrixDeterminant"), from its error text."""
    ops = [op.strip() for line in _SELECT.findall(text) for op in line.split(",") if op.strip()]
    out = []
    for op in dict.fromkeys(ops):
        detail = next((rest for name, rest in _DETAIL.findall(text) if name == op), "")
        element = _ELEMENT.search(detail)
        layers = [layer for name, layer in _LAYER.findall(text) if name == op]
        out.append((op, _DTYPES.get(element.group(1), "?") if element else "?", layers[0] if layers else "?"))
    return out
