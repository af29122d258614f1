"""hwquant benchmark suite: hwquant measured against the raw TFLiteConverter in one run.

    python benchmarks/run.py            full run (documents its duration)
    python benchmarks/run.py --quick    development run (fewer samples, recipes and runs)

Writes benchmarks/results/<date>/ (results.json, results.md, plot.png). See benchmarks/README-section
in the project README for what each number means; goals are ratios, never timed assertions.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import ethosu_estimates, measure, models, render, search_cost

GOALS = {
    "build time, hwquant / raw (incl. verify)": 1.10,
    "multi-target build / one raw int8 conversion": 1.5,
    "cached rebuild / first build": 0.02,
    "artifact size, hwquant / raw": 1.001,
    "hwquant bench median / bare loop": 1.05,
    "default build within budget / plain build": 1.05,
    "--recipe auto build / plain build": 2.5,
    "--recipe auto / plain, as hwquant build processes": 2.5,
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--quick", action="store_true", help="fewer samples, recipes and runs (about 7 min on 2 shared cores)"
    )
    ap.add_argument("--models", default="digits,audio,mobilenetv2", help="comma-separated subset")
    ap.add_argument("--out", type=Path, default=None, help="results folder (default benchmarks/results/<date>)")
    ap.add_argument("--keep-work", action="store_true", help="keep the built models and artifacts")
    ap.add_argument("--only-search", action="store_true", help="run only the recipe-search section")
    ap.add_argument(
        "--render-only", type=Path, metavar="DIR", help="rewrite results.md and plot.png from DIR/results.json"
    )
    args = ap.parse_args(argv)
    if args.render_only:
        res = json.loads((args.render_only / "results.json").read_text())
        (args.render_only / "results.md").write_text(render.markdown(res) + "\n")
        if res["models"]:
            render.plot(res, args.render_only / "plot.png")
        return 0

    t_start = time.perf_counter()
    date = dt.date.today().isoformat()
    out = args.out or Path(__file__).resolve().parent / "results" / (date + ("-quick" if args.quick else ""))
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="hwquant-bench-"))
    log = lambda s: print(s, flush=True)
    mach = measure.machine()
    log(
        f"machine: {mach['cpu']}, {mach['usable_cores']}/{mach['logical_cores']} cores, {mach['memory_gib']} GiB, "
        f"{mach['platform']}, python {mach['python']}"
    )
    log("versions: " + ", ".join(f"{k} {v}" for k, v in mach["versions"].items() if v))
    log(f"load average at start: {mach['load_average_at_start']}")
    res: dict = {
        "date": date,
        "mode": "quick" if args.quick else "full",
        "machine": mach,
        "models": {},
        "command": "python benchmarks/run.py" + (" --quick" if args.quick else ""),
    }
    try:
        # Warm-up, outside the goals: the first TensorFlow conversion in a process pays for tracing machinery,
        # and the first hwquant build after TensorFlow ran here starts the fresh-interpreter worker that
        # contains native crashes (kept for the process; see docs/exit-codes.md). Its cost is recorded.
        digits = models.digits(work / "warmup", True)
        import hwquant

        measure.raw_convert.convert(
            digits.model, "int8-only", digits.calibration, "image", work / "warmup" / "r.tflite"
        )
        warm: list[float] = []
        for i in range(2):
            t0 = time.perf_counter()
            hwquant.build(
                digits.model,
                target="cpu",
                data=str(digits.calibration),
                eval_data=str(digits.eval),
                out=work / "warmup" / f"build{i}",
            )
            warm.append(time.perf_counter() - t0)
        res["warmup"] = {"first_build_s": warm[0], "second_build_s": warm[1], "worker_start_s": warm[0] - warm[1]}
        log(
            f"warm-up: first digits build {warm[0]:.2f} s, second {warm[1]:.2f} s: the fresh-interpreter worker "
            f"(this process ran TensorFlow) costs about {warm[0] - warm[1]:.2f} s once"
        )
        for name in [m.strip() for m in args.models.split(",") if m.strip() and not args.only_search]:
            case = models.BUILDERS[name](work, args.quick)
            log(
                f"\n== {name}: recipes {', '.join(case.recipes)}; build repeats {case.build_repeats}, "
                f"latency {case.latency_runs} runs after {case.latency_warmup} warm-up"
            )
            t0 = time.perf_counter()
            entry = {"notes": case.notes, "samples": case.counts(), "recipes": list(case.recipes)}
            log("-- build time and size")
            entry["builds"] = measure.build_times(case, work, log)
            log("-- multi-target")
            entry["multi_target"] = measure.multi_target(case, work, log)
            log("-- cache")
            entry["cache"] = measure.cache(case, work, log)
            log("-- latency")
            entry["latency"] = measure.latency(case, entry["builds"], log, rounds=2 if args.quick else 3)
            log("-- ethos-u (Vela's estimates)")
            entry["ethos_u"] = ethosu_estimates.estimates(case, work, log)
            entry["duration_s"] = time.perf_counter() - t0
            res["models"][name] = entry
        log("\n== recipe search: cost against a plain build, chosen against the best uniform recipe")
        res["search"] = search_cost.run(work, args.quick, log)
    finally:
        if not args.keep_work:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"work folder kept: {work}")
    res["load_average_at_end"] = measure.load()
    res["duration_s"] = time.perf_counter() - t_start
    res["goals"] = goals(res)
    from hwquant.device.metrics import json_safe

    (out / "results.json").write_text(json.dumps(json_safe(res), indent=2, default=str) + "\n")
    (out / "results.md").write_text(render.markdown(res) + "\n")
    if res["models"]:
        render.plot(res, out / "plot.png")
    log(f"\n{render.markdown(res).split('## Goals', 1)[1].split('## ', 1)[0].strip()}")
    log(f"\nresults: {out} (duration {res['duration_s'] / 60:.1f} min)")
    return 0


def goals(res: dict) -> dict:
    def worst(values):
        values = [v for v in values if v is not None]
        return max(values) if values else None

    cases = res["models"].values()
    measured = {
        "build time, hwquant / raw (incl. verify)": worst(b.get("ratio") for c in cases for b in c["builds"].values()),
        "multi-target build / one raw int8 conversion": worst(
            c["multi_target"]["ratio_vs_one_raw_int8"] for c in cases
        ),
        "cached rebuild / first build": worst(c["cache"].get("ratio") for c in cases),
        "artifact size, hwquant / raw": worst(
            b.get("size_ratio_hwquant_vs_raw") for c in cases for b in c["builds"].values()
        ),
        "hwquant bench median / bare loop": worst(
            l.get("bench_vs_bare", {}).get("ratio") for c in cases for l in c["latency"].values()
        ),
    }
    search = res.get("search", {}).get("cases", {})
    # only digits' default build stays within budget on the rule's proposal (the outlier model's searches)
    measured["default build within budget / plain build"] = worst(
        [search["digits"]["ratio_default_vs_plain"]] if "digits" in search else []
    )
    measured["--recipe auto build / plain build"] = worst(c["ratio_auto_vs_plain"] for c in search.values())
    measured["--recipe auto / plain, as hwquant build processes"] = worst(
        c["cli_ratio_auto_vs_plain"] for c in search.values()
    )
    return {k: {"limit": GOALS[k], "worst": v, "verdict": render.goal(v, GOALS[k])} for k, v in measured.items()}


if __name__ == "__main__":
    sys.exit(main())
