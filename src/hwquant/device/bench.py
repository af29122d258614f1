"""``hwquant bench MODEL.tflite [MORE.tflite ...]``: latency, memory and fidelity on the device.

Options follow LiteRT's benchmark_model: warmup runs, number of runs, a time cap, threads,
accelerator. Inputs are set once; the timed loop only calls invoke() between two clock reads.
Needs only numpy and the LiteRT runtime (no TensorFlow).
"""

from __future__ import annotations

import json
import re
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hwquant.common.errors import HwquantError, InputError, UsageError
from hwquant.device import metrics, runtime
from hwquant.device.bench_inputs import Sample, feed, load_samples, random_samples

PROFILE_UNAVAILABLE = (
    "the LiteRT Python API exposes no per-op profiler; for one, run LiteRT's benchmark_model "
    "tool with --enable_op_profiling=true on the device"
)


@dataclass
class BenchOptions:
    warmup_runs: int = 1
    num_runs: int = 50
    max_secs: float = 150.0
    num_threads: int | None = None
    accelerator: str = "cpu"  # cpu | gpu
    data: str | None = None
    reference: str | None = None
    signature: str | None = None
    max_samples: int = 100  # samples compared for fidelity
    seed: int = 0
    profile: bool = False

    def __post_init__(self) -> None:
        if self.accelerator not in ("cpu", "gpu"):
            raise UsageError(f"unknown accelerator {self.accelerator!r}", hint="use --accelerator cpu or gpu")
        if self.num_runs < 1 or self.warmup_runs < 0 or self.max_secs <= 0:
            raise UsageError("--num-runs must be >= 1, --warmup-runs >= 0 and --max-secs > 0")
        if self.num_threads is not None and self.num_threads < 1:
            raise UsageError("--num-threads must be >= 1")
        if self.reference and not self.data:
            raise UsageError(
                "--reference needs --data: fidelity is measured on real inputs",
                hint="pass --data FILE.npz|FILE.npy with the reference",
            )


# -- memory ---------------------------------------------------------------------------------------
def _status_kb(field: str) -> int | None:
    try:
        m = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
    except OSError:
        return None
    return int(m.group(1)) if m else None


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (Linux: write 5 to /proc/self/clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """Peak resident set size since the last reset (VmHWM), else of the whole process."""
    kb = _status_kb("VmHWM")
    if kb is not None:
        return kb / 1024.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux, bytes on macOS
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


# -- timing ---------------------------------------------------------------------------------------
def timed_runs(
    invoke: Callable[[], Any], n: int, max_secs: float, chunk: int, on_chunk: Callable[[int], None] | None = None
) -> list[int]:
    """Per-run latencies in ns of up to ``n`` calls, stopping after ``max_secs``.

    The inner loop is bare: two clock reads around invoke(), one append. Progress and the
    time cap are handled between chunks of ``chunk`` runs.
    """
    clock = time.perf_counter_ns
    times: list[int] = []
    append = times.append
    deadline = clock() + int(max_secs * 1e9)
    done = 0
    while done < n:
        for _ in range(min(chunk, n - done)):
            t0 = clock()
            invoke()
            append(clock() - t0)
        done = len(times)
        if on_chunk is not None:
            on_chunk(done)
        if clock() >= deadline:
            break
    return times


def latency_stats(times_ns: list[int]) -> dict[str, float]:
    """count, min, max, mean, std, p50, p90, p99 in milliseconds."""
    a = np.asarray(times_ns, dtype=np.float64) / 1e6
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    return {
        "count": int(a.size),
        "min": float(a.min()),
        "max": float(a.max()),
        "mean": float(a.mean()),
        "std": float(a.std()),
        "p50": float(p50),
        "p90": float(p90),
        "p99": float(p99),
    }


# -- one model ------------------------------------------------------------------------------------
class _Runner:
    """Holds one model on one accelerator: set inputs, invoke, read real-valued outputs."""

    def __init__(self, path: Path, opts: BenchOptions):
        self.path = path
        t0 = time.perf_counter()
        try:
            content = path.read_bytes()
        except FileNotFoundError:
            raise InputError(f"{path}: no such file", hint="pass a .tflite model path") from None
        self.size = len(content)
        self.interp = runtime.make_interpreter(content, opts.num_threads, source=str(path), allocate=False)
        t1 = time.perf_counter()
        runtime.allocate_tensors(self.interp, str(path))
        self.sig = runtime.signature(self.interp, opts.signature)
        self.compiled = None
        self.fully_accelerated = None
        if opts.accelerator == "gpu":
            self.compiled = runtime.open_compiled_model(content, "gpu")
            self.fully_accelerated = bool(self.compiled.is_fully_accelerated())
            _, self._in_names, self._out_names = runtime.compiled_io(self.compiled)
            self._ins = self.compiled.create_input_buffers(0)
            self._outs = self.compiled.create_output_buffers(0)
        t2 = time.perf_counter()
        self.load_ms, self.init_ms = (t1 - t0) * 1e3, (t2 - t1) * 1e3

    def set_inputs(self, sample: Sample) -> None:
        if self.compiled is not None:
            for name, buf in zip(self._in_names, self._ins):
                buf.write(feed(sample[name], self.sig.inputs[name]))
            return
        for name, d in self.sig.inputs.items():
            self.interp.set_tensor(d["index"], feed(sample[name], d))

    def invoker(self) -> Callable[[], Any]:
        """The bare call the timing loop makes."""
        if self.compiled is not None:
            run, ins, outs = self.compiled.run_by_index, self._ins, self._outs
            return lambda: run(0, ins, outs)
        invoke: Callable[[], Any] = self.interp.invoke
        return invoke

    def outputs(self) -> dict[str, np.ndarray]:
        """Real-valued outputs of the last invoke, keyed by signature output name."""
        res = {}
        for _i, (name, d) in enumerate(self.sig.outputs.items()):
            if self.compiled is not None:
                buf = self._outs[self._out_names.index(name)]
                raw = np.asarray(buf.read(int(np.prod(d["shape"])), np.dtype(d["dtype"]))).reshape(tuple(d["shape"]))
            else:
                raw = self.interp.get_tensor(d["index"])
            res[name] = runtime.dequantize(np.array(raw), d)
        return res

    def run_samples(self, samples: list[Sample]) -> dict[str, list[np.ndarray]]:
        out: dict[str, list[np.ndarray]] = {}
        invoke = self.invoker()
        for s in samples:
            self.set_inputs(s)
            invoke()
            for name, y in self.outputs().items():
                out.setdefault(name, []).append(y)
        return out


_REFERENCE_HINT = "compare a model with the float model it was converted from (same inputs and outputs)"


def _io(sig_io: dict[str, dict[str, Any]]) -> str:
    return ", ".join(f"{n} {[int(x) for x in d['shape']]}" for n, d in sig_io.items()) or "none"


def _reference_inputs(model: runtime.Signature, ref: runtime.Signature, reference: str) -> dict[str, str]:
    """Model input name -> reference input name: by name, or by position when only the names differ;
    InputError naming both sets of inputs when their number or shapes differ."""
    ins, rins = model.inputs, ref.inputs
    pairs = {n: n for n in ins} if set(ins) == set(rins) else dict(zip(ins, rins)) if len(ins) == len(rins) else None
    if pairs is None or any(
        [int(x) for x in ins[a]["shape"]] != [int(x) for x in rins[b]["shape"]] for a, b in pairs.items()
    ):
        raise InputError(
            f"--reference {reference}: its inputs ({_io(rins)}) differ from the model's ({_io(ins)})",
            hint=_REFERENCE_HINT,
        )
    return pairs


def _align(
    ref: dict[str, list[np.ndarray]], got: dict[str, list[np.ndarray]]
) -> tuple[dict[str, list[np.ndarray]], dict[str, list[np.ndarray]]]:
    """Match outputs by name, or by position when the names differ but the counts agree."""
    if set(ref) == set(got) or len(ref) != len(got):
        return ref, got
    return dict(zip(got, ref.values())), got


def bench_model(path: str | Path, opts: BenchOptions, progress: Any = None) -> dict[str, Any]:
    """Benchmark one model; returns plain data (see ``bench_command`` for the table)."""
    path = Path(path)
    rss_reset = reset_peak_rss()
    runner = _Runner(path, opts)
    if opts.data:
        samples = load_samples(opts.data, runner.sig, opts.max_samples)
        if not samples:
            raise InputError(f"{opts.data}: holds no samples")
        source = f"data:{opts.data}"
    else:
        samples = random_samples(runner.sig, 1, opts.seed)
        source = "random"
    runner.set_inputs(samples[0])  # inputs are set once; the loop below only invokes
    invoke = runner.invoker()

    t0 = time.perf_counter_ns()
    invoke()
    first_ms = (time.perf_counter_ns() - t0) / 1e6
    warm = timed_runs(invoke, opts.warmup_runs, opts.max_secs, max(opts.warmup_runs, 1)) if opts.warmup_runs else []
    per_run_s = (np.mean(warm) / 1e9) if warm else first_ms / 1e3
    chunk = max(1, int(0.1 / max(per_run_s, 1e-7)))
    expected_s = min(per_run_s * opts.num_runs, opts.max_secs)
    task = None
    if progress is not None and expected_s > 1.0:
        task = progress.add_task(f"{path.name}", total=opts.num_runs)
    times = timed_runs(
        invoke,
        opts.num_runs,
        opts.max_secs,
        chunk,
        (lambda done: progress.update(task, completed=done)) if task is not None else None,
    )
    if task is not None:
        progress.remove_task(task)
    stats = latency_stats(times)

    result: dict[str, Any] = {
        "model": str(path),
        "size_bytes": runner.size,
        "accelerator": opts.accelerator,
        "num_threads": opts.num_threads,
        "inputs": source,
        "signature": runner.sig.key,
        "load_ms": runner.load_ms,
        "init_ms": runner.init_ms,
        "first_inference_ms": first_ms,
        "warmup": latency_stats(warm) if warm else None,
        "latency_ms": stats,
        "throughput_per_s": 1e3 / stats["mean"] if stats["mean"] > 0 else None,
        "peak_rss_mb": peak_rss_mb(),
        "peak_rss_scope": "this model" if rss_reset else "process",
        "stopped_by_max_secs": stats["count"] < opts.num_runs,
    }
    if runner.fully_accelerated is not None:
        result["fully_accelerated"] = runner.fully_accelerated
    if opts.profile:
        result["profile"] = {"available": False, "reason": PROFILE_UNAVAILABLE}
    if opts.reference:
        ref_runner = _Runner(Path(opts.reference), BenchOptions(num_threads=opts.num_threads, signature=opts.signature))
        names = _reference_inputs(runner.sig, ref_runner.sig, opts.reference)
        got = runner.run_samples(samples)
        ref, got = _align(ref_runner.run_samples([{names[k]: v for k, v in s.items()} for s in samples]), got)
        try:
            result["fidelity"] = {"reference": opts.reference, "outputs": metrics.compare(ref, got)}
        except ValueError as exc:  # output names or shapes differ
            raise InputError(
                f"--reference {opts.reference}: its outputs do not match the model's ({exc})", hint=_REFERENCE_HINT
            ) from None
    if runner.compiled is not None:  # destroy the accelerators here, LiteRT's INFO lines about it filtered
        with runtime.native_info_filtered():
            del invoke
            runner.compiled = runner._ins = runner._outs = None
    return result


def add_ratios(results: list[dict[str, Any]]) -> None:
    """Speed-up and size ratio of each model against the first one (the baseline). The speed-up compares
    median latencies: one outlier run moves a mean (a 3 % median difference once read as 26x), not a median."""
    base = results[0]
    for r in results:
        r["vs_first"] = {
            "speedup": base["latency_ms"]["p50"] / r["latency_ms"]["p50"],
            "speedup_of": "median latency",
            "size_ratio": r["size_bytes"] / base["size_bytes"],
        }


def bench(paths: list[str], opts: BenchOptions, progress: Any = None) -> dict[str, Any]:
    """Benchmark each model in turn with the same options; the first is the baseline."""
    if not paths:
        raise UsageError("no model given", hint="hwquant bench MODEL.tflite [MORE.tflite ...]")
    results = [bench_model(p, opts, progress) for p in paths]
    add_ratios(results)
    return {"runtime": runtime.runtime_version(), "options": asdict(opts), "models": results}


class _LineProgress:
    """Progress for a stderr that is not a terminal: one line when a long run starts and ends."""

    def __init__(self, console: Any):
        self.console = console
        self.total: dict[str, int] = {}

    def add_task(self, description: str, total: int) -> str:
        self.console.print(f"benchmarking {description}: {total} runs ...", highlight=False)
        self.total[description] = total
        return description

    def update(self, task: str, completed: int) -> None:
        pass

    def remove_task(self, task: str) -> None:
        self.console.print(f"benchmarking {task}: done", highlight=False)


def bench_command(paths: list[str], as_json: bool = False, console: Any = None, **options: Any) -> int:
    """The body of ``hwquant bench``; returns the exit code (errors print their hint)."""
    import contextlib

    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from hwquant.common.console import make_console
    from hwquant.device.bench_render import render

    err = make_console(stderr=True)
    try:
        opts = BenchOptions(**options)
        bar: contextlib.AbstractContextManager[Any]
        if err.is_terminal:
            bar = Progress(
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err,
                transient=True,
            )
        else:
            bar = contextlib.nullcontext(_LineProgress(err))
        with bar as progress:
            report = bench(list(paths), opts, progress)
    except HwquantError as exc:
        err.print(f"[bold red]error:[/] {escape(exc.message)}", soft_wrap=True)
        if exc.hint:
            err.print(f"  hint: {escape(exc.hint)}", soft_wrap=True)
        return exc.exit_code
    if as_json:
        print(json.dumps(metrics.json_safe(report), indent=2))
    else:
        render(report, console or make_console())
    return 0


def host_latency_ms(artifact: bytes, runs: int = 20, num_threads: int = 1) -> dict[str, Any]:
    """Mean/median latency of the artifact in the LiteRT CPU interpreter on this host (zeros in),
    timed in the build's worker process (``device.contain``): a crash there is exit 4."""
    from hwquant.device import contain

    return contain.call(
        _host_latency_here,
        artifact,
        runs,
        num_threads,
        stage="timing the artifact",
        tool="the LiteRT interpreter",
        about=f"the artifact is {len(artifact)} bytes",
        capture=True,
    )


def _host_latency_here(artifact: bytes, runs: int, num_threads: int) -> dict[str, Any]:
    import numpy as np

    from hwquant.device.runtime import make_interpreter

    interp = make_interpreter(artifact, num_threads=num_threads, source="artifact")
    for d in interp.get_input_details():
        interp.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
    interp.invoke()
    times = np.asarray(timed_runs(interp.invoke, runs, max_secs=3600.0, chunk=runs)) / 1e6
    return {
        "mean": float(np.mean(times)),
        "median": float(np.median(times)),
        "runs": runs,
        "runtime": f"LiteRT CPU interpreter on the build host, {num_threads} thread{'s' if num_threads > 1 else ''}",
    }
