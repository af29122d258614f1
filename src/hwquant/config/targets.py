"""Each target's backend and options exactly as a build keys and builds them.

One definition for `hwquant build` (``build_many``) and `hwquant plan`: the backend options a
table or the command line gave are parsed against the backend's declared options (defaults
filled in), and the cache key is computed from the result, so both commands get the same key.
"""

from __future__ import annotations

from dataclasses import replace

from hwquant.plugin import options as backend_opts
from hwquant.plugin.backend import Backend
from hwquant.plugin.facts import BuildOptions
from hwquant.plugin.manager import registry


def resolve(targets: dict[str, tuple[str, BuildOptions]]) -> list[tuple[str, Backend, BuildOptions]]:
    """(output folder, backend, that target's options) for every target, in order."""
    return [
        (folder, b, replace(opts, backend_options=backend_opts.parse(b.name, b.backend_options, opts.backend_options)))
        for folder, (name, opts) in targets.items()
        for b in [registry().get(name)]
    ]
