"""Inputs for ``hwquant bench``: samples from ``--data`` (.npz / .npy) or random ones.

A sample maps each signature input name to an array with the model's input shape (batch 1).
Arrays in a file may hold one sample (the model's shape, with or without the batch
dimension) or many stacked along axis 0. Float arrays are real values, quantized with the
input's own scale/zero point when the input is integer; arrays already in the input's
dtype are passed as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hwquant.common.errors import InputError
from hwquant.device.runtime import Signature, is_quantized, quantize, random_input

Sample = dict[str, np.ndarray]


def _match_key(keys: list[str], name: str, detail: dict[str, Any], sig_key: str, single: bool) -> str | None:
    for k in (name, f"{sig_key}/{name}", detail.get("name", "")):
        if k in keys:
            return k
    return keys[0] if single and len(keys) == 1 else None


def _split(arr: np.ndarray, shape: tuple[int, ...], what: str) -> list[np.ndarray]:
    """One array -> list of batch-1 samples of ``shape``."""
    if arr.shape == shape:
        return [arr]
    if arr.shape == shape[1:]:
        return [arr[None, ...]]
    if shape and shape[0] == 1 and arr.ndim == len(shape) and arr.shape[1:] == shape[1:]:
        return [arr[i : i + 1] for i in range(arr.shape[0])]
    raise InputError(
        f"{what}: shape {list(arr.shape)} does not fit the model input {list(shape)}",
        hint="give arrays shaped like the input, or N of them stacked along axis 0",
    )


def load_samples(path: str | Path, sig: Signature, max_samples: int | None = None) -> list[Sample]:
    """Samples for ``sig`` read from an .npz (arrays keyed by input name) or .npy file."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such data file", hint="pass --data FILE.npz or FILE.npy")
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as exc:  # numpy raises several types for a bad file
        raise InputError(f"{path}: cannot read it as .npy/.npz ({exc})") from exc
    if isinstance(loaded, np.ndarray):
        if len(sig.inputs) != 1:
            raise InputError(
                f"{path}: a .npy file feeds single-input models; this one has inputs {', '.join(sig.inputs)}",
                hint="use an .npz keyed by input name",
            )
        arrays = {next(iter(sig.inputs)): loaded}
    else:
        keys = list(loaded.files)
        arrays = {}
        for name, detail in sig.inputs.items():
            k = _match_key(keys, name, detail, sig.key, single=len(sig.inputs) == 1)
            if k is None:
                raise InputError(
                    f"{path}: no array for input {name!r} (arrays: {', '.join(keys)})",
                    hint=f"key arrays by input name: {', '.join(sig.inputs)}",
                )
            arrays[name] = loaded[k]
    per_input = {}
    for name, arr in arrays.items():
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise InputError(f"{path}: input {name!r} holds NaN or inf values", hint="clean the data")
        per_input[name] = _split(arr, tuple(int(d) for d in sig.inputs[name]["shape"]), f"{path} [{name}]")
    counts = {len(v) for v in per_input.values()}
    if len(counts) != 1:
        raise InputError(f"{path}: inputs hold different numbers of samples ({sorted(counts)})")
    n = counts.pop()
    if max_samples:
        n = min(n, max_samples)
    return [{name: per_input[name][i] for name in per_input} for i in range(n)]


def random_samples(sig: Signature, n: int = 1, seed: int = 0) -> list[Sample]:
    """Random samples as real values: uniform [0, 1) for float and quantized inputs (a quantized
    input gets the quantization of that range when fed), the raw range for other integer inputs.
    The same real values can thus feed a quantized model and its float reference."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        s = {}
        for name, d in sig.inputs.items():
            if np.dtype(d["dtype"]).kind == "f" or is_quantized(d):
                s[name] = rng.random(tuple(int(x) for x in d["shape"]), dtype=np.float32)
            else:
                s[name] = random_input(d, rng)
        out.append(s)
    return out


def feed(arr: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """``arr`` in the form the input tensor takes: quantized when real-valued data meets an int input."""
    want = np.dtype(detail["dtype"])
    if arr.dtype == want:
        return np.ascontiguousarray(arr)
    if arr.dtype.kind == "f" and want.kind in "iu":
        return np.ascontiguousarray(quantize(arr, detail))
    return np.ascontiguousarray(arr.astype(want))
