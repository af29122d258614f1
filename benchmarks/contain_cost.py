"""What containing native crashes costs (issue 19 item 2): the worker process against in-process steps.

    python benchmarks/contain_cost.py [--repeats 5] [--targets cpu,mcu] [--out benchmarks/results/DATE-contain]
    python benchmarks/contain_cost.py --render-only benchmarks/results/DATE-contain

Two measurements on the bundled digits example (256 calibration / 373 labelled eval images):

  build    `hwquant build examples/digits/model.keras -t TARGETS` in a child process, alternating
           HWQUANT_ISOLATE=1 (the default: converter, LiteRT and TFLM in one forked worker) and
           HWQUANT_ISOLATE=0 (every step in-process), ``repeats`` times each; medians of the wall
           time and of the CPU time of the build's process tree (user + sys, the worker included).
           The overhead is (isolated - in-process) / in-process: the goal is at most 5 %.
  parts    in this process, the worker's own costs: starting it (a fork after TensorFlow's import),
           one request's round trip (median of the 10 requests after the first, per worker), and sending the digits evaluation set (once per worker, as
           ``contain.shared`` does), with the number of requests one digits build makes.

The build comparison is noisy on a shared machine (a 2 % effect in a 15 s build); the parts bound
the overhead from below without that noise. No assertions: this is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DIGITS = REPO / "examples" / "digits"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(REPO / "src"))


def one_build(targets: str, isolate: bool, out: Path) -> tuple[float, float, int]:
    """(wall s, CPU s of the build's process tree, requests sent to the worker) of one CLI build."""
    env = {**os.environ, "HWQUANT_ISOLATE": "1" if isolate else "0", "HWQUANT_CONTAIN_COUNT": str(out / "n")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
    code = (
        "import os, atexit\n"
        "from hwquant.device import contain\n"
        "n = [0]\n"
        "real = contain.call\n"
        "def counted(*a, **k):\n"
        "    n[0] += contain.isolated()\n"
        "    return real(*a, **k)\n"
        "contain.call = counted\n"
        "atexit.register(lambda: open(os.environ['HWQUANT_CONTAIN_COUNT'], 'w').write(str(n[0])))\n"
        "from hwquant.cli.main import main\n"
        "main()\n"
    )
    args = ["build", str(DIGITS / "model.keras"), "-t", targets, "-d", str(DIGITS / "calibration.npz")]
    args += ["--eval-data", str(DIGITS / "eval.npz"), "-o", str(out / "build"), "--no-cache"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise SystemExit(f"the digits build failed ({r.returncode}):\n{r.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    count = int((out / "n").read_text() or 0) if (out / "n").is_file() else 0
    return wall, cpu, count


def builds(targets: str, repeats: int) -> dict[str, Any]:
    samples: dict[str, list[float]] = {
        "isolated_wall": [],
        "inprocess_wall": [],
        "isolated_cpu": [],
        "inprocess_cpu": [],
    }
    requests = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeats):  # alternate, so drift in the machine's load hits both alike
            for isolate in (True, False) if i % 2 == 0 else (False, True):
                out = Path(tmp) / f"{i}-{isolate}"
                out.mkdir()
                wall, cpu, n = one_build(targets, isolate, out)
                kind = "isolated" if isolate else "inprocess"
                samples[f"{kind}_wall"].append(wall)
                samples[f"{kind}_cpu"].append(cpu)
                requests = max(requests, n)
    med = {k: statistics.median(v) for k, v in samples.items()}
    return {
        "targets": targets,
        "repeats": repeats,
        "requests_per_build": requests,
        **{f"{k}_s": round(v, 3) for k, v in med.items()},
        "overhead_wall": round(med["isolated_wall"] / med["inprocess_wall"] - 1, 4),
        "overhead_cpu": round(med["isolated_cpu"] / med["inprocess_cpu"] - 1, 4),
        "samples": {k: [round(x, 3) for x in v] for k, v in samples.items()},
    }


def parts(repeats: int = 20) -> dict[str, Any]:
    """The worker's own costs in this process (TensorFlow imported, not run: fork mode)."""
    import numpy as np
    import tensorflow  # noqa: F401 - imported as the CLI imports it before its first request

    from hwquant.config.data import DataSet
    from hwquant.device import contain

    assert contain.start_method() == "fork", contain.start_method()
    starts, trips, sends = [], [], []
    with np.load(DIGITS / "eval.npz") as npz:  # the evaluation set as the build holds it: one sample per image
        images = next(v for k, v in npz.items() if v.ndim > 1)
    evaluation = DataSet([("", {"input": images[i : i + 1]}) for i in range(len(images))], "eval.npz", "npz", "")
    for _ in range(repeats):
        t0 = time.perf_counter()
        contain.call(os.getpid, stage="s", tool="t")  # starts the worker
        starts.append(time.perf_counter() - t0)
        for _ in range(10):  # the first requests of a fresh fork also pay its copy-on-write page faults
            t0 = time.perf_counter()
            contain.call(os.getpid, stage="s", tool="t")
            trips.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        contain.call(len, contain.Shared(evaluation), stage="s", tool="t")
        sends.append(time.perf_counter() - t0)
        contain.stop()
    return {
        "worker_start_ms": round(statistics.median(starts) * 1e3, 2),
        "round_trip_ms": round(statistics.median(trips) * 1e3, 3),
        "send_digits_eval_ms": round(statistics.median(sends) * 1e3, 2),
    }


GOAL = 0.05  # of a digits build


def render(result: dict[str, Any]) -> str:
    """results.md: the goal table and the raw samples."""
    b, p = result["build"], result["parts"]
    estimate = (p["worker_start_ms"] + b["requests_per_build"] * p["round_trip_ms"] + p["send_digits_eval_ms"]) / 1e3
    rows = [
        ("wall time, isolated / in-process - 1", b["overhead_wall"]),
        ("CPU time (build and worker), isolated / in-process - 1", b["overhead_cpu"]),
        ("the worker's own costs / in-process wall time", estimate / b["inprocess_wall_s"]),
    ]
    lines = [
        f"# Containing native crashes: the worker's cost ({result.get('date', '')})",
        "",
        f"Machine: {result['cpus']} cores shared with other jobs; load average before "
        f"{result['load_average_before']}, after {result['load_average_after']}.",
        "",
        f"`hwquant build examples/digits/model.keras -t {b['targets']}` (calibration 256, eval 373 images), "
        f"{b['repeats']} builds each way, alternating; medians. Isolated: the converter, LiteRT and TFLM in one "
        "forked worker (the default); in-process: `HWQUANT_ISOLATE=0`.",
        "",
        "| measure | result | goal | met |",
        "|---|---|---|---|",
        *(
            f"| {name} | {100 * v:+.1f} % | <= {100 * GOAL:.0f} % | {'yes' if v <= GOAL else 'no'} |"
            for name, v in rows
        ),
        "",
        f"- isolated: {b['isolated_wall_s']} s wall, {b['isolated_cpu_s']} s CPU; in-process: "
        f"{b['inprocess_wall_s']} s wall, {b['inprocess_cpu_s']} s CPU",
        f"- samples: {b['samples']}",
        f"- the worker's parts: start {p['worker_start_ms']} ms (a fork after TensorFlow's import), round trip "
        f"{p['round_trip_ms']} ms x {b['requests_per_build']} requests per build, the digits evaluation set sent "
        f"once {p['send_digits_eval_ms']} ms: {1e3 * estimate:.0f} ms",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--targets", default="cpu,mcu")
    ap.add_argument("--out", type=Path, default=None, help="folder for results.json and results.md")
    ap.add_argument("--render-only", type=Path, default=None, help="rewrite DIR/results.md from DIR/results.json")
    args = ap.parse_args()
    if args.render_only:
        result = json.loads((args.render_only / "results.json").read_text())
        (args.render_only / "results.md").write_text(render(result))
        return 0
    load = os.getloadavg()
    result = {"load_average_before": [round(x, 2) for x in load], "cpus": os.cpu_count()}
    result["date"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    result["parts"] = parts()
    result["build"] = builds(args.targets, args.repeats)
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    b, p = result["build"], result["parts"]
    print(
        f"digits build -t {b['targets']} ({b['repeats']} each, medians): isolated {b['isolated_wall_s']:.2f} s wall / "
        f"{b['isolated_cpu_s']:.2f} s CPU, in-process {b['inprocess_wall_s']:.2f} s / {b['inprocess_cpu_s']:.2f} s: "
        f"overhead {100 * b['overhead_wall']:+.1f} % wall, {100 * b['overhead_cpu']:+.1f} % CPU"
    )
    estimate = p["worker_start_ms"] + b["requests_per_build"] * p["round_trip_ms"] + p["send_digits_eval_ms"]
    print(
        f"parts: worker start {p['worker_start_ms']} ms, round trip {p['round_trip_ms']} ms x "
        f"{b['requests_per_build']} requests, digits eval set sent once {p['send_digits_eval_ms']} ms: "
        f"~{estimate:.0f} ms = {100 * estimate / 1e3 / b['inprocess_wall_s']:.2f} % of the in-process build"
    )
    print(f"load average before {result['load_average_before']}, after {result['load_average_after']}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps(result, indent=2))
        (args.out / "results.md").write_text(render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
