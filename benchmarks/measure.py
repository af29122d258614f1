"""Measurements: build time (hwquant vs raw), multi-target, cache, latency, bench overhead.

Every number is taken in this process on this machine; ratios compare runs made minutes apart
at most, so the shared-machine load (recorded as the load average) affects both sides.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from . import raw_convert
from .models import Case

# What `--target cpu,edgetpu,mcu,gpu` builds (each backend's default recipe) as raw converter jobs.
MULTI_TARGETS = ("cpu", "edgetpu", "mcu", "gpu")
RAW_FOR_TARGET = {"cpu": "int8-float-fallback", "edgetpu": "int8-only/uint8", "mcu": "int8-only", "gpu": "float16"}


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or cpu
    mem = None
    try:
        kb = int(next(l for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal")).split()[1])
        mem = round(kb / 1024 / 1024, 1)
    except (OSError, StopIteration):
        pass

    def v(dist):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    return {
        "cpu": cpu,
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "memory_gib": mem,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "versions": {
            d: v(d)
            for d in ("hwquant", "tensorflow", "tensorflow-cpu", "keras", "ai-edge-litert", "numpy", "tflite-micro")
        },
        "load_average_at_start": load(),
    }


def _build_kwargs(case: Case, out: Path, **extra) -> dict[str, Any]:
    """Options of every timed build; a build cache, where hwquant has one that is on by default, is
    switched off so that repeats measure real builds (the cache is measured on its own)."""
    from hwquant.plugin.facts import BuildOptions

    fields = {f.name: f for f in dataclasses.fields(BuildOptions)}
    off = {"no_cache": True} if "no_cache" in fields else {}
    return {"data": str(case.calibration), "eval_data": str(case.eval), "out": out, **off, **extra}


def build_times(case: Case, work: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """Per recipe: hwquant.build (target cpu, whole pipeline) vs one raw converter job, alternating order."""
    import hwquant

    rows = {}
    for recipe in case.recipes:
        hw_t, raw_t, errors = [], [], []
        hw_res = raw_res = None
        for rep in range(case.build_repeats):

            def run_hw():
                t0 = time.perf_counter()
                res = hwquant.build(
                    case.model,
                    target="cpu",
                    recipe=recipe,
                    **_build_kwargs(case, work / case.name / "hwquant" / recipe),
                )
                hw_t.append(time.perf_counter() - t0)
                return res

            def run_raw():
                res = raw_convert.convert(
                    case.model, recipe, case.calibration, case.input_name, work / case.name / "raw" / f"{recipe}.tflite"
                )
                raw_t.append(res["wall_s"])
                return res

            try:
                if rep % 2 == 0:
                    hw_res, raw_res = run_hw(), run_raw()
                else:
                    raw_res, hw_res = run_raw(), run_hw()
            except Exception as exc:  # a recipe the model cannot take is a result, not a crash
                errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
                break
        row: dict[str, Any] = {"recipe": recipe, "errors": errors}
        if hw_res is not None and raw_res is not None and not errors:
            hw_med, raw_med = statistics.median(hw_t), statistics.median(raw_t)
            art = Path(hw_res.artifact_path)
            raw_bytes = Path(raw_res["path"]).read_bytes()
            row.update(
                {
                    "hwquant_s": hw_t,
                    "raw_s": raw_t,
                    "hwquant_median_s": hw_med,
                    "raw_median_s": raw_med,
                    "ratio": hw_med / raw_med,
                    "hwquant_stages_s": hw_res.timings_s,
                    "size_bytes": len(art.read_bytes()),
                    "raw_size_bytes": len(raw_bytes),
                    "float32_size_bytes": hw_res.size_bytes["float32_tflite"],
                    "size_ratio_to_float": len(art.read_bytes()) / hw_res.size_bytes["float32_tflite"],
                    "size_ratio_hwquant_vs_raw": len(art.read_bytes()) / len(raw_bytes),
                    "byte_identical_to_raw": art.read_bytes() == raw_bytes,
                    "artifact": str(art),
                    "fidelity": hw_res.fidelity,
                    "cache": hw_res.report.get("cache"),
                }
            )
            log(
                f"  {case.name:12s} {recipe:20s} hwquant {hw_med:6.2f}s  raw {raw_med:6.2f}s  "
                f"ratio {hw_med / raw_med:5.2f}  size {row['size_bytes']:>9,d} B"
            )
        else:
            log(f"  {case.name:12s} {recipe:20s} FAILED: {'; '.join(errors)}")
        row["load_average"] = load()
        rows[recipe] = row
    return rows


def edgetpu_available() -> tuple[bool, str]:
    from hwquant.plugin.manager import registry

    try:
        status = registry().get("edgetpu").toolchain()
    except Exception as exc:  # the backend itself may be unfinished
        return False, f"edgetpu backend unavailable: {type(exc).__name__}: {exc}"
    return bool(status.available), status.detail if hasattr(status, "detail") else str(status)


def multi_target(case: Case, work: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """`build --target cpu,edgetpu,mcu,gpu` (the pipeline's build_many, one preparation) vs four raw jobs.

    build_many stops at the first failing target; here each target's failure is recorded and the
    others still run (pipeline.build_target per target with that target's options, as build_many
    does for a manifest), and without an Edge TPU compiler the edgetpu target runs --preflight-only
    (its int8/uint8 conversion and op check; no compile).
    """
    from hwquant.pipeline import many as pipeline
    from hwquant.plugin import options as backend_opts
    from hwquant.plugin.facts import BuildOptions
    from hwquant.plugin.manager import registry

    etpu_ok, etpu_detail = edgetpu_available()
    out = work / case.name / "multi"
    options = BuildOptions(model=case.model, target=",".join(MULTI_TARGETS), **_build_kwargs(case, out))
    targets: dict[str, Any] = {}
    t0 = time.perf_counter()
    prep = pipeline.prepare(options, log=lambda s: None)
    try:
        for name in MULTI_TARGETS:
            t1 = time.perf_counter()
            opts = options
            if name == "edgetpu" and not etpu_ok:
                opts = dataclasses.replace(options, preflight_only=True)
            try:
                backend = registry().get(name)
                # each backend's options with their declared defaults, as build_many parses them
                opts = dataclasses.replace(opts, backend_options=backend_opts.parse(name, backend.backend_options, {}))
                res = pipeline.build_target(prep, backend, lambda s: None, opts)
                targets[name] = {
                    "status": "preflight-only" if opts.preflight_only else "built",
                    "recipe": res.recipe["name"],
                    "io_dtype": res.recipe["fields"]["io_dtype"],
                }
            except Exception as exc:
                targets[name] = {"status": "failed", "error": f"{type(exc).__name__}: {str(exc).splitlines()[0]}"}
            targets[name]["wall_s"] = time.perf_counter() - t1
    finally:
        prep.loaded.cleanup()
    hw_s = time.perf_counter() - t0
    raw = {}
    for name in MULTI_TARGETS:
        recipe = RAW_FOR_TARGET[name]
        r = raw_convert.convert(
            case.model,
            recipe,
            case.calibration,
            case.input_name,
            work / case.name / "raw-multi" / f"{recipe.replace('/', '-')}.tflite",
        )
        raw[name] = {"recipe": recipe, "wall_s": r["wall_s"]}
    raw_sum = sum(r["wall_s"] for r in raw.values())
    one_int8 = raw["mcu"]["wall_s"]
    # a failed target did less work than the raw jobs it is compared with: no ratio (the goal reads n/a)
    all_built = all(t["status"] != "failed" for t in targets.values())
    result = {
        "hwquant_s": hw_s,
        "prepare_s": prep.timings,
        "targets": targets,
        "raw": raw,
        "raw_sum_s": raw_sum,
        "raw_one_int8_s": one_int8,
        "ratio_vs_one_raw_int8": hw_s / one_int8 if all_built else None,
        "ratio_vs_raw_sum": hw_s / raw_sum if all_built else None,
        "edgetpu": "full build (compiler available)"
        if etpu_ok
        else f"--preflight-only (conversion + op check, no compile): {etpu_detail}",
        "load_average": load(),
    }
    log(
        f"  {case.name:12s} multi-target hwquant {hw_s:6.2f}s  raw x4 {raw_sum:6.2f}s  one raw int8 {one_int8:6.2f}s"
        f"  ratio {hw_s / one_int8:4.2f}x one int8{'' if all_built else ' (n/a: a target failed)'}  "
        + " ".join(f"{k}={v['status']}" for k, v in targets.items())
    )
    return result


def cache(case: Case, work: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """First build vs rebuild with a cache folder (pipeline.build_many(..., cache_dir=)), when hwquant has one."""
    import inspect

    from hwquant.pipeline import many as pipeline
    from hwquant.plugin.facts import BuildOptions

    try:
        import hwquant.cache.store  # noqa: F401  (hwquant/cache.py before the layout by concern)

        has_module = True
    except ImportError:
        has_module = False
    has_param = "cache_dir" in inspect.signature(pipeline.build_many).parameters
    if not (has_module and has_param):
        log(
            f"  {case.name:12s} cache: not available (hwquant.cache={'yes' if has_module else 'no'}, "
            f"build_many cache_dir={'yes' if has_param else 'no'})"
        )
        return {
            "available": False,
            "reason": "hwquant has no build cache in this checkout (no hwquant/cache/store.py "
            "or no cache_dir parameter on pipeline.build_many)",
        }
    cdir = work / case.name / "cache"
    times, reports = [], []
    for i in range(2):
        options = BuildOptions(model=case.model, target="cpu", **_build_kwargs(case, work / case.name / f"cached-{i}"))
        t0 = time.perf_counter()
        [r] = pipeline.build_many(options, lambda s: None, cache_dir=cdir)
        times.append(time.perf_counter() - t0)
        reports.append({"cache": r.report.get("cache"), "timings_s": r.report.get("timings_s")})
    hit = bool((reports[1]["cache"] or {}).get("hit"))
    log(
        f"  {case.name:12s} cache: first {times[0]:.2f}s rebuild {times[1]:.3f}s ratio {times[1] / times[0]:.4f}"
        f" (hit: {hit})"
    )
    return {
        "available": True,
        "first_s": times[0],
        "rebuild_s": times[1],
        "ratio": times[1] / times[0],
        "rebuild_was_hit": hit,
        "reports": reports,
        "load_average": load(),
    }


# -- latency ------------------------------------------------------------------------------------
def _interpreter(content: bytes, threads: int):
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=content, num_threads=threads)
    interp.allocate_tensors()
    for d in interp.get_input_details():
        rng = np.random.default_rng(0)
        if np.issubdtype(d["dtype"], np.integer):
            info = np.iinfo(d["dtype"])
            x = rng.integers(info.min, info.max, d["shape"], dtype=d["dtype"])
        else:
            x = rng.random(d["shape"]).astype(d["dtype"])
        interp.set_tensor(d["index"], x)
    return interp


def bare_loop(path: Path, threads: int, warmup: int, runs: int, max_secs: float) -> dict[str, Any]:
    """The baseline loop: LiteRT Interpreter, inputs set once, invoke() between two clock reads."""
    interp = _interpreter(Path(path).read_bytes(), threads)
    invoke, clock = interp.invoke, time.perf_counter_ns
    for _ in range(warmup):
        invoke()
    times = []
    deadline = clock() + int(max_secs * 1e9)
    for _ in range(runs):
        t0 = clock()
        invoke()
        times.append(clock() - t0)
        if t0 > deadline:
            break
    return {"median_ms": float(np.median(times)) / 1e6, "runs": len(times), "warmup": warmup}


def hwquant_bench(path: Path, threads: int, warmup: int, runs: int, max_secs: float) -> dict[str, Any] | None:
    try:
        from hwquant.device.bench import BenchOptions, bench_model
    except ImportError:
        return None
    r = bench_model(path, BenchOptions(warmup_runs=warmup, num_runs=runs, max_secs=max_secs, num_threads=threads))
    return {"median_ms": r["latency_ms"]["p50"], "runs": r["latency_ms"]["count"], "warmup": warmup}


def latency(case: Case, builds: dict[str, Any], log: Callable[[str], None], rounds: int = 3) -> dict[str, Any]:
    """Per recipe: bare-loop median at 1 and 2 threads, and hwquant bench vs the bare loop (1 thread).

    The bench comparison alternates bare / bench ``rounds`` times and compares the medians over the rounds.
    """
    out: dict[str, Any] = {}
    w, n, cap = case.latency_warmup, case.latency_runs, case.latency_max_secs
    for recipe, b in builds.items():
        if "artifact" not in b:
            continue
        path = Path(b["artifact"])
        row: dict[str, Any] = {}
        for threads in (1, 2):
            row[f"threads_{threads}"] = bare_loop(path, threads, w, n, cap)
        bare_r, bench_r = [], []
        for _ in range(rounds):
            bare_r.append(bare_loop(path, 1, w, n, cap)["median_ms"])
            r = hwquant_bench(path, 1, w, n, cap)
            if r is None:
                break
            bench_r.append(r["median_ms"])
        if bench_r:
            row["bench_vs_bare"] = {
                "bench_median_ms": statistics.median(bench_r),
                "bare_median_ms": statistics.median(bare_r),
                "ratio": statistics.median(bench_r) / statistics.median(bare_r),
                "rounds": len(bench_r),
            }
        else:
            row["bench_vs_bare"] = {"available": False, "reason": "hwquant.bench not importable"}
        out[recipe] = row
    for threads in (1, 2):
        base = out.get("float32", {}).get(f"threads_{threads}", {}).get("median_ms")
        for recipe, row in out.items():
            if base:
                row[f"threads_{threads}"]["ratio_to_float32"] = row[f"threads_{threads}"]["median_ms"] / base
    for recipe, row in out.items():
        bb = row["bench_vs_bare"]
        log(
            f"  {case.name:12s} {recipe:20s} 1t {row['threads_1']['median_ms']:8.3f} ms "
            f"(x{row['threads_1'].get('ratio_to_float32', float('nan')):.2f})  2t {row['threads_2']['median_ms']:8.3f} ms"
            f"  bench/bare {bb.get('ratio', float('nan')):.3f}"
        )
    return out
