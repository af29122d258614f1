"""Backend options: declared once on the backend, namespaced by the backend's name.

A backend declares ``BackendOption("board", ...)``; the command line offers it as
``--mcu-board`` (``--<backend>-<option>``), a manifest as ``board = ...`` inside a table whose
backend is ``mcu``, and the Python API as ``backend_options={"board": ...}`` (one target) or
``backend_options={"mcu": {"board": ...}}`` (several). One backend's option is therefore never
parsed with another's choices. ``parse`` validates the values against the declarations and
fills every default, so a backend reads ``ctx.opt("board")`` and never repeats a default.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hwquant.common.errors import UsageError


@dataclass(frozen=True)
class BackendOption:
    """An option a backend adds to ``hwquant build`` (as ``--<backend>-<name>``) and to the manifest."""

    name: str  # dashed, e.g. "arena-margin"
    help: str
    type: type = str  # str, int, float or bool (a flag)
    default: Any = None  # the one place a default is written; bool options default to False
    choices: tuple[str, ...] = ()
    multiple: bool = False
    minimum: float | None = None  # int/float options: the smallest value accepted (checked before loading)
    maximum: float | None = None  # int/float options: the largest value accepted (every number must be finite
    # and an int within 64 bits even without one)

    @property
    def key(self) -> str:
        return self.name.replace("-", "_")

    def flag(self, backend: str) -> str:
        """The command-line flag: ``--<backend>-<name>``."""
        return f"--{backend}-{self.name}"

    def default_value(self) -> Any:
        if self.multiple:
            return tuple(self.default or ())
        if self.type is bool:
            return bool(self.default)
        return self.default


def _num(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"


def _convert(backend: str, o: BackendOption, value: Any) -> Any:
    where = f"{o.flag(backend)} ({backend} option {o.name!r})"
    if o.multiple:
        items = value if isinstance(value, (list, tuple)) else [value]
        return tuple(
            _convert(
                backend, BackendOption(o.name, o.help, o.type, None, o.choices, minimum=o.minimum, maximum=o.maximum), v
            )
            for v in items
        )
    if o.type is bool:
        if not isinstance(value, bool):
            raise UsageError(f"{where} takes true/false, got {value!r}")
        return value
    if o.type in (int, float) and isinstance(value, str):
        try:
            value = o.type(value)
        except ValueError:
            raise UsageError(f"{where} takes {o.type.__name__}, got {value!r}") from None
    if o.type is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, o.type):
        raise UsageError(f"{where} takes {o.type.__name__}, got {type(value).__name__} {value!r}")
    if o.choices and value not in o.choices:
        raise UsageError(f"{where}: {value!r} is not one of {', '.join(o.choices)}")
    if o.minimum is not None and isinstance(value, (int, float)) and not value >= o.minimum:  # NaN fails too
        raise UsageError(f"{where} must be at least {_num(o.minimum)}, got {value!r}")
    if o.maximum is not None and isinstance(value, (int, float)) and not value <= o.maximum:
        raise UsageError(f"{where} must be at most {_num(o.maximum)}, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise UsageError(f"{where} must be a finite number, got {value!r}")
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        raise UsageError(f"{where}: {value} is too large a number", hint="tools take 64-bit integers at most")
    return value


def parse(backend: str, declared: Iterable[BackendOption], given: dict[str, Any]) -> dict[str, Any]:
    """Values for ``backend``'s declared options (keyed by ``option.key``), defaults filled in.

    Unknown names, wrong types and values outside ``choices`` are UsageErrors naming the backend.
    """
    by_key = {o.key: o for o in declared}
    out = {}
    for name, value in given.items():
        o = by_key.get(str(name).replace("-", "_"))
        if o is None:
            raise UsageError(
                f"target {backend!r} has no option {name!r}",
                hint=f"{backend} options: {', '.join(o.name for o in declared) or 'none'}",
            )
        if value is not None:
            out[o.key] = _convert(backend, o, value)
    return {k: out.get(k, o.default_value()) for k, o in by_key.items()}


def split(given: dict[str, Any], backends: list[str], known: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Per-backend raw options from what the user gave.

    ``given`` is either namespaced (``{"mcu": {"board": ...}}``, the form the CLI builds) or,
    for a build of one backend, flat (``{"board": ...}``). Options for a backend that is not
    being built are an error: they would be silently ignored otherwise.
    """
    known = set(known)
    namespaced = {k: v for k, v in given.items() if isinstance(v, dict) and k in known}
    flat = {k: v for k, v in given.items() if k not in namespaced}
    if flat and len(set(backends)) != 1:
        raise UsageError(
            f"backend options {', '.join(sorted(flat))} given for several targets "
            f"({', '.join(backends)}): name the backend",
            hint='pass backend_options={"<backend>": {...}} (on the command line: --<backend>-<option>)',
        )
    stray = [b for b, v in namespaced.items() if v and b not in backends]
    if stray:
        raise UsageError(
            f"options for {', '.join(stray)} given, but no target being built uses that backend",
            hint=f"targets being built use: {', '.join(dict.fromkeys(backends))}",
        )
    out = {b: dict(namespaced.get(b, {})) for b in backends}
    for b in backends:
        out[b].update(flat)
    return out
