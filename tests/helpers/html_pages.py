"""Helpers for the HTML report tests: a report of every section (the shape a real build writes, with
any string swapped in), and headless Chromium (Debian's ``chromium``) opening a page with every
host unresolvable, returning its DOM, its console lines and the requests the page itself made."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

NETWORK_REF = re.compile(r"""(https?:)?//[^\s"'<>]|url\(|@import|<link\b|\bsrc=""", re.I)


def report_with(name: str = "x", *, target: str = "ethos-u", n_layers: int = 3) -> dict[str, Any]:
    """A report.json of every section a build writes (fields as a real digits ethos-u build has them),
    with ``name`` in every string a user's model, data or files can put there."""
    layers = [f"{name}/layer{i}" if i else name for i in range(n_layers)]
    report = copy.deepcopy(
        {
            "schema_version": 2,
            "target": target,
            "preflight_only": False,
            "recipe": {
                "name": "int8-only",
                "label": f"int8-only ({name} float)",
                "fields": {
                    "weights": "int8",
                    "activations": "int8",
                    "io_dtype": "int8",
                    "float_layers": [name],
                    "description": "integer only",
                },
                "reasons": [f"reason {name}", "--recipe auto: int8-only is the smallest within budget"],
            },
            "model": {"path": f"models/{name}.keras", "format": "keras"},
            "ops": {
                "target": target,
                "counts": {"target": 2, "fallback": 1, "unsupported": 1},
                "table": [
                    {
                        "operator": "CONV_2D",
                        "dtype": "int8",
                        "count": 2,
                        "status": "supported",
                        "placement": "target",
                        "reasons": [],
                    },
                    {
                        "operator": name,
                        "dtype": "float32",
                        "count": 1,
                        "status": name,
                        "placement": "fallback",
                        "reasons": [name],
                    },
                    {
                        "operator": "CUSTOM",
                        "dtype": "int8",
                        "count": 1,
                        "status": "unsupported",
                        "placement": "unsupported",
                        "reasons": [f"why {name}"],
                    },
                ],
                "ops": [
                    {
                        "index": i,
                        "subgraph": 0,
                        "op": name,
                        "dtype": "int8",
                        "placement": p,
                        "status": "s",
                        "reasons": [name],
                    }
                    for i, p in enumerate(("target", "target", "fallback", "unsupported"))
                ],
                "notes": [f"note {name}"],
            },
            "inputs": {
                "model": {"path": f"models/{name}.keras", "sha256": "ab" * 32},
                "eval_data": {
                    "source": f"{name}.npz",
                    "kind": "npz",
                    "samples": 10,
                    "sha256": "cd" * 32,
                    "labelled": True,
                },
            },
            "versions": {"hwquant": "0.1.0", name: name},
            "cache": {"hit": False, "key": "ef" * 32},
            "warnings": [f"warning {name}"],
            "budget": {
                "source": name,
                "applied": True,
                "limits": {"min_agreement": 0.98, "min_snr": 30.0, "max_accuracy_drop": 1.0},
                "scope": {"min_agreement": "class-score outputs", "min_snr": "outputs that are not class scores"},
            },
            "search": {
                "objective": "size",
                "why": f"--recipe auto {name}",
                "candidates": [
                    {
                        "recipe": "int8-only",
                        "label": name,
                        "origin": "rule proposal",
                        "size_bytes": 9584,
                        "snr_db": 42.9,
                        "top1_agreement": 1.0,
                        "cosine": 0.99998,
                        "accuracy_delta_points": 0.27,
                        "target": {"tensor_arena_bytes": 4320},
                        "within_budget": True,
                        "why_not": [],
                        "chosen": True,
                    },
                    {
                        "recipe": "int16x8",
                        "label": f"{name} 16x8",
                        "origin": "allowed recipe",
                        "size_bytes": 10496,
                        "snr_db": 48.4,
                        "top1_agreement": 0.997,
                        "within_budget": True,
                        "why_not": [],
                        "chosen": False,
                    },
                    {
                        "recipe": "fp16",
                        "label": f"{name} fp16",
                        "origin": "allowed recipe",
                        "size_bytes": 12000,
                        "snr_db": 60.0,
                        "top1_agreement": 0.95,
                        "within_budget": False,
                        "why_not": [name],
                        "chosen": False,
                    },
                ],
                "chosen": "int8-only",
            },
            "sensitivity": [
                {"tensor": t, "op": name, "channel_snr_db": 20.0 + 5 * i, "rmse_over_scale": 0.3, "range": [0.0, 2.5]}
                for i, t in enumerate(layers)
            ],
            "artifact_name": "model.tflite",
            "artifacts": ["model.tflite", "project/main.cc", name, "report.json"],
            "size_bytes": {
                "original": 49155,
                "float32_tflite": 20368,
                "artifact": 9584,
                "ratio_to_float32": 0.47,
                "deployed": 10672,
            },
            "fidelity": {
                "outputs": {
                    name: {
                        "samples": 10,
                        "max_abs_error": 0.047,
                        "mean_abs_error": 0.0005,
                        "snr_db": 42.9,
                        "cosine": 0.99998,
                        "top1_agreement": 1.0,
                        "accuracy": {"float": 0.9759, "quantized": 0.9786, "delta_points": 0.27},
                    },
                },
                "samples": 10,
            },
            "verify": {"runtime": "LiteRT interpreter", "samples": 10, "eval_source": f"{name}.npz"},
            "measures": {
                "tensor_arena_bytes": 5408,
                "flash_bytes": 76208,
                "ram_bytes": 16672,
                "estimated_inferences_per_second": 65470.7,
                "compiled_bytes": 10672,
                "deployed_bytes": 10672,
            },
            "timings_s": {"load": 18.6, "convert": 0.07, name: 1.0},
            "timings_shared": ["load"],
            target: {
                "footprint": {
                    "flash": {
                        "model_bytes": 10672,
                        "io_bytes": 0,
                        "runtime_bytes": 65536,
                        "allowance_bytes": 0,
                        "total_bytes": 76208,
                        "budget_bytes": 5767168,
                        "runtime": {"method": name},
                    },
                    "ram": {
                        "arena_bytes": 5408,
                        "stack_bytes": 3072,
                        "allowance_bytes": 8192,
                        "total_bytes": 16672,
                        "budget_bytes": 14155776,
                    },
                    "board": {"name": name, "description": name},
                    "fits": True,
                },
                "estimates": {
                    "source": name,
                    "cycles_total": 7637,
                    "npu_operators": 38,
                    "cpu_operators": 0,
                    "inferences_per_second": 65470.7,
                    "system_config": name,
                },
                "per_layer_estimates": {
                    "source": name,
                    "rows": [
                        {
                            "Name": t,
                            "NNG Operator": name,
                            "Target": "NPU",
                            "Op Cycles": 800 + i,
                            "Network% (cycles)": 10.0,
                        }
                        for i, t in enumerate(layers)
                    ],
                },
            },
        }
    )
    if target != "ethos-u":  # only Vela's compiled model is deployed instead of the converted one
        del report["size_bytes"]["deployed"]
        for k in ("estimated_inferences_per_second", "compiled_bytes", "deployed_bytes"):
            del report["measures"][k]
    return report


class Tags(HTMLParser):
    """Every start tag with its attributes, and every text chunk, of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> Tags:
    p = Tags()
    p.feed(page)
    p.close()
    return p


# -- headless Chromium -------------------------------------------------------------------------------------
def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


QUIET = [  # no background traffic of the browser's own, so what remains in the net log is the page's
    "--headless",
    "--disable-gpu",
    "--no-sandbox",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # any request fails (and shows in the net log)
]


def open_page(page: Path, work: Path, screenshot: Path | None = None) -> tuple[str, list[str], list[str]]:
    """(the DOM after scripts ran, the page's console lines, the URLs the page requested) of ``page``
    opened in headless Chromium; a screenshot too when asked (1280 px wide)."""
    exe = chromium()
    assert exe is not None
    work.mkdir(parents=True, exist_ok=True)
    net = work / f"{page.parent.name}-net.json"
    url = page.resolve().as_uri()
    run = subprocess.run(
        [exe, *QUIET, "--enable-logging=stderr", "--v=0", f"--log-net-log={net}", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    requests = page_requests(net)
    if screenshot is not None:
        shot = subprocess.run(
            [exe, *QUIET, f"--screenshot={screenshot}", "--window-size=1280,2000", url],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert shot.returncode == 0 and screenshot.is_file(), shot.stderr[-2000:]
    return run.stdout, console, requests


def page_requests(net_log: Path) -> list[str]:
    """URLs other than file:/data: requested by a page (a request with an initiator; the browser's own
    background requests have 'not an origin')."""
    events = json.loads(net_log.read_text()).get("events", [])
    return sorted(
        {
            str(e["params"].get("url", ""))
            for e in events
            if isinstance(e.get("params"), dict)
            and e["params"].get("initiator", "not an origin") != "not an origin"
            and not str(e["params"].get("url", "")).startswith(("file:", "data:"))
        }
    )
