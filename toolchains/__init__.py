"""Toolchain files shipped with hwquant (installed as ``hwquant_toolchains``).

``edgetpu/Dockerfile`` builds Coral's compiler image; ``mcu/`` holds the TFLM project templates.
"""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent


def path(*parts: str) -> Path:
    """A file or folder under toolchains/, from a source checkout or an installed wheel alike."""
    return ROOT.joinpath(*parts)
