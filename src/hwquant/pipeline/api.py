"""The Python API behind ``hwquant.build()`` and ``hwquant.build_many()``.

``model`` is a path (a .keras/.h5 file or a SavedModel folder) or a Keras model object; ``data`` and
``eval_data`` are any spec the CLI takes (a path, ``random:N``, ``module:function``) or data in memory
(a numpy array, a dict of arrays, a list of samples, a representative_dataset callable; see
``hwquant.config.memory_data``). In-memory values are written into a temporary folder that hwquant
creates for the call and removes afterwards, then built exactly as files are.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hwquant.common.errors import HwquantError, UsageError
from hwquant.config import memory_data
from hwquant.pipeline import many
from hwquant.plugin.facts import BuildOptions
from hwquant.report.result import BuildResult

PathLike = str | os.PathLike[str]


def build(
    model: PathLike | Any, target: str = "cpu", log: Callable[[str], None] | None = None, **kwargs: Any
) -> BuildResult:
    """Build ``model`` for ONE target; returns its BuildResult (the content of report.json).

    ``target`` names one target (``"cpu"``, ``"mcu"``, ...); for several, call
    ``hwquant.build_many(model, "cpu,mcu", ...)``, which returns a dict keyed by target folder.
    Keyword arguments are the fields of hwquant.BuildOptions (data, eval_data, recipe, io_dtype, out, ...).

    Raises UsageError (exit 2) when ``target`` names several targets.
    """
    names = _target_names(target)
    if not names:
        raise UsageError("no target given", hint="target='cpu' (see `hwquant targets`)")
    if len(names) > 1:
        raise UsageError(
            f"hwquant.build() builds one target, got {len(names)}: {', '.join(names)}",
            hint=f"call hwquant.build_many(model, {','.join(names)!r}, ...): it returns a dict of BuildResult "
            "keyed by target folder",
        )
    (result,) = build_many(model, names[0], log=log, **kwargs).values()
    return result


def build_many(
    model: PathLike | Any,
    target: str | list[str] | tuple[str, ...] = "cpu",
    log: Callable[[str], None] | None = None,
    **kwargs: Any,
) -> dict[str, BuildResult]:
    """Build ``model`` for every target in ``target`` (``"cpu,mcu"`` or ``["cpu", "mcu"]``) from one
    load, one float conversion and one calibration.

    Returns a dict of BuildResult keyed by target folder (``OUT/<folder>/``: the backend name), in the
    order given. Keyword arguments as for ``hwquant.build()``. When some targets fail, the others
    still build and ``hwquant.TargetsFailed`` is raised (its ``results`` hold the ones that built).
    """
    names = _target_names(target)
    if not names:
        raise UsageError("no target given", hint="target='cpu' (see `hwquant targets`)")
    if kwargs.get("out") is not None:
        kwargs["out"] = Path(kwargs["out"])
    with _materialized(model, kwargs) as (model_path, fields, rename):
        options = BuildOptions(model=model_path, target=",".join(names), **fields)
        results = many.build_many(options, _relabelled_log(log, rename))
        for r in results:
            _relabel_report(r, rename)
    return {_folder(r): r for r in results}


def _relabelled_log(log: Callable[[str], None] | None, rename: Callable[[str], str]) -> Callable[[str], None]:
    """``log`` with temporary file names replaced by the argument they came from. The loader's note
    that the one array feeds the only input is dropped: that is what an array given in memory means."""
    if log is None:
        return lambda s: None
    sink = log
    single = f"array {memory_data.SINGLE!r} used for the model's only input"

    def relabelled(line: str) -> None:
        if single not in line:
            sink(rename(line))

    return relabelled


def _relabel_report(result: BuildResult, rename: Callable[[str], str]) -> None:
    """Name the arguments, not the removed temporary files, in the result and its report.json."""

    def walk(o: Any) -> Any:
        if isinstance(o, str):
            return rename(o)
        if isinstance(o, dict):
            return {k: walk(v) for k, v in o.items()}
        if isinstance(o, list):
            return [walk(v) for v in o]
        return o

    relabelled = walk(result.report)
    if relabelled != result.report and result.target_dir is not None:
        result.report.clear()
        result.report.update(relabelled)
        result.write(result.target_dir / "report.json")


def _target_names(target: str | list[str] | tuple[str, ...]) -> list[str]:
    if isinstance(target, (list, tuple)):
        parts = [str(t) for t in target]
    elif isinstance(target, str):
        parts = target.split(",")
    else:
        raise UsageError(
            f"target must be a string or a list of strings, got {type(target).__name__}", hint="target='cpu'"
        )
    return [p.strip() for p in parts if p.strip()]


def _folder(result: BuildResult) -> str:
    return result.target_dir.name if result.target_dir is not None else str(result.report.get("target"))


@contextmanager
def _materialized(model: Any, kwargs: dict[str, Any]) -> Iterator[tuple[Path, dict[str, Any], Callable[[str], str]]]:
    """Paths for an in-memory model and data, in a temporary folder removed on exit, and a function that
    names the argument where a message names one of those files (log lines and errors)."""
    in_memory_model = not isinstance(model, (str, os.PathLike))
    in_memory_data = {k: v for k, v in kwargs.items() if k in ("data", "eval_data") and memory_data.is_in_memory(v)}
    for k in ("data", "eval_data"):
        if isinstance(kwargs.get(k), os.PathLike):
            kwargs = {**kwargs, k: str(kwargs[k])}
    if not in_memory_model and not in_memory_data:
        yield Path(model), kwargs, lambda s: s
        return
    folder = Path(tempfile.mkdtemp(prefix="hwquant-api-"))
    names: dict[str, str] = {}
    try:
        path = Path(model) if not in_memory_model else _save_model(model, folder)
        if in_memory_model:
            names[str(path)] = f"the {type(model).__name__} object given as model"
        for k, value in in_memory_data.items():
            npz = memory_data.write_npz(value, folder / f"{k}.npz", what=k)
            kwargs = {**kwargs, k: str(npz)}
            names[str(npz)] = f"{k}= ({memory_data.describe(value)})"

        def rename(text: str) -> str:
            for file, label in names.items():
                text = text.replace(file, label)
            return text

        try:
            yield path, kwargs, rename
        except HwquantError as exc:
            exc.message = rename(exc.message)
            exc.hint = rename(exc.hint) if exc.hint else exc.hint
            raise
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _save_model(model: Any, folder: Path) -> Path:
    """A Keras model object saved as ``folder/model.keras`` (Keras's own format, what hwquant loads)."""
    save = getattr(model, "save", None)
    if not callable(save) or not hasattr(model, "layers"):
        raise UsageError(
            f"model must be a path or a Keras model, got {type(model).__name__}",
            hint="pass the path of a .keras/.h5 file or SavedModel folder, or a keras.Model",
        )
    path = folder / "model.keras"
    try:
        save(str(path))
    except Exception as exc:  # Keras raises many types (ValueError, NotImplementedError for subclassed models, ...)
        raise UsageError(
            f"the Keras model object could not be saved as .keras ({type(exc).__name__}: {exc})",
            hint="save it yourself (model.save('model.keras'), or model.export('saved_model/') for a SavedModel) "
            "and pass the path",
        ) from exc
    return path
