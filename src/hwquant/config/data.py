"""Representative and evaluation data: load every form, validate against the model, split.

A DataSet holds samples ``(signature_key, {input_name: array})``, each array with a batch
dimension of 1, exactly as the TFLite guide's representative_dataset yields them. No
TensorFlow here.

Every source is bounded before its arrays are built: files are checked by type and size
(``common.files``: never a FIFO or a device), at most ``max_samples()`` samples (``--max-samples``,
the manifest's ``max_samples``, else ``HWQUANT_MAX_SAMPLES``, else 100,000), and an estimate of the memory the samples need
(from .npy/.npz headers, the model's input shapes, image sizes) must fit ``memory_budget()``
(half the machine's memory, or ``HWQUANT_MAX_DATA_MEMORY_BYTES``). A ``module:function`` source
runs under the same sample and memory limits and a wall-clock limit (``HWQUANT_DATA_TIMEOUT_S``,
default 300 s); a generator that never ends is stopped there. Each breach is an InputError (exit 2)
naming the source, raised before a MemoryError could happen.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import math
import os
import sys
import threading
import time
import warnings
import zipfile
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hwquant.common import files
from hwquant.common.errors import InputError, UsageError, UserCodeError, first_line, note_memory
from hwquant.common.hashing import file_sha256
from hwquant.plugin.facts import BuildOptions, ModelFacts, SignatureSpec

MIN_RECOMMENDED = 100  # the TFLite guide recommends 100-500 representative samples
DEFAULT_EVAL_FRACTION = BuildOptions.eval_fraction  # --eval-fraction not given
MIN_EVAL = 100  # the default split holds back at least this many eval samples when the data allow
LABEL_KEYS = ("labels", "label", "y")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".ppm", ".pgm"}

Sample = tuple[str, dict[str, np.ndarray]]

DEFAULT_MAX_SAMPLES = 100_000  # per data source; BuildOptions.max_samples (--max-samples), else HWQUANT_MAX_SAMPLES
MAX_SAMPLES_CAP = 10_000_000  # the largest --max-samples / max_samples accepted
DEFAULT_TIMEOUT_S = 300.0  # wall clock for a module:function source; HWQUANT_DATA_TIMEOUT_S overrides
MAX_NPZ_ARRAYS = 1000  # arrays in one .npz (one per input, plus labels)
SAMPLE_OVERHEAD = 512  # bytes of Python objects per sample (tuple, dict, array header), for the estimate


def _env_number(name: str, default: float, kind: type = int) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = kind(raw)
        if not math.isfinite(value) or value <= 0:
            raise ValueError
    except ValueError:
        raise UsageError(
            f"{name}={raw!r} is not a positive number", hint=f"unset it, or set e.g. {name}={default:g}"
        ) from None
    return float(value)


_given_max_samples: ContextVar[int | None] = ContextVar("max_samples", default=None)


def max_samples() -> int:
    """The most samples one data source may give: the build's --max-samples (set by ``load``), else
    HWQUANT_MAX_SAMPLES, else 100,000."""
    given = _given_max_samples.get()
    return given if given is not None else int(_env_number("HWQUANT_MAX_SAMPLES", DEFAULT_MAX_SAMPLES))


def memory_budget() -> int:
    """The most bytes the samples of one source may take: HWQUANT_MAX_DATA_MEMORY_BYTES, else half of RAM."""
    try:
        phys = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        phys = 16 << 30
    return int(_env_number("HWQUANT_MAX_DATA_MEMORY_BYTES", max(phys // 2, 1 << 30)))


def timeout_s() -> float:
    return float(_env_number("HWQUANT_DATA_TIMEOUT_S", DEFAULT_TIMEOUT_S, float))


def _gib(n: float) -> str:
    if n < 1 << 20:
        return f"{n / (1 << 10):.1f} KiB"
    return f"{n / (1 << 30):.2f} GiB" if n >= 1 << 28 else f"{n / (1 << 20):.1f} MiB"


def check_bounds(source: str, n: int, sample_bytes: int, limit: int | None = None) -> None:
    """InputError (exit 2) when ``n`` samples of ``sample_bytes`` each exceed the sample limit (``limit``, else
    ``max_samples()``) or the memory budget: checked before any array is built."""
    limit = limit or max_samples()
    if n > limit:
        raise InputError(
            f"{source}: {n:,} samples, over the limit of {limit:,} per data source",
            hint="calibration needs 100-500 representative samples: pass fewer, "
            "or raise the limit with --max-samples (HWQUANT_MAX_SAMPLES)",
        )
    need = n * (sample_bytes + SAMPLE_OVERHEAD)
    budget = memory_budget()
    note_memory(f"{source}: {n:,} samples, about {_gib(need)}")
    if need > budget:
        raise InputError(
            f"{source}: {n:,} samples of {sample_bytes:,} bytes would need about {_gib(need)} of memory, "
            f"over the {_gib(budget)} budget",
            hint="pass fewer or smaller samples, or raise HWQUANT_MAX_DATA_MEMORY_BYTES",
        )


def sample_bytes(shapes_dtypes: Iterable[tuple[tuple[int, ...], str]]) -> int:
    """Bytes of one sample (batch 1; dynamic dimensions counted as 1)."""
    total = 0
    for shape, dtype in shapes_dtypes:
        total += math.prod(max(1, int(d)) if i else 1 for i, d in enumerate(shape)) * np.dtype(dtype).itemsize
    return total


@dataclass
class DataSet:
    samples: list[Sample]
    source: str
    kind: str  # npz | npy | images | callable | random
    sha256: str
    labels: np.ndarray | None = None  # one label per sample, for accuracy on classifiers
    warnings: list[str] = field(default_factory=list)
    arrays: dict[str, str] = field(
        default_factory=dict
    )  # model input -> the file's array feeding it, where named otherwise

    @property
    def random(self) -> bool:
        return self.kind == "random"

    def __len__(self) -> int:
        return len(self.samples)

    def subset(self, idx: Iterable[int], what: str) -> DataSet:
        idx = list(idx)
        labels = self.labels[idx] if self.labels is not None else None
        return DataSet(
            [self.samples[i] for i in idx],
            f"{self.source} ({what})",
            self.kind,
            self.sha256,
            labels,
            list(self.warnings),
            dict(self.arrays),
        )

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "kind": self.kind,
            "samples": len(self),
            "sha256": self.sha256,
            "random": self.random,
            "labelled": self.labels is not None,
        }


def load(spec: str, facts: ModelFacts, options: BuildOptions, role: str = "calibration") -> DataSet:
    """Load ``spec`` (npz, npy, image folder, module:function or random:N) and validate it.
    ``role``: "calibration" (--data) or "eval" (--eval-data), named in the few-samples warning."""
    token = _given_max_samples.set(options.max_samples)
    try:
        return _load(spec, facts, options, role)
    finally:
        _given_max_samples.reset(token)


def _load(spec: str, facts: ModelFacts, options: BuildOptions, role: str) -> DataSet:
    if spec.startswith("random:"):
        ds = _random(spec, facts, options.seed)
    else:
        p = Path(spec)
        if p.is_dir():
            ds = _images(files.checked(p, "data", folder_ok=True, what="image folder"), facts, options)
        elif p.suffix == ".npz":
            ds = _npz(_exists(p), facts)
        elif p.suffix == ".npy":
            ds = _npy(_exists(p), facts)
        elif ":" in spec and not p.exists():
            ds = _callable(spec, facts)
        else:
            _exists(p)
            raise InputError(
                f"{spec}: unknown data format",
                hint="pass a .npz, a .npy, a folder of images, module:function or random:N",
            )
    validate(ds, facts)
    if len(ds) < MIN_RECOMMENDED and not ds.random:
        if role == "eval":
            ds.warnings.append(
                f"only {len(ds)} eval samples in {spec}; fidelity measures on fewer than {MIN_EVAL} samples have "
                "wide intervals (report.json: fidelity.outputs.*.measures)"
            )
        else:
            ds.warnings.append(f"only {len(ds)} samples in {spec}; the TFLite guide recommends 100-500 for calibration")
    return ds


def _exists(p: Path) -> Path:
    if not p.exists() and not p.is_symlink():
        raise InputError(f"{p}: no such data file", hint="check the --data / --eval-data path")
    return files.checked(p, "data", hint="pass a .npz, a .npy, a folder of images, module:function or random:N")


def _npy_header(f: Any) -> tuple[tuple[int, ...], np.dtype[Any]]:
    """(shape, dtype) from a .npy header, without reading the array."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(f)
    else:
        shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    return tuple(int(d) for d in shape), np.dtype(dtype)


def _check_headers(p: Path, headers: dict[str, tuple[tuple[int, ...], np.dtype[Any]]]) -> None:
    """Sample count and memory from the arrays' headers, before any array is read."""
    n = max((shape[0] for shape, _ in headers.values() if shape), default=0)
    total = sum(math.prod(shape) * dtype.itemsize for shape, dtype in headers.values())
    check_bounds(str(p), n, total // max(n, 1))


def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _split_batch(name: str, arr: np.ndarray, spec_shape: tuple[int, ...], source: str) -> list[np.ndarray]:
    """(N, *shape[1:]) -> N arrays of shape (1, *shape[1:])."""
    arr = np.asarray(arr)
    if arr.ndim != len(spec_shape):
        raise InputError(
            f"{source}: array {name!r} has shape {arr.shape} but the model input has shape {_fmt(spec_shape)}",
            hint=f"store samples stacked along the first axis: (N, {', '.join(map(str, spec_shape[1:]))})",
        )
    return [arr[i : i + 1] for i in range(arr.shape[0])]


def _fmt(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join("N" if i == 0 else ("?" if d < 0 else str(d)) for i, d in enumerate(shape)) + ")"


def _columns_to_samples(columns: dict[tuple[str, str], np.ndarray], facts: ModelFacts, source: str) -> list[Sample]:
    samples: list[Sample] = []
    for sig in facts.signatures:
        cols = {n: a for (k, n), a in columns.items() if k == sig.key}
        if not cols:
            continue
        missing = [t.name for t in sig.inputs if t.name not in cols]
        if missing:
            raise InputError(
                f"{source}: no data for input(s) {missing} of signature {sig.key!r}", hint=_keys_hint(facts)
            )
        split = {t.name: _split_batch(t.name, cols[t.name], t.shape, source) for t in sig.inputs}
        counts = {n: len(v) for n, v in split.items()}
        if len(set(counts.values())) > 1:
            raise InputError(f"{source}: inputs of signature {sig.key!r} have different sample counts {counts}")
        n = next(iter(counts.values()))
        samples += [(sig.key, {name: split[name][i] for name in split}) for i in range(n)]
    if not samples:
        raise InputError(f"{source}: no array matches the model's inputs", hint=_keys_hint(facts))
    return samples


def _keys_hint(facts: ModelFacts) -> str:
    if facts.multi_signature:
        keys = [f"{s.key}/{t.name}" for s in facts.signatures for t in s.inputs]
    else:
        keys = [t.name for t in facts.signatures[0].inputs]
    return "the model expects arrays named: " + ", ".join(keys)


def _npz(p: Path, facts: ModelFacts) -> DataSet:
    try:
        with zipfile.ZipFile(p) as zf:
            headers = {}
            if len(zf.infolist()) > MAX_NPZ_ARRAYS:
                raise InputError(
                    f"{p}: holds {len(zf.infolist()):,} arrays; a data file holds one per model input (and labels)",
                    hint="store one stacked (N, ...) array per input",
                )
            for info in zf.infolist():
                if info.filename.endswith(".npy"):
                    with zf.open(info) as f:
                        headers[info.filename] = _npy_header(f)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{p}: cannot read as .npz ({first_line(exc, 200)})") from None
    _check_headers(p, headers)
    try:
        z = np.load(p, allow_pickle=False)
        arrays = {k: z[k] for k in z.files}
    except Exception as exc:
        raise InputError(f"{p}: cannot read as .npz ({exc})") from exc
    labels = next((arrays.pop(k) for k in LABEL_KEYS if k in arrays), None)
    columns: dict[tuple[str, str], np.ndarray] = {}
    notes = []
    for k, a in arrays.items():
        if "/" in k:
            sig, name = k.split("/", 1)
        else:
            sig, name = facts.signatures[0].key, k
        columns[(sig, name)] = a
    single = facts.signatures[0]
    fed_by: dict[str, str] = {}
    if not facts.multi_signature and len(single.inputs) == 1 and len(arrays) == 1:
        ((key, arr),) = columns.items()
        if key[1] != single.inputs[0].name:  # one array for one input: take it, say so
            notes.append(f"array {key[1]!r} used for the model's only input {single.inputs[0].name!r}")
            columns = {(single.key, single.inputs[0].name): arr}
            fed_by = {single.inputs[0].name: key[1]}
    ds = DataSet(_columns_to_samples(columns, facts, str(p)), str(p), "npz", file_sha256(p), labels, notes, fed_by)
    _check_labels(ds, facts)
    return ds


def _npy(p: Path, facts: ModelFacts) -> DataSet:
    sig = facts.signatures[0]
    if facts.multi_signature or len(sig.inputs) != 1:
        raise InputError(
            f"{p}: a .npy file holds one array, but the model has several inputs",
            hint="use a .npz with one array per input: " + _keys_hint(facts),
        )
    try:
        with open(p, "rb") as f:
            header = _npy_header(f)
    except Exception as exc:
        raise InputError(f"{p}: cannot read as .npy ({first_line(exc, 200)})") from None
    _check_headers(p, {"array": header})
    try:
        arr = np.load(p, allow_pickle=False)
    except Exception as exc:
        raise InputError(f"{p}: cannot read as .npy ({exc})") from exc
    samples = _columns_to_samples({(sig.key, sig.inputs[0].name): arr}, facts, str(p))
    return DataSet(samples, str(p), "npy", file_sha256(p))


def _check_labels(ds: DataSet, facts: ModelFacts | None = None) -> None:
    """One integer class index per sample, each a valid class of the model's output (0 <= label < classes,
    where the first output's last dimension gives the class count)."""
    if ds.labels is None:
        return
    labels = np.asarray(ds.labels)
    if labels.ndim not in (1, 2) or (labels.ndim == 2 and labels.shape[1] != 1) or len(labels) != len(ds.samples):
        raise InputError(
            f"{ds.source}: labels of shape {labels.shape} for {len(ds.samples)} samples",
            hint="give one integer class label per sample: an array of shape (N,)",
        )
    integral = labels.dtype.kind in "iub" or (
        labels.dtype.kind == "f" and bool(np.isfinite(labels).all()) and bool((labels == np.round(labels)).all())
    )
    if not integral:
        raise InputError(
            f"{ds.source}: labels must be integer class indices, got {labels.dtype} values",
            hint="store the class index of each sample (0, 1, 2, ...)",
        )
    low, high = int(labels.min(initial=0)), int(labels.max(initial=0))
    if low < 0:
        raise InputError(
            f"{ds.source}: label {low} is negative; labels are class indices",
            hint="store the class index of each sample (0, 1, 2, ...)",
        )
    outputs = facts.signatures[0].outputs if facts is not None and facts.signatures else ()
    classes = outputs[0].shape[-1] if outputs and outputs[0].shape else -1
    if classes > 1 and high >= classes:
        raise InputError(
            f"{ds.source}: label {high} is not a class of the model's output {outputs[0].name!r} "
            f"({classes} classes: 0 to {classes - 1})",
            hint="store the class index of each sample, as the model's output numbers them",
        )


def _random(spec: str, facts: ModelFacts, seed: int) -> DataSet:
    try:
        n = int(spec.split(":", 1)[1])
        if n <= 0:
            raise ValueError
    except ValueError:
        raise InputError(
            f"bad data spec {spec!r}", hint="random:N with N a positive integer, e.g. random:100"
        ) from None
    for sig in facts.signatures:
        check_bounds(spec, n, sample_bytes((t.shape, t.dtype) for t in sig.inputs))
    check_bounds(spec, n * len(facts.signatures), 0)
    rng = np.random.default_rng(seed)
    samples: list[Sample] = []
    for sig in facts.signatures:
        for _ in range(n):
            samples.append((sig.key, {t.name: _random_array(rng, t.shape, t.dtype) for t in sig.inputs}))
    digest = hashlib.sha256(f"{spec}:{seed}".encode()).hexdigest()
    return DataSet(
        samples,
        spec,
        "random",
        digest,
        warnings=[
            "random representative data: for testing only; calibration ranges and fidelity "
            "numbers do not reflect real inputs"
        ],
    )


def _random_array(rng: np.random.Generator, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    shape = tuple(1 if d < 0 else d for d in shape)
    out: np.ndarray
    if dtype.startswith("float"):
        out = rng.random(shape, dtype=np.float32).astype(dtype)
        return out
    info = np.iinfo(dtype)
    out = rng.integers(max(info.min, -128), min(info.max, 127), size=shape, endpoint=True).astype(dtype)
    return out


def _images(folder: Path, facts: ModelFacts, options: BuildOptions) -> DataSet:
    from hwquant.config.images import load_folder

    sig = facts.signatures[0]
    if facts.multi_signature or len(sig.inputs) != 1:
        raise InputError(
            f"{folder}: an image folder can feed a single-input model only",
            hint="use a .npz or a module:function for several inputs",
        )
    arr, labels, classes, digest = load_folder(folder, sig.inputs[0], options)
    ds = DataSet(
        _columns_to_samples({(sig.key, sig.inputs[0].name): arr}, facts, str(folder)),
        str(folder),
        "images",
        digest,
        labels,
    )
    if classes:
        ds.warnings.append(f"labels taken from {len(classes)} class sub-folders: {', '.join(classes[:10])}")
    return ds


def _import_source(spec: str) -> Any:
    """The function of a ``module:function`` spec. The module's file is checked (type, size) before it is
    imported; anything its import raises (a syntax error, an exception, even ``sys.exit``) is an
    InputError naming the source and the error's first line."""
    modname, _, fname = spec.partition(":")
    hint = "pass module:function importable from the current directory, returning an iterable of samples"
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")
    try:
        found = importlib.util.find_spec(modname)
    except (ImportError, ValueError) as exc:
        raise InputError(f"cannot import {spec} ({first_line(exc, 200)})", hint=hint) from None
    except Exception as exc:  # a parent package's import failed: user code
        raise UserCodeError(f"importing {spec}", exc, hint=hint) from exc
    if found is None:
        raise InputError(f"cannot import {spec} (no module named {modname!r})", hint=hint)
    if found.origin and found.has_location:
        files.checked(found.origin, "module", what=f"data module {modname}")
    try:
        module = importlib.import_module(modname)
    except SyntaxError as exc:
        raise InputError(
            f"{spec}: {exc.filename or modname}:{exc.lineno}: syntax error: {exc.msg}", hint="fix the data module"
        ) from None
    except (KeyboardInterrupt, GeneratorExit):
        raise
    except BaseException as exc:  # user code: SystemExit, any exception raised at import time
        raise UserCodeError(
            f"importing {spec}", exc, hint="fix the data module (hwquant -v shows its traceback)"
        ) from exc
    try:
        return getattr(module, fname)
    except AttributeError:
        raise InputError(f"cannot import {spec} (module {modname!r} has no {fname!r})", hint=hint) from None


def _consume(spec: str, fn: Any, facts: ModelFacts) -> list[Any]:
    """Run a data function and collect what it yields, bounded: at most max_samples() items, a memory
    estimate under memory_budget(), and timeout_s() of wall clock; it runs in a helper thread so a
    generator stuck inside one item is abandoned at the deadline too (the build then exits 2)."""
    limit, budget, deadline = max_samples(), memory_budget(), time.monotonic() + timeout_s()
    box: dict[str, Any] = {"items": []}
    stop = threading.Event()

    def run() -> None:
        used = 0
        try:
            for item in fn():
                if stop.is_set():
                    return
                box["items"].append(item)
                if len(box["items"]) > limit:
                    box["over"] = "samples"
                    return
                used += _item_bytes(item) + SAMPLE_OVERHEAD
                box["used"] = used
                if used > budget:
                    box["over"] = "memory"
                    return
                if time.monotonic() > deadline:
                    return
            box["done"] = True
        except BaseException as exc:  # user code: handed to the caller, which names the source
            box["error"] = exc

    t = threading.Thread(target=run, name=f"hwquant-data {spec}", daemon=True)
    t.start()
    while t.is_alive() and time.monotonic() < deadline:
        t.join(0.1)
    stop.set()
    if t.is_alive() or not ("done" in box or "error" in box or "over" in box):
        raise InputError(
            f"{spec}() did not finish within {timeout_s():g} s (it yielded {len(box['items']):,} samples so far)",
            hint="yield a finite number of samples (100-500 calibrate well), or raise HWQUANT_DATA_TIMEOUT_S",
        )
    if box.get("over") == "samples":
        raise InputError(
            f"{spec}() yields more than {limit:,} samples (the limit per data source); stopped there",
            hint="yield a finite number of samples (100-500 calibrate well), or raise --max-samples (HWQUANT_MAX_SAMPLES)",
        )
    if box.get("over") == "memory":
        raise InputError(
            f"{spec}(): {len(box['items']):,} samples already take about {_gib(box['used'])}, "
            f"over the {_gib(budget)} budget; stopped there",
            hint="yield fewer or smaller samples, or raise HWQUANT_MAX_DATA_MEMORY_BYTES",
        )
    if "error" in box:
        exc = box["error"]
        if isinstance(exc, KeyboardInterrupt):
            raise exc
        hint = "fix the data function (hwquant -v shows its traceback)"
        if isinstance(exc, MemoryError):  # the estimate of what it had yielded when memory ran out
            hint = (
                f"it had yielded {len(box['items']):,} samples, about {_gib(box.get('used', 0))} "
                f"(budget {_gib(budget)}): yield fewer or smaller samples"
            )
        raise UserCodeError(f"{spec}()", exc, hint=hint) from exc
    items: list[Any] = box["items"]
    return items


def _item_bytes(item: Any) -> int:
    """Bytes of the arrays in one yielded item, without converting anything (0 for what is not an array)."""
    if isinstance(item, np.ndarray):
        return int(item.nbytes)
    if isinstance(item, dict):
        return sum(_item_bytes(v) for v in list(item.values())[:64])
    if isinstance(item, (list, tuple)):
        return sum(_item_bytes(v) for v in list(item)[:64])
    nbytes = getattr(item, "nbytes", 0)
    return int(nbytes) if isinstance(nbytes, (int, np.integer)) else 0


def _callable(spec: str, facts: ModelFacts) -> DataSet:
    fn = _import_source(spec)
    if not callable(fn):
        raise InputError(f"{spec} is a {type(fn).__name__}, not a function", hint="name a function that yields samples")
    produced = _consume(spec, fn, facts)
    samples = [_normalize(item, facts, spec, i) for i, item in enumerate(produced)]
    if not samples:
        raise InputError(f"{spec}() yielded no samples")
    digest = _digest(*[a for _, d in samples for a in d.values()])
    return DataSet(samples, spec, "callable", digest)


def _normalize(item: Any, facts: ModelFacts, spec: str, i: int) -> Sample:
    """One yielded item in any of the guide's forms -> (signature_key, {name: array})."""
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) and isinstance(item[1], dict):
        key, d = item
        if key not in {s.key for s in facts.signatures}:
            raise InputError(
                f"{spec}: sample {i} names signature {key!r}, which the model lacks",
                hint="signatures: " + ", ".join(s.key for s in facts.signatures),
            )
        sig = facts.signature(key)
    elif isinstance(item, dict):
        if facts.multi_signature:
            raise InputError(
                f"{spec}: sample {i} is a dict but the model has several signatures",
                hint="yield (signature_key, {input_name: array}) pairs",
            )
        sig, d = facts.signatures[0], item
    elif isinstance(item, (list, tuple, np.ndarray)):
        sig = facts.signatures[0]
        arrays = [item] if isinstance(item, np.ndarray) else list(item)
        if facts.multi_signature or len(arrays) != len(sig.inputs):
            raise InputError(
                f"{spec}: sample {i} has {len(arrays)} tensors, the model takes {len(sig.inputs)}",
                hint="yield a list with one array per input, in input order",
            )
        d = {t.name: a for t, a in zip(sig.inputs, arrays)}
    else:
        raise InputError(
            f"{spec}: sample {i} is a {type(item).__name__}",
            hint="yield a list of arrays, a dict keyed by input name, or (signature_key, dict)",
        )
    out = {}
    for name, a in d.items():
        try:
            a = np.asarray(a)
        except (ValueError, TypeError) as exc:  # ragged (inhomogeneous) lists, objects numpy cannot convert
            raise InputError(
                f"{spec}: sample {i} input {name!r} is not an array ({first_line(exc, 200)})",
                hint="yield numpy arrays of the input's shape, or equal-length nested lists",
            ) from None
        if a.dtype == object:
            raise InputError(f"{spec}: sample {i} input {name!r} holds Python objects, not numbers")
        t = sig.input(name)
        if t is not None and a.ndim == len(t.shape) - 1:
            a = a[None]  # the guide's samples carry a batch of 1; accept them without it too
        out[name] = a
    return sig.key, out


def validate(ds: DataSet, facts: ModelFacts) -> None:
    """Every sample: known inputs, matching shape and dtype, finite values."""
    for i, (key, d) in enumerate(ds.samples):
        sig: SignatureSpec = facts.signature(key)
        expected = {t.name for t in sig.inputs}
        if set(d) != expected:
            raise InputError(
                f"{ds.source}: sample {i} has inputs {sorted(d)}, signature {key!r} takes {sorted(expected)}",
                hint=_keys_hint(facts),
            )
        for t in sig.inputs:
            a = d[t.name]
            want = tuple(1 if (j == 0 and s < 0) else s for j, s in enumerate(t.shape))
            if len(a.shape) != len(want) or any(s >= 0 and s != g for s, g in zip(want, a.shape)):
                array = ds.arrays.get(t.name, t.name)  # what the file calls it
                fed = f"array {array!r} (for input {t.name!r})" if array != t.name else f"input {t.name!r}"
                raise InputError(
                    f"{ds.source}: sample {i} {fed} has shape {tuple(a.shape)}, the model expects {want}",
                    hint=f"each sample of array {array!r} must be {_fmt(t.shape)} stacked on the first axis",
                )
            if a.dtype != np.dtype(t.dtype):
                if a.dtype == np.float64 and t.dtype == "float32":
                    d[t.name] = a = a.astype(np.float32)
                    if "float64 data cast to float32" not in ds.warnings:
                        ds.warnings.append("float64 data cast to float32")
                else:
                    hint = (
                        "normalize it to float32 as the model's training did (e.g. pixels / 255.0)"
                        if a.dtype.kind in "ui" and t.dtype.startswith("float")
                        else f"convert it to {t.dtype}"
                    )
                    raise InputError(
                        f"{ds.source}: sample {i} input {t.name!r} is {a.dtype}, the model expects {t.dtype}", hint=hint
                    )
            if a.dtype.kind == "f" and not np.isfinite(a).all():
                bad = "NaN" if np.isnan(a).any() else "inf"
                raise InputError(
                    f"{ds.source}: sample {i} input {t.name!r} contains {bad}",
                    hint="remove or repair non-finite samples before calibration",
                )


def split(calib: DataSet, eval_ds: DataSet | None, options: BuildOptions) -> tuple[DataSet, DataSet]:
    """Calibration and held-out evaluation sets. With --eval-data, all of --data calibrates."""
    if eval_ds is not None:  # the user chose the evaluation set: use all of it
        return calib, eval_ds
    n = len(calib)
    if n < 2:
        warnings.warn("one sample only: it is used for calibration and verification", stacklevel=2)
        return calib, calib
    n_eval = round(n * options.eval_fraction)
    if options.eval_fraction == DEFAULT_EVAL_FRACTION:
        # the default split holds back at least MIN_EVAL when the data allow (calibration keeps
        # MIN_RECOMMENDED): on fewer samples one disagreement moves top-1 agreement by more than the
        # default budget's margin
        n_eval = max(n_eval, min(MIN_EVAL, n - MIN_RECOMMENDED))
    n_eval = max(1, min(options.max_eval_samples, n_eval))
    order = np.random.default_rng(options.seed).permutation(n)
    held, rest = sorted(order[:n_eval].tolist()), sorted(order[n_eval:].tolist())
    if not rest:  # calibrating on nothing would silently give a float model
        raise InputError(
            f"--eval-fraction {options.eval_fraction} holds back all {n} samples of {calib.source} for "
            "verification, leaving none to calibrate",
            hint="lower --eval-fraction (default 0.2) or pass --eval-data for verification",
        )
    calibration, held_out = calib.subset(rest, "calibration"), calib.subset(held, "held out")
    if n_eval < MIN_EVAL:
        calibration.warnings.append(
            f"only {n_eval} eval samples held back from {calib.source}; fidelity measures on fewer than "
            f"{MIN_EVAL} samples have wide intervals: pass --eval-data with {MIN_EVAL} or more samples"
        )
    return calibration, held_out
