"""MkDocs hook: the pages that are generated from the code at build time, never committed.

- ``reference/cli.md``: the click commands through mkdocs-click, found through the ``hwquant`` console
  script that pyproject.toml declares (so the page follows the entry point wherever it moves);
- ``reference/ops/<target>.md``: each backend's op table, as ``hwquant targets NAME --ops --json`` prints
  it (``Backend.describe()`` and ``Backend.op_table()`` of every backend the plugin registry loads, built-in
  or third-party), in the way Vela generates its SUPPORTED_OPS.md;
- ``reference/report-schema.md``: ``src/hwquant/report/report.schema.json`` (JSON Schema 2020-12) rendered
  as tables; the build fails, naming the file, when it is absent;
- ``benchmarks/results/<run>.md``: every ``benchmarks/results/<run>/results.md`` with its plots.

``HWQUANT_DOCS_SCHEMA`` names another schema file to render (the tests use it for a sample schema).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

SCHEMA = Path("src/hwquant/report/report.schema.json")
SCHEMA_ENV = "HWQUANT_DOCS_SCHEMA"


class DocsGenerationError(Exception):
    """A generated page cannot be written; the message names the file and the fix."""


# ---------------------------------------------------------------- markdown helpers


def _cell(text: Any) -> str:
    """One table cell or list item: no newlines, pipes escaped, ``<`` escaped outside code spans."""
    parts = " ".join(str(text).split()).replace("|", "\\|").split("`")
    return "`".join(p if i % 2 else p.replace("<", "&lt;") for i, p in enumerate(parts))


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")


# ---------------------------------------------------------------- CLI reference


def cli_page(repo: Path) -> str:
    """The CLI reference: mkdocs-click over the command the ``hwquant`` console script runs."""
    from hwquant.common import toml

    scripts = toml.loads((repo / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, command = scripts["hwquant"].partition(":")
    return "\n".join(
        [
            "# Command-line reference",
            "",
            "Generated from the click commands when the site is built "
            f"(`{module}:{command}`, the `hwquant` console script). Backend flags "
            "(`--<backend>-<option>`) are those of the backends installed where the site was built.",
            "",
            "::: mkdocs-click",
            f"    :module: {module}",
            f"    :command: {command}",
            "    :prog_name: hwquant",
            "    :depth: 1",
            "    :style: table",
            "    :list_subcommands: true",
            "",
        ]
    )


# ---------------------------------------------------------------- op tables


def ops_page(described: dict[str, Any], table: dict[str, Any]) -> str:
    """One target's op table: what ``hwquant targets NAME --ops --json`` prints, as a page."""
    name = described["name"]
    lines = [f"# {name}: supported operators", ""]
    lines += [
        f"Generated from the `{name}` backend's op table when the site was built "
        f"(the same data as `hwquant targets {name} --ops --json`).",
        "",
        _cell(described.get("description", "")),
        "",
    ]
    facts = [
        ("recipe rule", described.get("recipe_rule", "")),
        ("recipes", ", ".join(f"`{r}`" for r in described.get("recipes", []))),
        ("weights", ", ".join(described.get("weights", []))),
        ("activations", ", ".join(described.get("activations", []))),
        ("IO", ", ".join(described.get("io", []))),
        ("options", ", ".join(f"`--{name}-{o}`" for o in described.get("options", [])) or "none"),
    ]
    lines += [*_table(["", ""], [[k, _cell(v)] for k, v in facts]), ""]
    if table.get("generic"):
        lines += ["## Rules for every operator", ""]
        lines += [f"- {_cell(rule)}" for rule in table["generic"]] + [""]
    rows = table.get("ops", [])
    lines += ["## Operators", "", f"{len(rows)} operators."]
    if not rows:
        lines += ["", "This backend declares no op table: its toolchain decides op by op."]
    else:
        with_source = any(r.get("source") for r in rows)
        header = ["operator", "dtypes", "constraints"] + (["source"] if with_source else [])
        body = []
        for r in rows:
            cons = "<br>".join(f"- {_cell(c)}" for c in r.get("constraints", [])) or "-"
            row = [f"`{r['op']}`", _cell(", ".join(r.get("dtypes", [])) or "-"), cons]
            if with_source:
                row.append(_cell(r.get("source", "")))
            body.append(row)
        lines += ["", *_table(header, body)]
    if table.get("source"):
        lines += ["", f"Read from: {_cell(table['source'])}"]
    return "\n".join(lines) + "\n"


def _backends() -> list[Any]:
    from hwquant.plugin.manager import registry

    reg = registry()
    if reg.skipped:
        skipped = "; ".join(f"{n}: {why}" for n, why in reg.skipped)
        raise DocsGenerationError(f"plugins failed to load, their op tables would be missing: {skipped}")
    return reg.all()


def ops_pages() -> dict[str, str]:
    """{target name: page} for every backend the registry loads (built-in and installed plugins)."""
    return {b.name: ops_page(b.describe(), b.op_table()) for b in _backends()}


def ops_index(backends: list[Any]) -> str:
    """The list of op-table pages: one row per installed target."""
    lines = ["# Op tables", "", "One page per installed target, generated from its backend's op table.", ""]
    rows = [[f"[{b.name}]({b.name}.md)", _cell(b.description), str(len(b.op_table().get("ops", [])))] for b in backends]
    return "\n".join([*lines, *_table(["target", "hardware", "operators"], rows)]) + "\n"


# ---------------------------------------------------------------- report schema


LIMITS = (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<"))


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _type(node: dict[str, Any]) -> str:
    """A readable type: refs link to their definition, arrays name their items, unions join with 'or'."""
    if "$ref" in node:
        name = _ref_name(node["$ref"])
        return f"[{name}](#{_slug('def-' + name)})"
    for key in ("anyOf", "oneOf"):
        if key in node:
            return " or ".join(_type(n) for n in node[key])
    if "allOf" in node:  # pydantic wraps a described $ref this way
        return " and ".join(_type(n) for n in node["allOf"])
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    if "enum" in node:
        values = [f"`{json.dumps(v)}`" for v in node["enum"]]
        return values[0] if len(values) == 1 else "one of " + ", ".join(values)
    t = node.get("type")
    if isinstance(t, list):
        text = " or ".join(t)
    else:
        text = t or "any"
    if t == "array" and isinstance(node.get("items"), dict):
        text = f"array of {_type(node['items'])}"
    if t == "object" and isinstance(node.get("additionalProperties"), dict) and "properties" not in node:
        text = f"object of {_type(node['additionalProperties'])}"
    return text


def _object(title: str, node: dict[str, Any], level: int, anchor: str | None = None, path: str = "") -> list[str]:
    """A heading, the description, and a table of the properties; inline objects become sub-sections."""
    head = "#" * min(level, 6) + " " + title + (f" {{ #{anchor} }}" if anchor else "")
    lines = [head, ""]
    if node.get("description"):
        lines += [" ".join(node["description"].split()), ""]
    props: dict[str, Any] = node.get("properties", {})
    required = set(node.get("required", []))
    nested: list[tuple[str, dict[str, Any]]] = []
    if props:
        rows = []
        for key, sub in props.items():
            sub = sub if isinstance(sub, dict) else {}
            typ = _type(sub)
            full = f"{path}.{key}" if path else key
            inner = sub.get("items", sub) if sub.get("type") == "array" else sub
            if isinstance(inner, dict) and "properties" in inner and "$ref" not in inner:
                nested.append((full, inner))
                typ = f"[{typ}](#{_slug('prop-' + full)})" if "[" not in typ else typ
            limits = [f"{word} {sub[k]}" for k, word in LIMITS if k in sub]
            text = " ".join([sub.get("description", ""), f"({', '.join(limits)})" if limits else ""]).strip()
            rows.append([f"`{key}`", typ, "yes" if key in required else "", _cell(text)])
        lines += [*_table(["property", "type", "required", "description"], rows), ""]
    elif not nested:
        lines += [f"Type: {_type(node)}", ""]
    for full, inner in nested:
        lines += _object(f"`{full}`", inner, level + 1, anchor=_slug("prop-" + full), path=full)
    return lines


def render_schema(schema: dict[str, Any]) -> str:
    """A JSON Schema (2020-12, with nested ``$defs``) as a page: the root object, then each definition."""
    if not isinstance(schema, dict):
        raise DocsGenerationError("the report schema is not a JSON object")
    title = schema.get("title", "report.json")
    lines = ["# Report schema", ""]
    lines += [
        "Generated from `src/hwquant/report/report.schema.json` when the site was built; that file ships "
        "in the package and is the contract a pipeline that parses report.json can rely on.",
        "",
    ]
    meta = [("schema", schema.get("$schema", "")), ("id", schema.get("$id", ""))]
    meta = [(k, v) for k, v in meta if v]
    if meta:
        lines += [*_table(["", ""], [[k, f"`{v}`"] for k, v in meta]), ""]
    lines += _object(f"`{title}`", schema, 2, anchor="root")
    defs: dict[str, Any] = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    if defs:
        lines += ["## Definitions", ""]
        for name, node in defs.items():
            lines += _object(f"`{name}`", node if isinstance(node, dict) else {}, 3, anchor=_slug("def-" + name))
            for sub_name, sub in (node.get("$defs", {}) if isinstance(node, dict) else {}).items():
                lines += _object(f"`{name}.{sub_name}`", sub, 4, anchor=_slug("def-" + sub_name))
    return "\n".join(lines) + "\n"


def schema_page(repo: Path) -> str:
    path = Path(os.environ.get(SCHEMA_ENV) or repo / SCHEMA)
    if not path.is_file():
        raise DocsGenerationError(
            f"{path} is missing: the report schema page is generated from it. The schema is written from the "
            "report type in src/hwquant/report/; generate it there (or set "
            f"{SCHEMA_ENV}=FILE to render another schema), then build the site again."
        )
    try:
        schema = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DocsGenerationError(f"{path} is not a readable JSON file: {exc}") from None
    page = render_schema(schema)
    changelog = path.with_name("CHANGELOG.md")
    if changelog.is_file():  # the schema's version history, one heading level down
        text = changelog.read_text()
        page += "\n" + "\n".join("#" + ln if ln.startswith("#") else ln for ln in text.splitlines()) + "\n"
    return page


# ---------------------------------------------------------------- benchmark results


def benchmark_pages(repo: Path) -> dict[str, str | bytes]:
    """{docs path: content}: every run's results.md (its own page), the images beside it, and a list of runs."""
    runs = sorted((repo / "benchmarks" / "results").glob("*/results.md"), reverse=True)
    index = ["# Every benchmark run", "", "Each run's `results.md`, as `benchmarks/run.py` wrote it:", ""]
    index += [
        f"- [{r.parent.name}]({r.parent.name}.md): {r.read_text().partition(chr(10))[0].lstrip('# ')}" for r in runs
    ]
    out: dict[str, str | bytes] = {"benchmarks/results/index.md": "\n".join(index) + "\n"}
    for results in runs:
        run = results.parent.name
        out[f"benchmarks/results/{run}.md"] = results.read_text().replace("](plot.png)", f"]({run}/plot.png)")
        for image in sorted(results.parent.glob("*.png")):
            out[f"benchmarks/results/{run}/{image.name}"] = image.read_bytes()
    return out


# ---------------------------------------------------------------- MkDocs events


def generated(repo: Path) -> dict[str, str | bytes]:
    """Every generated file, by its path under docs/."""
    pages: dict[str, str | bytes] = {"reference/cli.md": cli_page(repo)}
    backends = _backends()
    pages["reference/ops/index.md"] = ops_index(backends)
    pages.update({f"reference/ops/{b.name}.md": ops_page(b.describe(), b.op_table()) for b in backends})
    pages["reference/report-schema.md"] = schema_page(repo)
    pages.update(benchmark_pages(repo))
    return pages


def on_files(files, config):  # MkDocs event
    from mkdocs.exceptions import PluginError
    from mkdocs.structure.files import File

    repo = Path(config.config_file_path).resolve().parent
    try:
        pages = generated(repo)
    except DocsGenerationError as exc:
        raise PluginError(f"docs/hooks/gen.py: {exc}") from None
    for uri, content in pages.items():
        if files.get_file_from_path(uri) is not None:
            raise PluginError(f"docs/hooks/gen.py: docs/{uri} is generated; remove the committed copy")
        files.append(File.generated(config, uri, content=content))
    return files
