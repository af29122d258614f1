"""Static input shapes: every target needs them, ``--input-shape NAME=1x96x96x3`` gives them.

The TFLite converter plans every buffer and kernel for one size. A model whose input has a
dynamic dimension other than the batch (``keras.Input((None, None, 3))``, a sequence of any
length) converts to a graph that fails late and obscurely: TFLM cannot size its arena
("BytesRequired number of elements overflowed"), XNNPACK cannot plan a reshape, recurrent
layers cannot be fused or unrolled. So the loader fixes the batch to 1 and every other dynamic
dimension to the size ``--input-shape`` gives, and refuses (exit 2, before anything converts) a
dynamic dimension nobody sized, naming the input, the dimension and the option.

No TensorFlow here: the CLI checks the option's syntax before anything loads.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from hwquant.common.errors import InputError, UsageError

OPTION = "--input-shape"
_SPEC = re.compile(r"(?:(?P<name>[^=\s]+)=)?(?P<dims>[0-9]+(?:x[0-9]+)*)", re.ASCII)
MAX_DIM = 1 << 20  # no edge model has a dimension of a million


def parse(given: Iterable[str]) -> dict[str | None, tuple[int, ...]]:
    """``NAME=1x96x96x3`` (or ``1x96x96x3`` for a model's only input) -> {NAME or None: dims}."""
    out: dict[str | None, tuple[int, ...]] = {}
    for spec in given:
        m = _SPEC.fullmatch(str(spec).strip())
        if not m:
            raise UsageError(
                f"{OPTION} {spec!r} is not NAME=DIMS",
                hint=f"e.g. {OPTION} image=1x96x96x3 (the batch first, dimensions joined by x)",
            )
        dims = tuple(int(d) for d in m["dims"].split("x"))
        if any(d < 1 or d > MAX_DIM for d in dims):
            raise UsageError(f"{OPTION} {spec!r}: every dimension must be from 1 to {MAX_DIM}")
        if dims[0] != 1 and len(dims) > 1:
            raise UsageError(
                f"{OPTION} {spec!r}: the batch (first) dimension must be 1", hint="hwquant builds for batch 1"
            )
        if m["name"] in out:
            raise UsageError(f"{OPTION} names {m['name'] or 'the input'} twice")
        out[m["name"]] = dims
    if None in out and len(out) > 1:
        raise UsageError(f"{OPTION} without a NAME= is for a model with one input; name each input")
    return out


def check_names(given: dict[str | None, tuple[int, ...]], names: Sequence[str]) -> None:
    """Every named ``--input-shape`` is one of the model's inputs (exit 2 naming them otherwise)."""
    if None in given and len(names) != 1:
        raise InputError(
            f"{OPTION} without a NAME= is for a model with one input; this one has {len(names)}: " + ", ".join(names),
            hint=f"name each input: {OPTION} {names[0]}=...",
        )
    unknown = [n for n in given if n is not None and n not in names]
    if unknown:
        raise InputError(
            f"{OPTION} names no input of the model: {', '.join(unknown)} (inputs: {', '.join(names)})",
            hint=f"use the model's input names, e.g. {OPTION} {names[0]}=...",
        )


def static(
    name: str,
    dims: Sequence[int | None],
    given: dict[str | None, tuple[int, ...]],
    only: bool,
    why: str = "",
    keras: bool = True,
) -> list[int]:
    """The static shape of input ``name`` (batch 1): its dynamic dimensions from ``given``, else exit 2.

    ``only``: the model has one input (``--input-shape`` may omit the name). ``why``: what needs the
    static size, said in the error (e.g. "the recurrent layers (GRU gru) ..."). ``keras``: the hint
    names the Keras fix (else a SavedModel's: a signature with a fixed TensorSpec)."""
    dims = list(dims)
    want = given.get(name, given.get(None) if only else None)
    if want is not None:
        if len(want) != len(dims):
            raise InputError(
                f"{OPTION} gives input {name!r} {len(want)} dimensions ({_x(want)}); it has {len(dims)} ({_shape(dims)})",
                hint=f"e.g. {OPTION} {name}={_x(example(dims))}",
            )
        clash = [i for i, (d, w) in enumerate(zip(dims, want, strict=True)) if i and d is not None and d != w]
        if clash:
            raise InputError(
                f"{OPTION} {name}={_x(want)} changes dimension {clash[0]} of input {name!r}, which the model "
                f"fixes to {dims[clash[0]]} ({_shape(dims)})",
                hint=f"size only its dynamic dimensions: {OPTION} {name}={_x(example(dims, want))}",
            )
        return [1, *want[1:]]
    dynamic = [i for i in range(1, len(dims)) if dims[i] is None]
    if dynamic:
        what = " and ".join(f"{i} ({role(dims, i)})" for i in dynamic)
        raise InputError(
            f"input {name!r} has a dynamic {_roles(dims, dynamic)} (shape {_shape(dims)}: dimension"
            f"{'s' if len(dynamic) > 1 else ''} {what} {'are' if len(dynamic) > 1 else 'is'} None); "
            + (why or "every target needs static shapes (the converter plans each buffer and kernel for one size)"),
            hint=f"pass the size you deploy: {OPTION} {name}={_x(example(dims))} ("
            + (
                f"or rebuild the model with keras.Input({tuple(example(dims)[1:])}) and copy the weights)"
                if keras
                else f"or export the SavedModel with a signature of tf.TensorSpec({example(dims)}))"
            ),
        )
    return [1 if d is None else int(d) for d in dims[:1]] + [int(d) for d in dims[1:]]  # type: ignore[arg-type]


def role(dims: Sequence[int | None], i: int) -> str:
    """What dimension ``i`` of a batch-first input most likely is (channels last)."""
    if len(dims) == 4:
        return {1: "height", 2: "width", 3: "channels"}[i]
    if len(dims) == 3:
        return {1: "sequence length", 2: "features"}[i]
    return "size"


def _roles(dims: Sequence[int | None], dynamic: list[int]) -> str:
    names = [role(dims, i) for i in dynamic]
    return " and ".join(dict.fromkeys(names)) if names != ["size"] * len(names) else "size"


def example(dims: Sequence[int | None], want: Sequence[int] | None = None) -> list[int]:
    """A static shape to show in a hint: the model's fixed sizes, ``want``'s or a typical size elsewhere."""
    typical = {4: 96, 3: 49}.get(len(dims), 16)
    out = [1]
    for i in range(1, len(dims)):
        d = dims[i]
        out.append(int(d) if d is not None else (int(want[i]) if want is not None else typical))
    return out


def _x(dims: Sequence[int]) -> str:
    return "x".join(str(d) for d in dims)


def _shape(dims: Sequence[int | None]) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in dims) + ")"
