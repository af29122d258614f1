"""Parameters generated from declarations: the gate flags (from the gate table) and each backend's
``--<backend>-<option>`` flags (from its BackendOption declarations)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

import click

from hwquant.report.gates import GATES, Gate

F = TypeVar("F", bound=Callable[..., Any])


def gate_options(fn: F, table: tuple[Gate, ...] = GATES) -> F:
    """One flag per gate of ``table`` (build, check and plan share them); a failed gate exits with code 5."""
    for g in reversed(table):
        fn = click.option(g.flag, g.key, type=g.cli_type, help=g.help)(fn)
    return fn


def pop_gates(params: dict[str, Any], table: tuple[Gate, ...] = GATES) -> dict[str, Any]:
    """The gate flags' values taken out of a command's parameters, by gate key."""
    return {g.key: params.pop(g.key, None) for g in table}


class FiniteFloat(click.ParamType[float]):
    """A finite number within [lo, hi] (``lo_open``: above lo): NaN and inf are refused, which click's
    FloatRange lets through (every comparison with NaN is false)."""

    name = "number"

    def __init__(self, lo: float, hi: float, lo_open: bool = False) -> None:
        self.lo, self.hi, self.lo_open = lo, hi, lo_open

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            v = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        low_ok = v > self.lo if self.lo_open else v >= self.lo
        if not (math.isfinite(v) and low_ok and v <= self.hi):
            self.fail(
                f"{value!r} is not a number in {'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}]", param, ctx
            )
        return v


SEED = click.IntRange(0, 2**63 - 1)  # numpy's generators take no negative seed


def parse_size(value: str | None) -> tuple[int, int] | None:
    if not value:
        return None
    try:
        h, w = value.lower().replace(",", "x").split("x")
        return int(h), int(w)
    except ValueError:
        raise click.BadParameter("expected HxW, e.g. 224x224") from None


def floats(value: str | None) -> tuple[float, ...] | None:
    if value is None:
        return None
    try:
        return tuple(float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter("expected comma-separated numbers, e.g. 127.5 or 0.485,0.456,0.406") from None


BACKEND_OPT = "backend_opt_"  # parameter names of the backend flags; _FLAGS maps them to (backend, key)
_FLAGS: dict[str, tuple[str, str]] = {}


def backend_options() -> list[click.Option]:
    """Each backend's declared options become `hwquant build --<backend>-<option>` flags."""
    from hwquant.cli.shared import registry
    from hwquant.common.errors import HwquantError

    try:
        backends = registry().all()
    except HwquantError:  # not installed: `build --help` still works; a build says how to install
        return []
    params = []
    for b in backends:
        for o in b.backend_options:
            flag = o.flag(b.name)
            kw: dict[str, Any] = {
                "help": f"[{b.name}] {o.help}" + (f" [default: {o.default}]" if o.default not in (None, False) else ""),
                "default": None,
                "multiple": o.multiple,
            }
            dest = f"{BACKEND_OPT}{len(_FLAGS)}"
            _FLAGS[dest] = (b.name, o.key)
            if o.type is bool:
                params.append(click.Option([f"{flag}/--no-{flag[2:]}", dest], **kw))
                continue
            kw["type"] = click.Choice(o.choices) if o.choices else o.type
            params.append(click.Option([flag, dest], **kw))
    return params


def pop_backend_options(params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{backend: {option key: value}} from the backend flags given, taken out of ``params``."""
    out: dict[str, dict[str, Any]] = {}
    for k in [k for k in params if k.startswith(BACKEND_OPT)]:
        v = params.pop(k)
        if v in (None, ()):
            continue
        backend, key = _FLAGS[k]
        out.setdefault(backend, {})[key] = v
    return out


class BuildCommand(click.Command):
    """A command whose backend flags are added when its parameters are first asked for."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self._extra_loaded = False

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        if not self._extra_loaded:
            self.params.extend(backend_options())
            self._extra_loaded = True
        return super().get_params(ctx)
