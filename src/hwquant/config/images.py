"""A folder of images as representative data (Pillow), resized and normalized.

Bounded before anything is decoded: each image is checked by type and size (``common.files``: never a
FIFO or a device), ``--image-size`` is at most MAX_SIDE per side, each image's pixel count (read from
its header by ``Image.open``, which decodes nothing) is at most MAX_PIXELS, and the whole array
(images x height x width x channels) must fit the data memory budget and sample limit.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from hwquant.common import files as files_mod
from hwquant.common.errors import InputError
from hwquant.plugin.facts import BuildOptions, TensorSpec

SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".ppm", ".pgm"}
MAX_SIDE = 8192  # --image-size, per side
MAX_PIXELS = 64 * 1024 * 1024  # one source image, before it is decoded (Pillow's own bomb limit is 89 Mpx)


def check_size(h: int, w: int, what: str = "--image-size") -> None:
    """InputError (exit 2) for an image size that is not 1..MAX_SIDE on each side."""
    for side, v in (("height", h), ("width", w)):
        if not isinstance(v, int) or isinstance(v, bool) or not 0 < v <= MAX_SIDE:
            raise InputError(
                f"{what}: {side} {v!r} is not between 1 and {MAX_SIDE}",
                hint=f"pass --image-size HxW with each side at most {MAX_SIDE}, e.g. --image-size 224x224",
            )


def load_folder(
    folder: Path, spec: TensorSpec, options: BuildOptions
) -> tuple[np.ndarray, np.ndarray | None, list[str], str]:
    """-> (array N x H x W x C float32, labels or None, class names, sha256).

    Sub-folders are classes (labels are their sorted index). Pixels are scaled by --scale
    (default 1/255) or normalized with (x - mean) / std when --mean/--std are given.
    """
    try:
        from PIL import Image
    except ImportError as exc:
        raise InputError("image folders need Pillow", hint="pip install pillow") from exc
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES)
    if not files:
        raise InputError(f"{folder}: no images ({', '.join(sorted(SUFFIXES))})")
    if len(spec.shape) != 4:
        raise InputError(f"{folder}: images need a 4-D (N, H, W, C) model input; {spec.name!r} is {spec.shape}")
    h, w, c = spec.shape[1:]
    if options.image_size:
        h, w = options.image_size
    if h < 0 or w < 0:
        raise InputError("the model input has a dynamic height/width", hint="pass --image-size HxW")
    check_size(h, w, "--image-size" if options.image_size else f"the model input {spec.name!r}")
    mode = {1: "L", 3: "RGB", 4: "RGBA"}.get(c)
    if mode is None:
        raise InputError(f"{spec.name!r} has {c} channels; images give 1, 3 or 4")
    for name in ("mean", "std"):
        given = getattr(options, name)
        if given is not None and len(given) not in (1, c):
            raise InputError(
                f"--{name} has {len(given)} values but {spec.name!r} has {c} channel(s)",
                hint=f"pass one value, or one per channel ({c})",
            )
    subdirs = sorted({p.parent.relative_to(folder).parts[0] for p in files if p.parent != folder})
    labels: list[int] | None = [] if subdirs and all(p.parent != folder for p in files) else None
    from hwquant.config.data import check_bounds

    check_bounds(str(folder), len(files), h * w * c * 4)
    digest = hashlib.sha256()
    out = np.empty((len(files), h, w, c), np.float32)
    for i, p in enumerate(files):
        digest.update(files_mod.read_bytes(p, "image"))
        try:
            with Image.open(p) as src:  # reads the header only
                if src.width * src.height > MAX_PIXELS:
                    raise InputError(
                        f"{p}: {src.width}x{src.height} pixels, over the {MAX_PIXELS:,}-pixel limit per image",
                        hint="downscale the image before using it as representative data",
                    )
                img = src.convert(mode).resize((w, h), Image.Resampling.BILINEAR)
        except InputError:
            raise
        except Exception as exc:
            raise InputError(f"{p}: cannot read image ({exc})") from exc
        a = np.asarray(img, np.float32).reshape(h, w, c)
        out[i] = _normalize(a, options)
        if labels is not None:
            labels.append(subdirs.index(p.relative_to(folder).parts[0]))
    if spec.dtype != "float32":
        out = out.astype(spec.dtype)
    return (
        out,
        (np.asarray(labels) if labels is not None else None),
        subdirs if labels is not None else [],
        digest.hexdigest(),
    )


def _normalize(a: np.ndarray, options: BuildOptions) -> np.ndarray:
    if options.mean is not None or options.std is not None:
        mean = np.asarray(options.mean if options.mean is not None else (0.0,), np.float32)
        std = np.asarray(options.std if options.std is not None else (1.0,), np.float32)
        return (a - mean) / std
    return a * np.float32(options.scale if options.scale is not None else 1.0 / 255.0)
