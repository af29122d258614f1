"""The docs say only what the code does: every path, module, command, flag and exit code that README.md
and docs/ name exists, and the site (with its generated pages) builds with ``mkdocs build --strict``."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from hwquant.common import errors, toml

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
PAGES = sorted([REPO / "README.md", *DOCS.rglob("*.md")])

# Code spans that are another program's command line: their flags are not hwquant's.
FOREIGN_COMMANDS = (
    "benchmark_model", "vela", "docker", "pip", "edgetpu_compiler", "mkdocs", "ruff", "mypy", "lint-imports",
    "python", ".venv/bin/python", "pytest", "gitlab-ci-local", "arm-none-eabi-g++", "cmake", "debootstrap",
)  # fmt: skip
# Flags the docs name alone that belong to another tool, with the tool.
FOREIGN_FLAGS = {"--verbose-performance": "vela", "--enable_op_profiling": "benchmark_model"}
# Where a path named in the docs must exist: repository folders, or the packages under src/.
REPO_ROOTS = ("src/", "tests/", "benchmarks/", "docs/", "scripts/", "examples/", ".ci/")
SRC_ROOTS = ("hwquant/", "hwquant_backends/")


def _rel(page: Path) -> str:
    return str(page.relative_to(REPO))


def _spans(text: str) -> list[str]:
    """Inline code spans and the lines of fenced code blocks (shell continuations joined)."""
    fences = re.findall(r"^```[^\n]*\n(.*?)^```", text, re.S | re.M)
    inline = re.findall(r"`([^`\n]+)`", re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.S | re.M))
    lines = [ln.strip() for block in fences for ln in block.replace("\\\n", " ").splitlines()]
    return inline + [ln for ln in lines if ln]


def _all_spans() -> list[tuple[Path, str]]:
    return [(p, s) for p in PAGES for s in _spans(p.read_text())]


# ---------------------------------------------------------------- the click commands


def _commands() -> dict[str, click.Command]:
    from hwquant.cli import main

    ctx = click.Context(main)
    return {name: main.get_command(ctx, name) for name in main.list_commands(ctx)}


def _flags(cmd: click.Command) -> set[str]:
    ctx = click.Context(cmd)
    out: set[str] = set()
    for p in cmd.get_params(ctx):  # backend flags are added here, as on the command line
        out.update(o for o in [*p.opts, *p.secondary_opts] if o.startswith("--"))
    return out


def _words(span: str) -> list[str]:
    return re.sub(r"#.*$", "", span).split()


def _command_and_flag_errors(spans: list[tuple[str, str]]) -> tuple[list[str], int]:
    """(problems, commands checked) for (page, span) pairs: `hwquant CMD --flag` and flags named alone."""
    from hwquant.cli import main

    commands = _commands()
    group_flags = _flags(main)
    every_flag = group_flags.union(*(_flags(c) for c in commands.values()))
    bad, checked = [], 0
    for page, span in spans:
        words = _words(span)
        if not words or words[0] in FOREIGN_COMMANDS or Path(words[0]).name in FOREIGN_COMMANDS:
            continue
        if Path(words[0]).name == "hwquant":  # `hwquant CMD --flag ...` (also .venv/bin/hwquant)
            rest = [x for x in words[1:] if not re.fullmatch(r"-\w", x)]
            while rest and rest[0].startswith("--") and rest[0] in group_flags:
                rest = rest[1:]
            if not rest or rest[0] in {"...", "[gates]"}:
                continue
            checked += 1
            if rest[0] not in commands:
                bad.append(f"{page}: `{span}`: no command `hwquant {rest[0]}`")
                continue
            known = _flags(commands[rest[0]]) | group_flags
            for flag in re.findall(r"(?<![\w-])(--[a-z][\w-]*)", " ".join(rest[1:])):
                if flag not in known:
                    bad.append(f"{page}: `{span}`: `hwquant {rest[0]}` has no {flag}")
        else:  # a flag named alone: some command (or the group) must have it
            for flag in re.findall(r"(?<![\w-])(--[a-z][\w-]*)", span):
                checked += 1
                if flag not in every_flag and flag not in FOREIGN_FLAGS and "<" not in span:
                    bad.append(f"{page}: `{span}`: no command has {flag}")
    return bad, checked


def test_every_command_and_flag_named_exists():
    bad, checked = _command_and_flag_errors([(_rel(p), s) for p, s in _all_spans()])
    assert checked > 100, f"only {checked} commands and flags found: the collector is broken"
    assert not bad, "\n".join(bad)


def test_the_flag_checker_finds_a_wrong_command_or_flag():
    text = (
        "run `hwquant build m.keras --target cpu --mcu-board cortex-m4 --no-such-flag`, `--max-size`,\n"
        "`--made-up`, `vela --supported-ops-report` and\n```sh\nhwquant frobnicate x\n"
        "hwquant check out --max-size 1KiB   # --not-a-flag in a comment\n```\n"
    )
    bad, checked = _command_and_flag_errors([("sample.md", s) for s in _spans(text)])
    assert checked == 5
    assert sorted(bad) == sorted(
        [
            "sample.md: `hwquant build m.keras --target cpu --mcu-board cortex-m4 --no-such-flag`: "
            "`hwquant build` has no --no-such-flag",
            "sample.md: `--made-up`: no command has --made-up",
            "sample.md: `hwquant frobnicate x`: no command `hwquant frobnicate`",
        ]
    )


# ---------------------------------------------------------------- paths and modules


def _named_paths() -> list[tuple[Path, str]]:
    out = []
    for page, span in _all_spans():
        for word in _words(span):
            word = word.strip("()[],;:'\"")
            if any(c in word for c in "<*$:") or "..." in word:  # placeholders, globs, image tags
                continue
            if word.startswith(REPO_ROOTS) or word.startswith(SRC_ROOTS) or word in {"Dockerfile", "LICENSE"}:
                out.append((page, word))
    return out


def _exists(word: str) -> bool:
    base = REPO / "src" if word.startswith(SRC_ROOTS) else REPO
    return (base / word.rstrip("/")).exists()


def test_every_path_named_exists():
    named = _named_paths()
    assert len(named) > 30, "the path collector finds no paths: it is broken"
    bad = [f"{_rel(page)}: {word}" for page, word in named if not _exists(word)]
    assert not bad, "paths the docs name that do not exist:\n" + "\n".join(bad)


def test_readme_links_exist():
    """MkDocs checks the links between pages; the README's links are checked here."""
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", (REPO / "README.md").read_text())
    local = [link for link in links if "://" not in link]
    assert local, "the README links to no page"
    missing = [link for link in local if not (REPO / link).exists()]
    assert not missing, f"README links to missing files: {missing}"


def _resolves(dotted: str) -> bool:
    """A module, or an attribute of the longest module prefix."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        name = ".".join(parts[:i])
        try:
            spec = importlib.util.find_spec(name)
        except ModuleNotFoundError:
            spec = None
        if spec is None:
            continue
        obj = importlib.import_module(name)
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def test_every_module_named_exists():
    from hwquant.plugin.hookspecs import ENTRY_POINT_GROUP

    named = set()
    for page, span in _all_spans():
        for m in re.finditer(r"(?<![\w/.-])(hwquant(?:_backends)?(?:\.[A-Za-z_]\w*)+)(?![\w/-])", span):
            dotted = m.group(1)
            if dotted in {ENTRY_POINT_GROUP, "hwquant.toml"} or dotted.endswith((".toml", ".json", ".py")):
                continue
            named.add((page, dotted))
    assert len(named) > 10, "the module collector finds no modules: it is broken"
    bad = sorted(f"{_rel(page)}: {dotted}" for page, dotted in named if not _resolves(dotted))
    assert not bad, "modules or names the docs mention that do not exist:\n" + "\n".join(bad)
    assert not _resolves("hwquant.pipeline.no_such_module")


# ---------------------------------------------------------------- exit codes


def _exit_code_rows() -> dict[int, set[str]]:
    text = (DOCS / "exit-codes.md").read_text()
    rows = re.findall(r"^\| (\d+) \|([^|]*)\|", text, re.M)
    assert rows, "docs/exit-codes.md has no exit-code table"
    return {int(code): set(re.findall(r"`(\w+)`", raised)) for code, raised in rows}


def test_exit_code_page_matches_errors_module():
    rows = _exit_code_rows()
    classes = {
        c.__name__: c
        for c in vars(errors).values()
        if isinstance(c, type) and issubclass(c, errors.HwquantError) and c is not errors.TargetsFailed
    }
    codes = {c.exit_code for c in classes.values()} | {errors.EXIT_OK, errors.EXIT_INTERRUPTED}
    assert set(rows) == codes, f"the page lists {sorted(rows)}, the code has {sorted(codes)}"
    named = set().union(*rows.values())
    assert named == set(classes), f"classes named on the page {sorted(named)} vs in errors.py {sorted(classes)}"
    for code, names in rows.items():
        for name in names:
            assert classes[name].exit_code == code, f"{name} exits {classes[name].exit_code}, the page says {code}"


def test_readme_exit_code_summary_matches():
    m = re.search(r"\| \[Exit codes\]\([^)]*\) \| ([^|]*) \|", (REPO / "README.md").read_text())
    assert m, "the README's exit-code summary is gone"
    assert {int(c) for c in re.findall(r"\b(\d+) [a-z]", m.group(1))} == set(_exit_code_rows())


# ---------------------------------------------------------------- claims that follow from the code


def test_runtime_only_dependency_list_matches_pyproject():
    text = (DOCS / "getting-started.md").read_text()
    m = re.search(
        r"runtime-only install \(`pip install hwquant`: the base dependencies in\s+`pyproject.toml`(.*?)no\s+TensorFlow",
        text,
        re.S,
    )
    assert m, "the runtime-only sentence in docs/getting-started.md is gone"
    named = {w.lower() for w in re.findall(r"[A-Za-z][\w-]*", m.group(1))}
    deps = toml.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.match(r"[A-Za-z0-9_.-]+", d).group(0).lower() for d in deps}
    assert names <= named, f"the runtime-only list lacks {sorted(names - named)}"
    assert not any("tensorflow" in d.lower() for d in deps)


def test_every_extra_named_exists():
    extras = set(toml.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    named = {
        (_rel(page), extra.strip())
        for page in PAGES
        for group in re.findall(r"(?:hwquant|\.)\[([\w,-]+)\]", page.read_text())
        for extra in group.split(",")
    }
    assert {"build", "ethos-u", "dev", "docs"} <= {e for _, e in named}
    bad = sorted(f"{page}: [{extra}]" for page, extra in named if extra not in extras)
    assert not bad, f"extras the docs name that pyproject.toml lacks: {bad}"


def test_every_environment_variable_named_is_read_by_the_code():
    code = "\n".join(p.read_text() for p in (REPO / "src").rglob("*.py"))
    named = {(_rel(page), v) for page in PAGES for v in re.findall(r"\bHWQUANT_[A-Z_]+\b", page.read_text())}
    assert {v for _, v in named} >= {"HWQUANT_CACHE_DIR", "HWQUANT_DISABLE_PLUGINS"}
    bad = sorted(f"{page}: {v}" for page, v in named if v not in code)
    assert not bad, f"environment variables the docs name that no code reads: {bad}"


def test_design_page_lists_the_layers_in_contract_order():
    contracts = toml.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    layers = next(c["layers"] for c in contracts if c["type"] == "layers")
    rows = re.findall(r"^\| (\d+) \| `([\w.]+)` \|([^\n]*)\|$", (DOCS / "design.md").read_text(), re.M)
    assert [name for _, name, _ in rows] == layers
    for _, pkg, holds in rows:
        folder = REPO / "src" / pkg.replace(".", "/")
        named = set(re.findall(r"`([\w/]+)\.py`", holds))  # a subpackage's modules as `sub/name.py`
        modules = {
            p.relative_to(folder).with_suffix("").as_posix()
            for p in folder.rglob("*.py")
            if p.stem not in ("__init__", "__main__") and "__pycache__" not in p.parts
        }
        assert named <= modules, f"docs/design.md names modules {pkg} lacks: {sorted(named - modules)}"
        assert modules <= named, f"docs/design.md's row for {pkg} does not name {sorted(modules - named)}"


def test_design_page_describes_every_contract():
    contracts = toml.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    section = (DOCS / "design.md").read_text().partition("## Contracts")[2].partition("\n## ")[0]
    bullets = re.findall(r"^- \*\*", section, re.M)
    assert len(bullets) == len(contracts), (
        f"docs/design.md describes {len(bullets)} contracts, pyproject has {len(contracts)}"
    )


def test_every_builtin_target_has_a_page():
    eps = toml.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]["hwquant.backends"]
    nav = (REPO / "mkdocs.yml").read_text()
    for name in eps:
        assert (DOCS / "targets" / f"{name}.md").is_file(), f"no docs/targets/{name}.md"
        assert f"targets/{name}.md" in nav and f"reference/ops/{name}.md" in nav, f"{name} is not in the nav"


def test_readme_is_short_and_opens_with_the_two_commands():
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= 250
    head = "\n".join(lines[:6])
    assert "bash scripts/quickstart.sh   # creates .venv" in head
    assert "bash scripts/test.sh         # runs the test suite" in head


# ---------------------------------------------------------------- the generators


def _gen():
    spec = importlib.util.spec_from_file_location("docs_hooks_gen", DOCS / "hooks" / "gen.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


SAMPLE_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "TargetReport",
    "description": "One target's\n  report.",
    "type": "object",
    "required": ["schema_version", "target"],
    "properties": {
        "schema_version": {"const": 2, "description": "bumped on a breaking change"},
        "target": {"type": "string", "description": "the target | table name"},
        "size_bytes": {"$ref": "#/$defs/Sizes"},
        "fidelity": {"type": "array", "items": {"$ref": "#/$defs/Fidelity"}},
        "cache": {
            "type": "object",
            "description": "cache use",
            "required": ["hit"],
            "properties": {"hit": {"type": "boolean"}, "key": {"type": ["string", "null"]}},
        },
    },
    "$defs": {
        "Sizes": {
            "type": "object",
            "description": "bytes",
            "properties": {"deployed": {"anyOf": [{"type": "integer"}, {"type": "null"}], "minimum": 0}},
        },
        "Fidelity": {
            "type": "object",
            "properties": {"kind": {"enum": ["class", "other"]}, "snr_db": {"type": ["number", "null"]}},
            "$defs": {"Inner": {"type": "string", "description": "nested definition"}},
        },
    },
}


def test_schema_renderer_renders_defs_properties_and_refs():
    page = _gen().render_schema(SAMPLE_SCHEMA)
    assert "One target's report." in page  # descriptions on one line
    assert "| `schema_version` | `2` | yes | bumped on a breaking change |" in page
    assert "| `deployed` | integer or null |  | (>= 0) |" in page
    assert "| `target` | string | yes | the target \\| table name |" in page  # pipes escaped
    assert "| `size_bytes` | [Sizes](#def-sizes) |  |  |" in page
    assert "array of [Fidelity](#def-fidelity)" in page
    assert "integer or null" in page and "string or null" in page and 'one of `"class"`, `"other"`' in page
    # an inline object gets its own section; every definition (nested ones too) gets a heading with an anchor
    assert "### `cache` { #prop-cache }" in page and "| `hit` | boolean | yes |" in page
    for anchor in ("def-sizes", "def-fidelity", "def-inner"):
        assert f"{{ #{anchor} }}" in page
    for target in re.findall(r"\]\(#([\w-]+)\)", page):  # every link points at a heading of the page
        assert f"{{ #{target} }}" in page, target


def test_schema_page_fails_clearly_without_the_schema(tmp_path, monkeypatch):
    gen = _gen()
    monkeypatch.delenv(gen.SCHEMA_ENV, raising=False)
    with pytest.raises(gen.DocsGenerationError, match=r"report\.schema\.json is missing: the report schema page"):
        gen.schema_page(tmp_path)
    (tmp_path / "sample.json").write_text(json.dumps(SAMPLE_SCHEMA))
    (tmp_path / "CHANGELOG.md").write_text("# report.json schema changelog\n\n## 2\n\n- measures\n")
    monkeypatch.setenv(gen.SCHEMA_ENV, str(tmp_path / "sample.json"))
    page = gen.schema_page(tmp_path)
    assert page.startswith("# Report schema") and "\n## report.json schema changelog\n" in page and "\n### 2\n" in page
    (tmp_path / "bad.json").write_text("{not json")
    monkeypatch.setenv(gen.SCHEMA_ENV, str(tmp_path / "bad.json"))
    with pytest.raises(gen.DocsGenerationError, match="not a readable JSON file"):
        gen.schema_page(tmp_path)


def test_op_table_pages_come_from_every_backend():
    from hwquant.plugin.manager import registry

    gen = _gen()
    pages = gen.ops_pages()
    backends = registry().all()
    assert sorted(pages) == sorted(b.name for b in backends)
    for b in backends:
        table = b.op_table()
        page = pages[b.name]
        rows = [ln for ln in page.splitlines() if ln.startswith("| `")]
        assert len(rows) == len(table["ops"]) and f"{len(table['ops'])} operators." in page
        for row in table["ops"][:5]:
            assert f"| `{row['op']}` |" in page
        for rule in table["generic"]:
            assert " ".join(rule.split()).replace("|", "\\|") in page
    page = gen.ops_page(
        {"name": "toy", "description": "a toy", "recipes": ["int8-only"], "options": ["board"]},
        {"generic": ["every op is int8"], "ops": [{"op": "ADD", "dtypes": ["int8"], "constraints": ["a|b"]}]},
    )
    assert "| `ADD` | int8 | - a\\|b |" in page and "`--toy-board`" in page and "- every op is int8" in page
    index = gen.ops_index(backends)
    for b in backends:
        assert f"| [{b.name}]({b.name}.md) |" in index and f"| {len(b.op_table()['ops'])} |" in index


def test_cli_page_follows_the_console_script():
    page = _gen().cli_page(REPO)
    script = toml.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]["hwquant"]
    module, command = script.split(":")
    assert f":module: {module}" in page and f":command: {command}" in page and "::: mkdocs-click" in page


# ---------------------------------------------------------------- the site


def _mkdocs(site: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", **env}
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(REPO / "mkdocs.yml"), "-d", str(site)]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_site_builds_strict_with_generated_pages(tmp_path):
    schema = REPO / "src" / "hwquant" / "report" / "report.schema.json"
    env = {}
    if not schema.is_file():  # until the report type ships its schema, render the sample one
        (tmp_path / "schema.json").write_text(json.dumps(SAMPLE_SCHEMA))
        env["HWQUANT_DOCS_SCHEMA"] = str(tmp_path / "schema.json")
    site = tmp_path / "site"
    r = _mkdocs(site, env)
    assert r.returncode == 0, r.stdout + r.stderr
    cli = (site / "reference" / "cli" / "index.html").read_text()
    for name in _commands():
        assert f"hwquant {name}" in cli, f"the CLI reference lacks `hwquant {name}`"
    assert "--mcu-board" in cli and "--max-size" in cli
    from hwquant.plugin.manager import registry

    for b in registry().all():
        page = (site / "reference" / "ops" / b.name / "index.html").read_text()
        assert all(row["op"] in page for row in b.op_table()["ops"]), b.name
    assert "Report schema" in (site / "reference" / "report-schema" / "index.html").read_text()
    assert "fromJSON" in (site / "ci" / "index.html").read_text()  # the CI files are included, not copied by hand
    runs = (site / "benchmarks" / "results" / "index.html").read_text()
    for results in (REPO / "benchmarks" / "results").glob("*/results.md"):
        assert (site / "benchmarks" / "results" / results.parent.name / "index.html").is_file()
        assert f'href="{results.parent.name}/"' in runs, f"the list of runs lacks {results.parent.name}"


@pytest.mark.slow
def test_site_build_fails_naming_a_missing_schema(tmp_path):
    r = _mkdocs(tmp_path / "site", {"HWQUANT_DOCS_SCHEMA": str(tmp_path / "absent.schema.json")})
    assert r.returncode != 0
    assert "absent.schema.json is missing: the report schema page is generated from it" in r.stdout + r.stderr


def test_every_manifest_example_loads(tmp_path):
    """Each hwquant.toml the docs show is a manifest hwquant accepts (keys, types, backend options, gates)."""
    from hwquant.config import manifest

    examples = [
        (page, block)
        for page in PAGES
        for block in re.findall(r"^```toml\n(.*?)^```", page.read_text(), re.S | re.M)
        if "[targets." in block
    ]
    assert len(examples) >= 2, "the manifest examples are gone"
    for i, (page, block) in enumerate(examples):
        path = tmp_path / str(i) / "hwquant.toml"
        path.parent.mkdir()
        path.write_text(block)
        loaded = manifest.load(path)
        assert set(loaded.targets) == set(re.findall(r"^\[targets\.([\w.-]+)\]", block, re.M)), _rel(page)
    (tmp_path / "bad.toml").write_text(examples[0][1] + '\n[targets.x]\nbackend = "cpu"\ncolour = 1\n')
    with pytest.raises(errors.UsageError, match="colour"):
        manifest.load(tmp_path / "bad.toml")
