"""Which model format a path holds, read from the path alone (no TensorFlow): checked before anything is loaded.

The path is checked by type and size first (``common.files``): a .keras/.h5 file must be a regular
file within the model size limit, a SavedModel a folder whose every file is; FIFOs, devices
(``/dev/zero``) and sockets, also behind symlinks, are InputErrors (exit 2) naming the path. A
SavedModel must hold saved_model.pb (or .pbtxt) and a variables/ folder: one without is incomplete
(exit 2, as the README documents), not a converter failure.
"""

from __future__ import annotations

from pathlib import Path

from hwquant.common import files
from hwquant.common.errors import InputError

FORMATS_HINT = "pass a SavedModel directory, a .keras file or a .h5 file"


def detect_format(path: Path) -> str:
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise InputError(f"{path}: no such file or directory", hint=FORMATS_HINT)
    files.checked(path, "model", folder_ok=True, hint=FORMATS_HINT)
    if path.is_dir():
        if (path / "saved_model.pb").exists() or (path / "saved_model.pbtxt").exists():
            files.checked_tree(path, "model", what="SavedModel")
            if not (path / "variables").is_dir():
                raise InputError(
                    f"{path} is an incomplete SavedModel: it has no variables/ folder",
                    hint="copy the whole SavedModel folder (saved_model.pb and variables/), "
                    "or export it again with tf.saved_model.save / model.export",
                )
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
    raise InputError(f"{path}: unknown model format {suffix or '(no suffix)'}", hint=FORMATS_HINT)


def require_model(path: Path) -> Path:
    """``path`` when it is a model hwquant can build from (see detect_format); for `hwquant init`, which
    must not write a manifest for a model that does not exist."""
    try:
        detect_format(Path(path))
    except InputError as exc:
        raise InputError(
            exc.message, hint=(exc.hint or FORMATS_HINT) + "; `hwquant init` needs an existing model"
        ) from None
    return Path(path)
