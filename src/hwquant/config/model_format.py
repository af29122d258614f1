"""Which model format a path holds, read from the path alone (no TensorFlow): checked before anything is loaded."""

from __future__ import annotations

from pathlib import Path

from hwquant.common.errors import InputError


def detect_format(path: Path) -> str:
    if not path.exists():
        raise InputError(
            f"{path}: no such file or directory", hint="pass a SavedModel directory, a .keras file or a .h5 file"
        )
    if path.is_dir():
        if (path / "saved_model.pb").exists() or (path / "saved_model.pbtxt").exists():
            return "savedmodel"
        raise InputError(
            f"{path} is a directory without saved_model.pb, so it is not a SavedModel",
            hint="pass the SavedModel folder itself (the one holding saved_model.pb and variables/)",
        )
    suffix = path.suffix.lower()
    if suffix == ".keras":
        return "keras"
    if suffix in (".h5", ".hdf5"):
        return "h5"
    if suffix == ".tflite":
        raise InputError(
            f"{path} is already a .tflite model; hwquant builds from the trained model",
            hint="pass the SavedModel or Keras file it came from (or `hwquant inspect` it)",
        )
    raise InputError(
        f"{path}: unknown model format {suffix or '(no suffix)'}",
        hint="pass a SavedModel directory, a .keras file or a .h5 file",
    )
