"""The Backend base class and the declarative op-support machinery backends use.

A backend declares, as data, which builtin ops it supports for which dtypes, plus
constraints: functions ``(op) -> (ok, reason)`` whose docstring states the rule. The op
table that ``hwquant targets NAME --ops`` prints is generated from those docstrings.
"""

from __future__ import annotations

import inspect
import shutil
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from hwquant.common.errors import ToolchainError, UsageError
from hwquant.device.tflite_model import Op, TfliteModel
from hwquant.plugin.facts import BuildOptions, ModelFacts
from hwquant.plugin.options import BackendOption
from hwquant.plugin.recipe import Recipe, preset

Constraint = Callable[[Op], "tuple[bool, str]"]


def rule(fn: Constraint) -> str:
    """The rule a constraint enforces: the first paragraph of its docstring."""
    doc = inspect.getdoc(fn) or fn.__name__
    return doc.split("\n\n")[0].replace("\n", " ")


@dataclass
class OpSupport:
    """Which ops a piece of hardware runs, for which dtypes, under which constraints.

    ``ops`` maps a builtin op name to the compute dtypes it supports. ``generic`` constraints
    apply to every op; ``specific`` ones to a single op name.
    """

    ops: dict[str, frozenset[str]]
    generic: list[Constraint] = field(default_factory=list)
    specific: dict[str, list[Constraint]] = field(default_factory=dict)
    ignore: frozenset[str] = frozenset()  # ops that need no kernel (never reported as unsupported)

    def check_op(self, op: Op) -> tuple[bool, list[str]]:
        """(supported, reasons it is not). An op is supported when every rule holds."""
        if op.name in self.ignore:
            return True, []
        if op.name not in self.ops:
            return False, [f"{op.name} is not in this target's supported operations"]
        reasons = []
        if op.dtype not in self.ops[op.name]:
            reasons.append(
                f"{op.name} has no {op.dtype} kernel here (supported: {', '.join(sorted(self.ops[op.name]))})"
            )
        for c in [*self.generic, *self.specific.get(op.name, [])]:
            ok, why = c(op)
            if not ok:
                reasons.append(why)
        return not reasons, reasons

    def table(self) -> list[dict[str, Any]]:
        """One row per supported op: dtypes and the rules (from docstrings) that apply."""
        return [
            {"op": name, "dtypes": sorted(dtypes), "constraints": [rule(c) for c in self.specific.get(name, [])]}
            for name, dtypes in sorted(self.ops.items())
        ]

    def generic_rules(self) -> list[str]:
        return [rule(c) for c in self.generic]


@dataclass
class OpVerdict:
    index: int
    subgraph: int
    op: str
    dtype: str
    placement: str  # "target" (runs on the target), "fallback" (runs elsewhere, e.g. CPU), "unsupported"
    status: str  # human status string, e.g. "Mapped to Edge TPU"
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class OpReport:
    """Per-op result of ``Backend.check``: what runs where, and why."""

    target: str
    verdicts: list[OpVerdict]
    notes: list[str] = field(default_factory=list)

    def counts(self) -> Counter:
        return Counter(v.placement for v in self.verdicts)

    @property
    def unsupported(self) -> list[OpVerdict]:
        return [v for v in self.verdicts if v.placement == "unsupported"]

    def table(self) -> list[dict[str, Any]]:
        """Rows like the Edge TPU compiler's: Operator, Count, Status, with the reasons."""
        rows: dict[tuple[str, str, str], dict[str, Any]] = {}
        for v in self.verdicts:
            key = (v.op, v.dtype, v.status)
            row = rows.setdefault(
                key,
                {
                    "operator": v.op,
                    "dtype": v.dtype,
                    "count": 0,
                    "status": v.status,
                    "placement": v.placement,
                    "reasons": [],
                },
            )
            row["count"] += 1
            for r in v.reasons:
                if r not in row["reasons"]:
                    row["reasons"].append(r)
        return list(rows.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "counts": dict(self.counts()),
            "table": self.table(),
            "ops": [v.to_dict() for v in self.verdicts],
            "notes": list(self.notes),
        }


@dataclass
class ToolchainStatus:
    available: bool
    detail: str


@dataclass
class BuildContext:
    """What the package and verify stages of a backend get: plain data and paths."""

    options: BuildOptions
    facts: ModelFacts
    recipe: Recipe
    artifact: bytes  # the converted model
    float_model: bytes  # the float32 reference model
    model: TfliteModel  # the parsed artifact
    calibration: Any  # hwquant.data.DataSet used for calibration (or None)
    evaluation: Any  # hwquant.data.DataSet held out for verification
    out_dir: Path  # temporary target folder; moved into place after success
    op_report: OpReport | None = None
    report: dict[str, Any] = field(default_factory=dict)  # the backend's own section of report.json
    log: Callable[[str], None] = print

    def opt(self, key: str, default: Any = None) -> Any:
        """This backend's option ``key`` (dashes or underscores); its declared default when not given."""
        v = self.options.backend_options.get(key.replace("-", "_"))
        return default if v is None else v


@dataclass
class PackageResult:
    """What ``package`` made: its files, its free-form report section, and the measures gates read.

    The measures are declared fields (report.json's typed ``measures`` section, read by
    ``--max-arena``, ``--min-est-fps`` and ``hwquant check``); set those your target knows, leave
    the others None. Keys in ``report`` are never searched for measures."""

    files: list[str] = field(default_factory=list)  # relative to the target folder
    report: dict[str, Any] = field(default_factory=dict)
    deployed_bytes: int | None = None  # what goes on the device when it is not the converted model (ethos-u)
    tensor_arena_bytes: int | None = None  # the arena the device runtime needs, with its margin (mcu, ethos-u)
    flash_bytes: int | None = None  # flash footprint: model, runtime, allowance
    ram_bytes: int | None = None  # RAM footprint: arena, stack, allowance
    estimated_inferences_per_second: float | None = None  # an estimate (ethos-u: Vela's), never a measurement
    compiled_bytes: int | None = None  # the compiled model (edgetpu, ethos-u)


class Backend:
    """Base class of every backend. Subclass, set the class attributes, override as needed."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    recipe_rule: ClassVar[str] = ""  # one line: how the recipe is chosen
    allowed_recipes: ClassVar[tuple[str, ...]] = ()
    default_io_dtype: ClassVar[str | None] = None
    weight_dtypes: ClassVar[tuple[str, ...]] = ()
    activation_dtypes: ClassVar[tuple[str, ...]] = ()
    io_dtypes: ClassVar[tuple[str, ...]] = ()
    options: ClassVar[tuple[BackendOption, ...]] = ()
    support: ClassVar[OpSupport | None] = None
    artifact_name: ClassVar[str] = "model.tflite"
    tools: ClassVar[tuple[str, ...]] = ()  # executables the packaging step needs (for `targets`)

    # -- recipe ------------------------------------------------------------------------------
    def default_recipe(self, facts: ModelFacts, options: BuildOptions) -> tuple[str, list[str]]:
        """The recipe name chosen when the user names none, with the reasons."""
        raise NotImplementedError

    def choose_recipe(self, facts: ModelFacts, options: BuildOptions) -> tuple[Recipe, list[str]]:
        """Resolve the recipe: the user's choice if this target allows it, else the default rule."""
        if options.recipe:
            name, reasons = options.recipe, [f"recipe {options.recipe!r} requested with --recipe"]
            recipe = preset(name)  # raises on an unknown name
            if name not in self.allowed_recipes:
                raise self.refused(name)
        else:
            name, reasons = self.default_recipe(facts, options)
            if name not in self.allowed_recipes:
                from hwquant.plugin.manager import registry

                raise ToolchainError(
                    f"backend {self.name!r} (plugin {registry().plugin_of(type(self))}, class "
                    f"{type(self).__qualname__}) chose default "
                    f"recipe {name!r}, which is not in its allowed_recipes ({', '.join(self.allowed_recipes)})",
                    hint="a bug in that plugin: report it to its authors, or pass --recipe with an allowed one",
                )
            recipe = preset(name)
        io = options.io_dtype or (self.default_io_dtype if recipe.io_dtype != "float32" else None)
        if io and self.io_dtypes and io not in self.io_dtypes:
            raise UsageError(
                f"target {self.name!r} does not take {io} inputs/outputs",
                hint=f"choose --io-dtype from: {', '.join(self.io_dtypes)}",
            )
        recipe = recipe.with_io(io)
        if options.io_dtype:
            reasons.append(f"IO dtype {options.io_dtype} requested with --io-dtype")
        if recipe.needs_data and not options.has_data:
            raise self.missing_data_error(recipe)
        return recipe, reasons

    def refused(self, name: str) -> UsageError:
        why = self.recipe_refusal(name)
        return UsageError(
            f"target {self.name!r} does not allow recipe {name!r}" + (f": {why}" if why else ""),
            hint=f"{self.name} allows: {', '.join(self.allowed_recipes)}",
        )

    def recipe_refusal(self, name: str) -> str:
        """Why this target refuses recipe ``name`` (shown with the error); empty when there is no reason to add."""
        return ""

    def missing_data_error(self, recipe: Recipe):
        from hwquant.common.errors import InputError

        return InputError(
            f"recipe {recipe.name!r} needs representative data to calibrate activation ranges",
            hint="pass --data FILE.npz|FILE.npy|IMAGE_DIR|module:function (or random:N for a smoke test)",
        )

    # -- op checks ---------------------------------------------------------------------------
    def check(self, model: TfliteModel, options: BuildOptions | None = None) -> OpReport:
        """Per-op report: supported on this target, falls back, or unsupported, with reasons.

        ``options`` carries the build's backend options (e.g. compiler flags that change the mapping).
        """
        verdicts = []
        for op in model.ops:
            if self.support is None:
                verdicts.append(OpVerdict(op.index, op.subgraph, op.name, op.dtype, "target", "supported"))
                continue
            ok, reasons = self.support.check_op(op)
            placement = "target" if ok else "unsupported"
            verdicts.append(
                OpVerdict(
                    op.index, op.subgraph, op.name, op.dtype, placement, "supported" if ok else "unsupported", reasons
                )
            )
        return OpReport(self.name, verdicts)

    # -- stages after conversion ---------------------------------------------------------------
    def candidate_report(self, artifact: bytes, options: BuildOptions) -> dict[str, Any]:
        """What this target measures of a recipe-search candidate beyond size, fidelity and host
        latency (mcu: the tensor arena); recorded with the candidate in report.json's ``search``."""
        return {}

    def verify(self, ctx: BuildContext) -> dict[str, Any]:
        """Target-specific verification beyond the core LiteRT check (e.g. TFLM). Returns report data."""
        return {}

    def package(self, ctx: BuildContext) -> PackageResult:
        """Write target files into ``ctx.out_dir`` (the core has written ``model.tflite``)."""
        return PackageResult()

    # -- build cache ---------------------------------------------------------------------------
    def own_options(self, options: BuildOptions) -> dict[str, Any]:
        """The values given for the options this backend declares (others' options are not its)."""
        declared = {o.key for o in self.options}
        return {k: v for k, v in sorted(options.backend_options.items()) if k in declared}

    def cache_key_extras(self, options: BuildOptions) -> dict[str, Any]:
        """What, besides the model, the data, the recipe request and the build options, can change
        this target's output: JSON-able data hashed into its cache key.

        The default holds the values of the options this backend declares and its toolchain's
        description. Override to add what identifies the tools the output depends on (a library
        version, a compiler image ID, the content of a file an option names); call super().
        """
        return {"options": self.own_options(options), "toolchain": self.toolchain().detail}

    # -- description ---------------------------------------------------------------------------
    def toolchain(self) -> ToolchainStatus:
        """Whether the tools packaging needs are available on this machine."""
        missing = [t for t in self.tools if shutil.which(t) is None]
        if missing:
            return ToolchainStatus(False, f"missing: {', '.join(missing)}")
        return ToolchainStatus(True, "nothing extra needed" if not self.tools else "found: " + ", ".join(self.tools))

    def describe(self) -> dict[str, Any]:
        tc = self.toolchain()
        return {
            "name": self.name,
            "description": self.description,
            "recipe_rule": self.recipe_rule,
            "recipes": list(self.allowed_recipes),
            "weights": list(self.weight_dtypes),
            "activations": list(self.activation_dtypes),
            "io": list(self.io_dtypes),
            "toolchain": {"available": tc.available, "detail": tc.detail},
            "options": [o.name for o in self.options],
        }

    def op_table(self) -> dict[str, Any]:
        if self.support is None:
            return {"generic": [], "ops": []}
        return {"generic": self.support.generic_rules(), "ops": self.support.table()}


def dtypes(*names: str) -> frozenset[str]:
    return frozenset(names)


def iter_constraints(support: OpSupport) -> Iterable[Constraint]:
    yield from support.generic
    for cs in support.specific.values():
        yield from cs
