"""Versions a build depends on, read from package metadata: no TensorFlow import.

`hwquant plan` computes cache keys from these without importing the converter module.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from hwquant.common.version import __version__


def _dist_version(*dists: str) -> str | None:
    for dist in dists:
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return None


def tf_version() -> str | None:
    return _dist_version("tensorflow", "tensorflow-cpu")


def versions() -> dict[str, str | None]:
    return {
        "hwquant": __version__,
        "tensorflow": tf_version(),
        "litert": _dist_version("ai-edge-litert"),
        "numpy": _dist_version("numpy"),
    }
