"""hwquant.toml: the model, its data and a table per target, so CI runs one line: `hwquant build`.

    model = "model.keras"          # paths are relative to the manifest
    data = "calibration.npz"
    eval_data = "eval.npz"
    out = "build"

    [targets.cpu]                  # table name = output folder; backend defaults to the name
    [targets.mcu-m4]
    backend = "mcu"
    recipe = "int8-only"
    io_dtype = "int8"
    board = "nucleo-f446re"        # the backend's options by name (on the command line: --mcu-board)

    [gates]                        # optional: the same limits as `hwquant build --max-size ...`
    max_size = "256KiB"

Unknown keys and wrong types are UsageErrors naming the file, the line and the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hwquant.common import toml
from hwquant.common.errors import UsageError
from hwquant.config import outpath
from hwquant.plugin.facts import OUTPUT_KINDS, BuildOptions
from hwquant.report import gates as gates_mod
from hwquant.report.gates import Gates

FILENAME = "hwquant.toml"
_NUM = (int, float)
# top-level key -> (accepted python types, what to write)
TOP = {
    "model": (str, "a path"),
    "data": (str, "a path or spec"),
    "eval_data": (str, "a path or spec"),
    "out": (str, "a folder"),
    "eval_fraction": (_NUM, "a number"),
    "max_eval_samples": (int, "an integer"),
    "max_samples": (int, "an integer"),
    "seed": (int, "an integer"),
    "image_size": ((str, list), '"HxW" or [h, w]'),
    "mean": ((*_NUM, list), "a number or a list of numbers"),
    "std": ((*_NUM, list), "a number or a list"),
    "scale": (_NUM, "a number"),
    "targets": (dict, "a table"),
    "gates": (dict, "a table"),
    "outputs": (dict, "a table of output name = kind"),
}
TARGET = {"backend": (str, "a backend name"), "recipe": (str, "a recipe name"), "io_dtype": (str, "a dtype")}


def gate_keys(table: tuple[gates_mod.Gate, ...] = gates_mod.GATES) -> dict[str, tuple[tuple[type, ...], str]]:
    """The [gates] keys: one per gate of the gate table, with the types and unit it accepts."""
    return {g.key: (g.manifest_types, g.unit) for g in table}


GATES = gate_keys()


@dataclass
class Manifest:
    path: Path
    base: BuildOptions
    targets: dict[str, tuple[str, BuildOptions]]  # folder name -> (backend name, options)
    gates: dict[str, Any] = field(default_factory=dict)


def _lines(text: str) -> dict[tuple[str, str], int]:
    """(table, key) -> line number, by scanning the text (tomllib keeps no positions)."""
    where, table = {}, ""
    for no, line in enumerate(text.splitlines(), 1):
        header = _header(line)
        if header is not None:
            table = header
            where.setdefault((table, ""), no)
            continue
        s = line.split("#", 1)[0].strip()
        m = re.match(r'"?([A-Za-z0-9_.-]+)"?\s*=', s)
        if m:
            key = m.group(1)
            full = f"{table}.{key}" if table else key
            parent, _, leaf = full.rpartition(".")
            where.setdefault((parent, leaf), no)
    return where


def _header(line: str) -> str | None:
    """The dotted name of a `[table]` header line as TOML reads it (quotes and escapes resolved)."""
    s = line.strip()
    if not s.startswith("[") or s.startswith("[["):
        return None
    try:
        node = toml.loads(s)
    except toml.TOMLDecodeError:
        m = re.fullmatch(r"\[\s*([^\]]+?)\s*\]", s.split("#", 1)[0].strip())
        return m.group(1).replace('"', "").replace(" ", "") if m else None
    parts = []
    while isinstance(node, dict) and len(node) == 1:
        key, node = next(iter(node.items()))
        parts.append(key)
    return ".".join(parts)


class _Checker:
    def __init__(self, path: Path, text: str):
        self.path, self.where = path, _lines(text)

    def fail(self, table: str, key: str, problem: str, hint: str | None = None):
        line = self.where.get((table, key)) or self.where.get((table, "")) or 1
        shown = f"{table}.{key}" if table and key else (table or key)
        raise UsageError(f"{self.path}:{line}: {shown}: {problem}", hint=hint)

    def check(self, table: str, data: dict[str, Any], schema: dict[str, tuple], extra: dict | None = None):
        for key, value in data.items():
            spec = schema.get(key) or (extra or {}).get(key)
            if spec is None:
                known = sorted({*schema, *(extra or {})})
                self.fail(table, key, "unknown key", hint="known keys here: " + ", ".join(known))
            types, what = spec
            if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
                self.fail(table, key, f"expected {what}, got true/false")
            if not isinstance(value, types):
                self.fail(table, key, f"expected {what}, got {type(value).__name__} {value!r}")


def _option_schema(backend) -> dict[str, tuple]:
    out = {}
    for o in backend.backend_options:
        t = (list,) if o.multiple else ((bool,) if o.type is bool else (_NUM if o.type is float else (o.type,)))
        what = "a list" if o.multiple else ("true/false" if o.type is bool else o.type.__name__)
        out[o.name] = out[o.key] = (t, what + (f" (one of {', '.join(o.choices)})" if o.choices else ""))
    return out


def _size(v):
    if isinstance(v, list):
        return tuple(int(x) for x in v)
    h, w = str(v).lower().replace(",", "x").split("x")
    return int(h), int(w)


def _floats(v):
    return tuple(float(x) for x in v) if isinstance(v, list) else (float(v),)


def load(path: Path) -> Manifest:
    """Read and validate a manifest; every error names file, line and key."""
    from hwquant.plugin.manager import registry

    path = Path(path)
    if not path.is_file():
        raise UsageError(
            f"no MODEL given and no {path} here", hint="pass MODEL, or write one with `hwquant init MODEL`"
        )
    text = toml.read_text(path, "manifest")
    try:
        doc = toml.loads(text)
    except toml.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None
    chk = _Checker(path, text)
    chk.check("", doc, TOP)
    if "model" not in doc:
        chk.fail("", "model", "missing", hint='add model = "path/to/model.keras"')
    targets = doc.get("targets") or {}
    if not targets:
        chk.fail("", "targets", "no [targets.NAME] table", hint="add e.g. [targets.cpu]")
    chk.check("gates", doc.get("gates", {}), GATES)
    for key, value in doc.get("gates", {}).items():
        try:
            Gates.of(**{key: value})
        except UsageError as exc:
            chk.fail("gates", key, exc.message, hint=exc.hint)
    for name in targets:
        why = outpath.name_problem(name)
        if why:
            chk.fail(
                f"targets.{name}",
                "",
                f"the table name is the output folder: {why}",
                hint="rename the table, e.g. [targets.cpu] or [targets.mcu-m4]",
            )
    root = path.parent
    rel = lambda v: str(v) if ":" in str(v) and not Path(str(v)).exists() else str(root / v)  # noqa: E731
    base = BuildOptions(model=root / doc["model"], out=root / doc.get("out", "build"))
    for key in ("data", "eval_data"):
        if key in doc:
            setattr(base, key, doc[key] if str(doc[key]).startswith("random:") else rel(doc[key]))
    why = outpath.out_problem(base.out, outpath.input_paths(base.model, base.data, base.eval_data), root)
    why = why or outpath.manifest_out_problem(base.out, root)  # a manifest's out stays in its tree (issue 20)
    if why:
        chk.fail("", "out", why, hint='write the build into its own folder, e.g. out = "build"')
    for key in ("eval_fraction", "max_eval_samples", "max_samples", "seed", "scale"):
        if key in doc:
            setattr(base, key, doc[key])
    for name, kind in (doc.get("outputs") or {}).items():  # [outputs] name = "kind" (as --output-kind)
        if kind not in OUTPUT_KINDS:
            chk.fail("outputs", name, f"expected one of {', '.join(OUTPUT_KINDS)}, got {kind!r}")
    base.output_kinds = tuple(f"{n}={k}" for n, k in (doc.get("outputs") or {}).items())
    if "image_size" in doc:
        try:
            base.image_size = _size(doc["image_size"])
        except ValueError:
            chk.fail("", "image_size", f"cannot read {doc['image_size']!r} as HxW")
    for key in ("mean", "std"):
        if key in doc:
            try:
                setattr(base, key, _floats(doc[key]))
            except (TypeError, ValueError):
                chk.fail("", key, f"expected a number or a list of numbers, got {doc[key]!r}")
    out: dict[str, tuple[str, BuildOptions]] = {}
    for name, table in targets.items():
        tname = f"targets.{name}"
        if not isinstance(table, dict):
            chk.fail("targets", name, "expected a table [targets.NAME]")
        backend_name = table.get("backend", name)
        if not isinstance(backend_name, str):
            chk.fail(tname, "backend", "expected a backend name")
        try:
            backend = registry().get(backend_name)
        except UsageError as exc:
            chk.fail(tname, "backend" if "backend" in table else "", str(exc.message), hint=exc.hint)
        chk.check(tname, table, TARGET, _option_schema(backend))
        opts = {k.replace("-", "_"): v for k, v in table.items() if k not in TARGET}
        out[name] = (
            backend_name,
            replace(
                base,
                target=backend_name,
                recipe=table.get("recipe"),
                io_dtype=table.get("io_dtype"),
                backend_options=opts,
            ),
        )
    return Manifest(path, base, out, dict(doc.get("gates", {})))


def starter(model: Path, backends) -> str:
    """A commented manifest for ``model`` naming every installed target (all but cpu commented out)."""
    lines = [
        "# hwquant.toml: `hwquant build` here builds every [targets.*] table below.",
        "# Paths are relative to this file. Command-line flags override what is written here.",
        f'model = "{model.as_posix()}"',
        '# data = "calibration.npz"     # representative data: .npz, .npy, image folder, module:function, random:N',
        '# eval_data = "eval.npz"       # held-out data for verification (default: 20% of data)',
        'out = "build"',
        "",
        "# [gates]                      # CI limits; a failed gate exits with code 5",
        '# max_size = "256KiB"',
        "# min_snr = 30.0",
        "",
        "# One table per target; the table name is the output folder (OUT/<name>/).",
        '# backend = "mcu" lets two tables use one backend with different options.',
    ]
    for b in backends:
        on = b.name == "cpu"
        p = "" if on else "# "
        lines += [
            "",
            f"{p}[targets.{b.name}]",
            f'# recipe = "{b.allowed_recipes[0] if b.allowed_recipes else ""}"   '
            f"# allowed: {', '.join(b.allowed_recipes)}",
            f'# io_dtype = "{(b.io_dtypes or ("float32",))[0]}"',
        ]
        for o in b.backend_options:
            val = (
                "true"
                if o.type is bool
                else (
                    o.default
                    if isinstance(o.default, (int, float)) and not isinstance(o.default, bool)
                    else f'"{o.default or ""}"'
                )
            )
            lines.append(f"# {o.name} = {val}   # {o.help}")
    return "\n".join(lines) + "\n"


def with_overrides(
    m: Manifest, base: dict[str, Any], select: str | None, per_target: dict[str, Any], backend_options: dict[str, Any]
) -> tuple[BuildOptions, dict[str, tuple[str, BuildOptions]]]:
    """The manifest's options with command-line values (only those given) put over them."""
    base_opts = replace(m.base, **base)
    if "out" in base:
        inputs = outpath.input_paths(base_opts.model, base_opts.data, base_opts.eval_data)
        why = outpath.out_problem(Path(base["out"]), inputs, m.path.parent)
        if why:
            raise UsageError(
                f"--out {base['out']}: {why}", hint="write the build into its own folder, e.g. --out build"
            )
    names = list(m.targets)
    if select:
        names = [n.strip() for n in select.split(",") if n.strip()]
        unknown = [n for n in names if n not in m.targets]
        if unknown:
            raise UsageError(
                f"{m.path} has no target table(s) {', '.join(unknown)}", hint="tables here: " + ", ".join(m.targets)
            )
    from hwquant.plugin.manager import registry
    from hwquant.plugin.options import split

    given = split(backend_options, [m.targets[n][0] for n in names], registry().names())
    targets = {}
    for n in names:
        backend, opts = m.targets[n]
        targets[n] = (
            backend,
            replace(opts, **base, **per_target, backend_options={**opts.backend_options, **given[backend]}),
        )
    return base_opts, targets
