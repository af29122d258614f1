"""One private temporary folder per command, removed when the command ends however it ends.

Libraries write where they please: TensorFlow's autograph leaves ``__autograph_generated_file*.py`` in
``tempfile.gettempdir()``, Keras creates ``~/.keras/keras.json``, matplotlib a font cache under
``~/.cache/matplotlib``. ``private()`` creates ``$TMPDIR/hwquant-run-XXXX`` and points ``tempfile``,
``TMPDIR`` (inherited by worker processes and the tools hwquant runs), and, where the user has set
neither the variable (for matplotlib: nor ``XDG_*_HOME``) nor the default folder yet, ``KERAS_HOME`` and ``MPLCONFIGDIR`` into it; on exit it
removes the folder and puts every setting back. So a build leaves nothing in ``$TMPDIR`` but the
output folders' lock files (``$TMPDIR/hwquant-locks/``, shared by every hwquant process), and
creates nothing under ``$HOME`` but the build cache (``~/.cache/hwquant`` unless ``--cache-dir`` or
``--no-cache``: keeping it is its purpose). It must be entered before TensorFlow, Keras or matplotlib are
imported: they read these settings once, at import.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

PREFIX = "hwquant-run-"
_outer: list[str] = []  # the temp dir in effect before each private() still open


def shared() -> Path:
    """The temp dir every hwquant process shares (the user's $TMPDIR), for what must outlive one command
    or be seen by others: the output folders' lock files."""
    return Path(_outer[0] if _outer else tempfile.gettempdir())


def _home_default_missing(*parts: tuple[str, ...]) -> bool:
    """True when none of the folders (relative to the home folder) exists yet: pointing the library
    elsewhere then loses no setting of the user's."""
    home = Path("~").expanduser()
    return not any((home.joinpath(*p)).exists() for p in parts)


@contextlib.contextmanager
def private() -> Iterator[Path]:
    """A private temp folder for the duration; see the module docstring."""
    base = tempfile.gettempdir()
    root = Path(tempfile.mkdtemp(prefix=PREFIX, dir=base))
    _outer.append(base)
    saved_env = {k: os.environ.get(k) for k in ("TMPDIR", "KERAS_HOME", "MPLCONFIGDIR")}
    saved_tempdir = tempfile.tempdir
    os.environ["TMPDIR"] = str(root)
    tempfile.tempdir = str(root)
    if "KERAS_HOME" not in os.environ and _home_default_missing((".keras",)):
        os.environ["KERAS_HOME"] = str(root / "keras")
    mpl_chosen = {"MPLCONFIGDIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"} & set(os.environ)  # the user chose a place
    if not mpl_chosen and _home_default_missing((".config", "matplotlib"), (".cache", "matplotlib")):
        os.environ["MPLCONFIGDIR"] = str(root / "matplotlib")
    try:
        yield root
    finally:
        _outer.pop()
        tempfile.tempdir = saved_tempdir
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(root, ignore_errors=True)
