"""`hwquant plan`: every (model, target table) job with its cache key, without loading a model.

The key is the build's own (``targets.resolve``, ``cache.key_inputs`` and ``cache.make_key``, the
functions ``build_many`` calls), computed from file hashes, options and package metadata only: no
TensorFlow, no converter module. A CI engine turns the job list into a matrix
(GitHub Actions ``fromJSON``, a generated GitLab child pipeline) and runs `hwquant build --job ID`
per entry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hwquant.cache import store as cache_mod
from hwquant.config import outpath
from hwquant.config.targets import resolve
from hwquant.config.versions import versions
from hwquant.config.workspace import Job, relative

PLAN_FORMAT = 1


def plan(jobs: list[Job], cache_dir: Path | None) -> dict[str, Any]:
    """The plan as plain data (what `hwquant plan --json` prints)."""
    outpath.check_unique_destinations(jobs)
    vers = versions()
    store = cache_mod.Cache(cache_dir) if cache_dir is not None else None
    rows = []
    for job in jobs:
        row: dict[str, Any] = {
            "id": job.id,
            "model": job.model,
            "manifest": relative(job.manifest),
            "target": job.table,
            "backend": job.backend,
            "out": relative(job.out),
            "cache_key": None,
            "cached": False,
        }
        if job.options.preflight_only:
            row["not_cached"] = "preflight-only builds are not cached"
        else:
            [(_, backend, opts)] = resolve({job.table: (job.backend, job.options)})
            inputs = cache_mod.key_inputs(opts, backend, vers)
            if inputs is None:
                row["not_cached"] = "data from module:function cannot be hashed before it runs"
            else:
                row["cache_key"] = key = cache_mod.make_key(inputs)
                row["cached"] = store is not None and store.holds(key)
        rows.append(row)
    return {"format": PLAN_FORMAT, "cache_dir": None if cache_dir is None else str(cache_dir), "jobs": rows}
