"""Checks that need no model: run before anything is loaded or hashed, so bad usage fails in a second.

- the model path has a format hwquant reads (``hwquant build /usr`` must not hash /usr first);
- ``--out`` can hold a build: not a regular file, not below one (``/dev/null/x``), writable;
- numeric options are in range: ``--eval-fraction`` in (0, 1], ``--mean``/``--std``/``--scale`` finite
  (and ``--std`` non-zero), ``--seed`` a non-negative integer, ``--image-size`` at most 8192 per side;
- the data specs: a file or folder is checked by type and size (never a FIFO or a device), and
  ``random:N`` is within the sample limit (``random:1000000000`` is exit 2 at once).
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

from hwquant.common.errors import UsageError
from hwquant.config.model_format import detect_format
from hwquant.plugin.facts import BuildOptions


def check(options: BuildOptions) -> None:
    check_numbers(options)
    detect_format(Path(options.model))
    for spec in (options.data, options.eval_data):
        check_data_spec(spec, options.max_samples)
    check_output(Path(options.out))


def check_data_spec(spec: object, max_samples: int | None = None) -> None:
    """A data spec that names a file or folder is checked by type and size; random:N by the sample limit.
    (module:function is bounded when it runs: see config.data.)"""
    from hwquant.common import files
    from hwquant.config import data

    if spec is None:
        return
    spec = str(spec)
    if spec.startswith("random:"):
        try:
            n = int(spec.split(":", 1)[1])
        except ValueError:
            return  # the loader's message names the bad spec
        data.check_bounds(spec, n, 0, limit=max_samples)
        return
    p = Path(spec)
    if p.exists() or p.is_symlink():
        files.checked(p, "data", folder_ok=True, hint="pass a .npz, a .npy, a folder of images or random:N")


def check_numbers(options: BuildOptions) -> None:
    f = options.eval_fraction
    if not isinstance(f, (int, float)) or isinstance(f, bool) or not math.isfinite(f) or not 0 < f <= 1:
        raise UsageError(
            f"--eval-fraction (eval_fraction) must be a number in (0, 1], got {f!r}",
            hint="e.g. --eval-fraction 0.2 holds back 20% of --data for verification",
        )
    for name in ("mean", "std"):
        values = getattr(options, name)
        if values is None:
            continue
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
            raise UsageError(f"--{name} must be finite numbers, got {', '.join(map(str, values))}")
        if name == "std" and any(v == 0 for v in values):
            raise UsageError("--std must not be 0 (pixels are divided by it)")
    if options.scale is not None and not math.isfinite(options.scale):
        raise UsageError(f"--scale must be a finite number, got {options.scale}")
    seed = options.seed
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**63:
        raise UsageError(f"--seed must be an integer from 0 to 2**63-1, got {seed!r}", hint="e.g. --seed 0")
    from hwquant.config.data import MAX_SAMPLES_CAP

    ms = options.max_samples
    if ms is not None and (not isinstance(ms, int) or isinstance(ms, bool) or not 1 <= ms <= MAX_SAMPLES_CAP):
        raise UsageError(
            f"--max-samples (max_samples) must be an integer from 1 to {MAX_SAMPLES_CAP:,}, got {ms!r}",
            hint="calibration needs 100-500 representative samples; the default limit is 100,000",
        )
    m = options.max_eval_samples
    if not isinstance(m, int) or isinstance(m, bool) or m < 1:
        raise UsageError(f"--max-eval-samples must be a positive integer, got {m!r}")
    if options.image_size:
        from hwquant.config.images import check_size

        h, w = options.image_size
        try:
            check_size(h, w)
        except Exception as exc:
            raise UsageError(str(getattr(exc, "message", exc)), hint=getattr(exc, "hint", None)) from None


def check_output(out: Path) -> None:
    """``out`` exists as a writable folder, or can be created (its first existing parent is writable)."""
    hint = "pass -o/--out a folder you can write to"
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder", hint=hint)
    probe = out
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise UsageError(f"--out {out}: {probe} is not a folder, so nothing can be made below it", hint=hint)
    try:  # the only reliable test (read-only mounts, ACLs, root): make and remove a folder
        os.rmdir(tempfile.mkdtemp(prefix=".hwquant-probe-", dir=probe))
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot write in {probe} ({exc.strerror or exc})", hint=hint) from None
