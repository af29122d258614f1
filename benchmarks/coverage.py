"""Coverage matrix: every zoo model (benchmarks/zoo.py) built for every target, one cell per pair.

    python benchmarks/coverage.py [--models a,b] [--targets cpu,mcu] [--out benchmarks/results/<date>-coverage]

Each cell is one `hwquant build MODEL --target T --data random:32 --no-cache` in a child process
(random data: the matrix asks "does it build, and what does the target make of it", not "how
accurate is it"). It records the exit code, the recipe, the artifact size, the fidelity (lowest
output SNR vs float32), the build time and, for a failure, the first line of the error and the op
it names. The edge TPU column is the preflight (--preflight-only) where no Edge TPU compiler is
reachable. A negative exit code (a crash) is a defect: the run says so at the end.
Writes results.json and results.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks import zoo  # noqa: E402

TARGETS = ("cpu", "mcu", "ethos-u", "gpu", "edgetpu")
OP = re.compile(r"\b([A-Z][A-Z0-9_]{2,})\b")


def cell(model: Path, target: str, work: Path, preflight: bool) -> dict:
    out = work / f"{model.stem}-{target}"
    args = ["build", str(model), "--target", target, "--data", "random:32", "-o", str(out), "--no-cache"]
    if preflight:
        args.append("--preflight-only")
    t0 = time.perf_counter()
    try:
        r = subprocess.run(
            [sys.executable, "-c", "from hwquant.cli.main import main; main()", *args],
            capture_output=True,
            text=True,
            timeout=900,
        )
        code, err = r.returncode, r.stderr
    except subprocess.TimeoutExpired:
        code, err = None, "timed out after 900 s"
    row: dict = {"exit": code, "seconds": round(time.perf_counter() - t0, 1), "preflight": preflight}
    report = out / target / "report.json"
    if report.is_file():
        rep = json.loads(report.read_text())
        row["recipe"] = (rep.get("recipe") or {}).get("name")
        row["size_bytes"] = (rep.get("size_bytes") or {}).get("artifact")
        snrs = [o.get("snr_db") for o in ((rep.get("fidelity") or {}).get("outputs") or {}).values()]
        snrs = [s for s in snrs if isinstance(s, int | float)]
        row["snr_db"] = round(min(snrs), 1) if snrs else None
        row["ops"] = sorted((rep.get("model") or {}).get("op_counts") or {})
        row["notes"] = [n for n in (rep.get("model") or {}).get("notes", []) if "recurrent" in n]
    if code != 0:
        lines = [x for x in err.splitlines() if x.startswith(("error:", "  ")) and "hint:" not in x]
        row["error"] = next((x.strip() for x in lines if "exit" in x or x.startswith("error")), err.strip()[-300:])[
            :300
        ]
        named = [
            m for m in OP.findall(row["error"]) if m not in ("TFLM", "SIGSEGV", "LITERT", "GPU", "CPU", "MCU", "NPU")
        ]
        row["op_named"] = named[0] if named else None
    return row


def fmt(row: dict) -> str:
    if row["exit"] == 0:
        size = f"{row['size_bytes'] / 1024:.1f} KiB" if row.get("size_bytes") else "preflight"
        snr = f", {row['snr_db']} dB" if row.get("snr_db") is not None else ""
        return f"0: {row.get('recipe') or 'ok'}, {size}{snr}, {row['seconds']} s"
    op = f" ({row['op_named']})" if row.get("op_named") else ""
    return f"**{row['exit']}**{op}, {row['seconds']} s"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(zoo.ZOO))
    ap.add_argument("--targets", default=",".join(TARGETS))
    ap.add_argument("--out", default=str(HERE / "results" / f"{dt.date.today()}-coverage"))
    a = ap.parse_args()
    models, targets, out = a.models.split(","), a.targets.split(","), Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    edgetpu_native = subprocess.run(["which", "edgetpu_compiler"], capture_output=True).returncode == 0
    results: dict = {}
    if (out / "results.json").is_file():
        results = json.loads((out / "results.json").read_text()).get("cells", {})
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="coverage-") as tmp:
        work = Path(tmp)
        for name in models:
            path = zoo.save(name, work / "models")
            for target in targets:
                row = cell(path, target, work, preflight=target == "edgetpu" and not edgetpu_native)
                results.setdefault(name, {})[target] = row
                print(f"{name:18} {target:8} {fmt(row)}", flush=True)
                write(out, results, targets)
    crashes = [(m, t) for m, row in results.items() for t, c in row.items() if c["exit"] is None or c["exit"] < 0]
    print(f"{len(models) * len(targets)} cells in {time.perf_counter() - started:.0f} s; crashes: {crashes or 'none'}")
    return 1 if crashes else 0


def write(out: Path, results: dict, targets: list[str]) -> None:
    from hwquant.common.version import __version__

    meta = {
        "date": str(dt.date.today()),
        "hwquant": __version__,
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
    }
    with_tf = subprocess.run(
        [sys.executable, "-c", "import importlib.metadata as m; print(m.version('tensorflow'))"],
        capture_output=True,
        text=True,
    )
    meta["tensorflow"] = with_tf.stdout.strip()
    (out / "results.json").write_text(json.dumps({"meta": meta, "cells": results}, indent=1) + "\n")
    cols = [t for t in targets if any(t in row for row in results.values())]
    lines = [
        f"# Coverage matrix ({meta['date']}, hwquant {meta['hwquant']}, TensorFlow {meta['tensorflow']})",
        "",
        "Each cell: exit code; for a build, the recipe, the artifact size, the lowest output SNR vs float32",
        "(random data) and the build time; for a failure, the op the error names. edgetpu is the preflight",
        "where no Edge TPU compiler was reachable. Build times are wall clock, one cell at a time, on a",
        f"machine with {meta['cpus']} CPUs that other work shared. Made by `python benchmarks/coverage.py`.",
        "",
        "| model | " + " | ".join(cols) + " |",
        "|---|" + "---|" * len(cols),
    ]
    for name, row in results.items():
        lines.append(f"| {name} | " + " | ".join(fmt(row[t]) if t in row else "" for t in cols) + " |")
    lines += ["", "Errors:", ""]
    for name, row in results.items():
        for t, c in row.items():
            if c["exit"] != 0:
                lines.append(f"- {name} / {t} (exit {c['exit']}): {c.get('error', '')}")
    (out / "results.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    raise SystemExit(main())
