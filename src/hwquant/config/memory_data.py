"""Data given in memory to ``hwquant.build()``, in the TFLite guide's forms, written as a .npz the
ordinary loader (hwquant.config.data) reads, so it is validated, split, hashed and reported as a file is.

Forms (``data=`` or ``eval_data=``):

- a numpy array ``(N, *input_shape[1:])``: the samples of the model's single input;
- a dict ``{name: array}``: one stacked array per input (``"signature/name"`` for several signatures;
  ``"labels"`` for class labels), as in a .npz;
- a list or tuple of samples, or an iterator of them: each sample an array (single input), a list of
  one array, a dict ``{name: array}``, or ``(signature_key, {name: array})``, as the guide's
  ``representative_dataset`` yields them;
- a callable returning such an iterable (the guide's ``representative_dataset`` generator function).

Samples are stacked per input name: samples that carry the guide's batch of 1 are joined along that
axis, others are stacked along a new first axis. Several inputs need dict samples (positional lists do
not say which array feeds which input). No TensorFlow here; tensors are read with ``numpy.asarray``.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from hwquant.common.errors import InputError, UsageError

SINGLE = "input"  # the key of a single-input array: the loader maps one array onto the only input
_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed zip timestamps: the same data gives the same bytes and sha256


def is_in_memory(value: object) -> bool:
    """Whether ``value`` is data in memory rather than a spec string or a path."""
    return value is not None and not isinstance(value, (str, os.PathLike))


def describe(value: object) -> str:
    """A short description for messages: ``numpy array (40, 8, 8, 1)``, ``dict of 2 arrays``, ..."""
    if isinstance(value, np.ndarray):
        return f"numpy array {tuple(value.shape)}"
    if isinstance(value, Mapping):
        return f"dict of {len(value)} array(s)"
    if callable(value):
        return f"callable {getattr(value, '__name__', type(value).__name__)}"
    return f"{type(value).__name__} of samples"


def arrays(value: object, what: str = "data") -> dict[str, np.ndarray]:
    """The npz arrays (name -> stacked samples) for an in-memory ``value``."""
    if isinstance(value, Mapping):
        if not value:
            raise UsageError(f"{what}: the dict is empty", hint="give {input_name: array of samples}")
        return {str(k): _array(v, what, str(k)) for k, v in value.items()}
    if _is_array(value):
        return {SINGLE: _array(value, what, "array")}
    if callable(value):
        try:
            value = value()
        except Exception as exc:
            raise InputError(f"{what}: the callable raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(value, Iterable):
        raise UsageError(
            f"{what}: cannot read a {type(value).__name__} as data",
            hint="pass a numpy array, a dict of arrays, a list of samples or a representative_dataset function",
        )
    try:
        samples = list(value)
    except Exception as exc:
        raise InputError(f"{what}: iterating the samples raised {type(exc).__name__}: {exc}") from exc
    if not samples:
        raise InputError(f"{what}: no samples", hint="give at least one sample")
    columns: dict[str, list[np.ndarray]] = {}
    for i, sample in enumerate(samples):
        for name, a in _sample(sample, what, i).items():
            columns.setdefault(name, []).append(a)
    counts = {n: len(v) for n, v in columns.items()}
    if len(set(counts.values())) > 1:
        raise InputError(f"{what}: inputs have different sample counts {counts}", hint="give every input per sample")
    return {name: _stack(parts, what, name) for name, parts in columns.items()}


def write_npz(value: object, path: Path, what: str = "data") -> Path:
    """Write ``value``'s arrays as an uncompressed .npz at ``path`` (deterministic bytes)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for name, a in arrays(value, what).items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(a), allow_pickle=False)
            z.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=_EPOCH), buf.getvalue())
    return path


def _is_array(value: object) -> bool:
    """numpy arrays and array-likes with a shape (TensorFlow / JAX / torch tensors), not lists."""
    return isinstance(value, np.ndarray) or (hasattr(value, "shape") and hasattr(value, "__array__"))


def _array(value: object, what: str, name: str) -> np.ndarray:
    try:
        a = np.asarray(value)
    except Exception as exc:
        raise InputError(f"{what}: {name!r} is not an array ({type(exc).__name__}: {exc})") from exc
    if a.dtype == object:
        raise InputError(f"{what}: {name!r} holds Python objects, not numbers", hint="give numeric arrays of one shape")
    return a


def _sample(sample: object, what: str, i: int) -> dict[str, np.ndarray]:
    """One sample in any of the guide's forms -> {npz key: array}."""
    if isinstance(sample, tuple) and len(sample) == 2 and isinstance(sample[0], str) and isinstance(sample[1], Mapping):
        key, d = sample
        return {f"{key}/{n}": _array(a, what, f"{key}/{n}") for n, a in d.items()}
    if isinstance(sample, Mapping):
        return {str(n): _array(a, what, str(n)) for n, a in sample.items()}
    if _is_array(sample):
        return {SINGLE: _array(sample, what, f"sample {i}")}
    if isinstance(sample, (list, tuple)):
        if len(sample) == 1:
            return {SINGLE: _array(sample[0], what, f"sample {i}")}
        raise UsageError(
            f"{what}: sample {i} is a list of {len(sample)} arrays; a list does not say which array feeds which input",
            hint="yield a dict {input_name: array} per sample (names as `hwquant inspect` shows them)",
        )
    raise UsageError(
        f"{what}: sample {i} is a {type(sample).__name__}",
        hint="yield an array, a list of one array, a dict {input_name: array} or (signature_key, dict)",
    )


def _stack(parts: list[np.ndarray], what: str, name: str) -> np.ndarray:
    shapes = {a.shape for a in parts}
    if len(shapes) > 1:
        raise InputError(
            f"{what}: samples of {name!r} differ in shape: {', '.join(map(str, sorted(shapes)[:3]))}",
            hint="give every sample of an input the same shape",
        )
    if all(a.ndim >= 1 and a.shape[0] == 1 for a in parts):  # the guide's samples carry a batch of 1
        return np.concatenate(parts, axis=0)
    return np.stack(parts, axis=0)
