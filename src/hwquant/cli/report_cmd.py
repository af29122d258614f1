"""`hwquant report`: report.html of a target folder, or index.html over a tree of builds (no TensorFlow)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from hwquant.cli.params import gate_options
from hwquant.cli.shared import console


@click.command("report")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--baseline",
    type=click.Path(path_type=Path),
    help="The same tree built from the main branch: show the change of every measure and what crossed a gate.",
)
@click.option(
    "--markdown",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the summary as GitHub-flavoured Markdown (e.g. $GITHUB_STEP_SUMMARY).",
)
@click.option(
    "--model-explorer",
    "model_explorer",
    is_flag=True,
    help="Also write Model Explorer node-data JSON (placement, dtype, sensitivity) beside a target's report.json.",
)
@gate_options
def report(path: Path, baseline: Path | None, markdown: Path | None, model_explorer: bool, **gate_args: Any) -> None:
    """Rewrite OUT/<table>/report.html from its report.json, or write PATH/index.html over every
    report.json below PATH (a build's OUT, a workspace, CI artifacts): models x tables with verdicts,
    sizes, arena, fidelity and links to each table's page.

    Gate flags (--max-size, --min-snr ...) mark the rows that miss them and, with --baseline, what
    newly crosses them; the command still exits 0 (`hwquant check` is the gate). A target folder with
    --baseline, --markdown or a gate is read as a tree of one build. --model-explorer (a target folder
    only) writes model_explorer_<measure>.json overlays for Model Explorer:
    `model-explorer OUT/<table>/model.tflite --node_data_paths=OUT/<table>/model_explorer_placement.json`.
    """
    from hwquant.cli.main import run_guarded

    run_guarded(write_report, path, baseline, markdown, model_explorer, gate_args)


def write_report(
    path: Path,
    baseline: Path | None,
    markdown: Path | None,
    model_explorer: bool = False,
    gate_args: dict[str, Any] | None = None,
) -> list[Path]:
    """The pages written (exit 2, InputError, for a path with no report or an unreadable one)."""
    from hwquant.common.errors import InputError

    try:
        return _write(path, baseline, markdown, model_explorer, gate_args or {})
    except InputError as exc:
        if not exc.hint:
            exc.hint = "pass report.json files written by `hwquant build` (rebuild the folder if one is damaged)"
        raise


def _write(
    path: Path, baseline: Path | None, markdown: Path | None, model_explorer: bool, gate_args: dict[str, Any]
) -> list[Path]:
    from hwquant.common.errors import InputError, UsageError
    from hwquant.report.gates import Gates, read_reports
    from hwquant.report.pages.dashboard import INDEX_NAME, write_dashboard
    from hwquant.report.pages.explorer import write_overlays
    from hwquant.report.pages.html import write_target_page
    from hwquant.report.summary import find_reports

    gates = Gates.of(**{k: v for k, v in gate_args.items() if v is not None})
    if markdown is not None:
        from hwquant.common.files import output_file

        output_file(markdown, "--markdown")  # never a FIFO (the write would block) or a device
    if path.is_file() and path.name == "report.json":
        path = path.parent
    if not path.is_dir():
        raise InputError(
            f"{path}: no such folder",
            hint="pass a target folder (OUT/<table>, holding report.json) or a folder of builds",
        )
    for name, tree in (("PATH", path), ("--baseline", baseline)):
        if tree is not None and not find_reports(tree):
            raise InputError(
                f"{name} {tree}: holds no report.json",
                hint="pass a folder written by `hwquant build` (OUT/ or OUT/<table>/), or the downloaded CI artifacts",
            )
    single = path / "report.json"
    tree_mode = baseline is not None or markdown is not None or gates.any
    if model_explorer and (not single.is_file() or tree_mode):
        raise UsageError(
            "--model-explorer writes one target's overlays",
            hint="pass a target folder (OUT/<table>, holding report.json), without --baseline, --markdown or gates",
        )
    if single.is_file() and not tree_mode:
        reports = read_reports(single)  # type-checked: a bad report is exit 2 before anything is written
        if len(reports) != 1:
            raise InputError(
                f"{single}: holds {len(reports)} reports, not one target's",
                hint="pass the folder above it for a dashboard",
            )
        written = [write_target_page(reports[0], path)]
        if model_explorer:
            overlays = write_overlays(reports[0], path)
            if not overlays:
                console.print("no per-node data for Model Explorer in this report", markup=False)
            written += overlays
        console.print(f"wrote {', '.join(str(p) for p in written)}", markup=False, soft_wrap=True)
        return written
    index = write_dashboard(path, path / INDEX_NAME, baseline, markdown, gates if gates.any else None)
    console.print(f"wrote {index}" + (f" and {markdown}" if markdown else ""), markup=False, soft_wrap=True)
    return [index] + ([markdown] if markdown else [])
