"""results.md (Markdown tables) and plot.png (size vs latency vs fidelity, one panel per model)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any


def _f(x: Any, fmt: str = ".2f") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return format(x, fmt)


def _fid(b: dict[str, Any]) -> dict[str, Any]:
    outs = (b.get("fidelity") or {}).get("outputs") or {}
    return next(iter(outs.values()), {}) if outs else {}


def goal(value: float | None, limit: float) -> str:
    if value is None:
        return "n/a"
    return "met" if value <= limit else "missed"


def markdown(res: dict[str, Any]) -> str:
    m = res["machine"]
    lines = [
        f"# hwquant benchmarks ({res['mode']} run, {res['date']})",
        "",
        f"Machine: {m['cpu']}, {m['usable_cores']} usable of {m['logical_cores']} logical cores, "
        f"{m['memory_gib']} GiB, {m['platform']}, Python {m['python']}.  ",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v) + ".  ",
        f"Load average (1/5/15 min) at start {m['load_average_at_start']}, at end {res['load_average_at_end']} "
        "(the cores are shared with other jobs: absolute times are noisy, ratios are taken back to back).  ",
        f"Duration: {res['duration_s'] / 60:.1f} min. Command: `{res['command']}`",
        "",
    ]
    g = res["goals"]
    lines += ["## Goals", "", "| goal | limit | measured (worst case over models) | verdict |", "|---|---|---|---|"]
    for name, row in g.items():
        lines.append(f"| {name} | <= {row['limit']} | {_f(row['worst'], '.3f')} | {row['verdict']} |")
    lines += [""]
    if res.get("warmup"):
        w = res["warmup"]
        lines += [
            f"Warm-up (outside the goals): the first digits build after TensorFlow ran in this process took "
            f"{_f(w['first_build_s'])} s, the second {_f(w['second_build_s'])} s; the difference "
            f"({_f(w['worker_start_s'])} s) is the fresh-interpreter worker that contains native crashes, started "
            "once per process (a `hwquant` command forks it instead, in milliseconds).",
            "",
        ]
    if res.get("search"):
        from benchmarks.search_cost import markdown as search_markdown

        lines += search_markdown(res["search"])
    for name, case in res["models"].items():
        lines += [
            f"## {name}",
            "",
            "; ".join(case["notes"]) + f" (samples: {case['samples']})",
            "",
            "| recipe | hwquant build s | raw build s | ratio | size B | x float | hwquant/raw size | "
            "1 thread ms | x float | 2 threads ms | x float | bench/bare | SNR dB | cosine | top-1 agree | accuracy |",
            "|---|" + "---:|" * 15,
        ]
        for recipe, b in case["builds"].items():
            if b.get("errors"):  # a recipe the converter or runtime rejected for this model
                lines.append(f"| {recipe} | failed: {'; '.join(b['errors'])[:120]} |" + " |" * 14)
                continue
            lat = case["latency"].get(recipe, {})
            t1, t2 = lat.get("threads_1", {}), lat.get("threads_2", {})
            fid = _fid(b)
            acc = fid.get("accuracy", {}).get("quantized")
            lines.append(
                f"| {recipe} | {_f(b['hwquant_median_s'])} | {_f(b['raw_median_s'])} | {_f(b['ratio'])} | "
                f"{b['size_bytes']:,} | {_f(b['size_ratio_to_float'], '.3f')} | {_f(b['size_ratio_hwquant_vs_raw'], '.4f')} | "
                f"{_f(t1.get('median_ms'), '.3f')} | {_f(t1.get('ratio_to_float32'))} | {_f(t2.get('median_ms'), '.3f')} | "
                f"{_f(t2.get('ratio_to_float32'))} | {_f(lat.get('bench_vs_bare', {}).get('ratio'), '.3f')} | "
                f"{_f(fid.get('snr_db'), '.1f')} | {_f(fid.get('cosine'), '.5f')} | {_f(fid.get('top1_agreement'), '.3f')} | "
                f"{_f(acc * 100 if acc is not None else None, '.2f')}{'%' if acc is not None else ''} |"
            )
        mt = case["multi_target"]
        lines += [
            "",
            f"Multi-target (`--target cpu,edgetpu,mcu,gpu`, one preparation): {_f(mt['hwquant_s'])} s; "
            f"four raw jobs {_f(mt['raw_sum_s'])} s; one raw int8 job {_f(mt['raw_one_int8_s'])} s; "
            f"ratio to one raw int8 **{_f(mt['ratio_vs_one_raw_int8'])}**, to the four raw jobs "
            f"{_f(mt['ratio_vs_raw_sum'])}. Targets: "
            + ", ".join(
                f"{k} {v['status']}" + (f" ({v['error'][:100]})" if v.get("error") else "")
                for k, v in mt["targets"].items()
            )
            + f". Edge TPU: {mt['edgetpu']}.",
            "",
        ]
        lines += _ethos_u(case)
        c = case["cache"]
        lines += [
            "Cached rebuild: "
            + (
                f"first {_f(c['first_s'])} s, rebuild {_f(c['rebuild_s'], '.3f')} s, ratio **{_f(c['ratio'], '.4f')}**."
                if c.get("available")
                else f"not available ({c['reason']})."
            ),
            "",
        ]
    lines += [
        "Build times are medians of the repeats listed in results.json, alternating which side runs first. "
        "`hwquant build` is the in-process `hwquant.build(..., target='cpu', recipe=R)`: load, float32 "
        "reference conversion, data, conversion, op check, LiteRT verify on the eval set, report. The raw job "
        "is benchmarks/raw_convert.py: load the .keras, export a batch-1 SavedModel, TFLiteConverter with the "
        "recipe's settings and the same calibration samples, write the file. Latency: LiteRT interpreter, "
        "inputs set once, median of the timed invoke() calls after warm-up; bench/bare compares "
        "`hwquant.bench.bench_model` p50 with a bare loop on the same file (1 thread, alternating rounds: 2 quick, 3 full). "
        "Fidelity: hwquant's verify stage on the eval set against the float32 TFLite model.",
        "",
    ]
    return "\n".join(lines)


def _ethos_u(case: dict[str, Any]) -> list[str]:
    """Vela's estimates next to the measured host latency of the int8 model."""
    e = case.get("ethos_u")
    if not e:
        return []
    if not e.get("available"):
        return [f"Ethos-U: not estimated ({e.get('reason')}).", ""]
    host = case["latency"].get("int8-only", {}).get("threads_1", {}).get("median_ms")
    host_ips = f"{1000.0 / host:,.0f}" if host else "-"
    lines = [
        "Ethos-U, **Vela's estimates** (its performance model, not measurements) for the int8-only model; "
        f"host: LiteRT, 1 thread, measured {_f(host, '.3f')} ms = {host_ips} inferences/s.",
        "",
        "| accelerator | system config | memory mode | est. inferences/s | est. cycles_total | NPU ops | CPU ops | "
        "SRAM used KiB | compiled B | arena B | x host inferences/s |",
        "|---|---|---|" + "---:|" * 8,
    ]
    for accel, r in e["configs"].items():
        ips = r.get("inferences_per_second")
        lines.append(
            f"| {accel} | {r['system_config']} | {r['memory_mode']} | {_f(ips, ',.0f')} | "
            f"{r['cycles_total']:,} | {r['npu_operators']} | {r['cpu_operators']} | "
            f"{_f(r['sram_memory_used'], '.1f')} | {r['compiled_bytes']:,} | {r['arena_bytes']:,} | "
            f"{_f(ips * host / 1000.0 if ips and host else None, '.1f')} |"
        )
    return [*lines, ""]


def plot(res: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    cases = res["models"]
    fig, axes = plt.subplots(1, len(cases), figsize=(6.5 * len(cases), 5.2), squeeze=False)
    fig.subplots_adjust(wspace=0.38)
    sc = None
    for ax, (name, case) in zip(axes[0], cases.items()):
        xs, ys, cs, labels = [], [], [], []
        for recipe, b in case["builds"].items():
            lat = case["latency"].get(recipe, {}).get("threads_1", {}).get("median_ms")
            if b.get("errors") or lat is None:
                continue
            snr = _fid(b).get("snr_db")
            xs.append(b["size_bytes"] / 1024)
            ys.append(lat)
            cs.append(60.0 if snr is None else min(snr, 60.0))  # float32 vs itself: identical (inf)
            labels.append(f"{recipe} ({'identical' if snr is None else f'{snr:.0f} dB'})")
        sc = ax.scatter(xs, ys, c=cs, cmap="viridis", vmin=0, vmax=60, s=90, edgecolors="black")
        order = sorted(range(len(xs)), key=lambda i: (ys[i], xs[i]))
        for rank, i in enumerate(order):  # alternate label sides so that close points stay readable
            ax.annotate(
                labels[i],
                (xs[i], ys[i]),
                textcoords="offset points",
                fontsize=7.5,
                xytext=(7, 6 if rank % 2 == 0 else -11),
                ha="left",
            )
        ax.margins(x=0.35, y=0.2)
        ax.set_xscale("log")
        ax.set_yscale("log")
        for axis in (ax.xaxis, ax.yaxis):  # plain numbers; minor ticks unlabeled (they overlap on short ranges)
            axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
            axis.set_minor_formatter(ticker.NullFormatter())
        ax.set_title(f"{name} (label: recipe, SNR vs float32)")
        ax.set_xlabel("artifact size (KiB, log)")
        ax.set_ylabel("LiteRT latency, 1 thread, median (ms, log)")
        ax.grid(True, which="both", alpha=0.3)
    if sc is not None:
        cb = fig.colorbar(sc, ax=axes[0].tolist(), shrink=0.9)
        cb.set_label("fidelity: SNR vs float32 (dB, capped at 60)")
    fig.suptitle(f"hwquant recipes: size vs latency vs fidelity ({res['machine']['cpu']}, {res['date']})")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
