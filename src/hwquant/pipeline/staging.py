"""All-or-nothing output: a target folder is written in a temporary folder inside ``--out`` and moved
into place only when every stage succeeded; builds into one ``--out`` are serialized by a lock.

Ownership: staging writes the ``.hwquant-build`` marker (config.outpath.MARKER) into every target
folder it publishes, builds and cache restores alike, and replaces an existing OUT/<target> only
when that folder carries the marker. Anything else there is a UsageError (exit 2) and is left
exactly as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from hwquant.common import interrupts, tempdirs
from hwquant.common.errors import UsageError
from hwquant.common.interrupts import checkpoint
from hwquant.config import outpath


@contextlib.contextmanager
def staging(out: Path, target: str) -> Iterator[Path]:
    """A temporary target folder inside ``out``, moved to ``out/target`` on success only.

    The folder is yielded as an absolute path: backends run tools in it (Vela with cwd set there,
    compilers in containers) and a relative ``--out`` must mean the same to them."""
    final = out / target
    _check_owned(final)  # before any work: refuse at once what could never be replaced
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    tmp = (out / f".{target}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}").absolute()
    tmp.mkdir()
    try:
        yield tmp
        checkpoint()  # the last chance to honour an interrupt before the earlier build is replaced
    except BaseException:
        with interrupts.shielded():
            shutil.rmtree(tmp, ignore_errors=True)
            if created and not any(out.iterdir()):
                out.rmdir()
        raise
    with interrupts.shielded():  # a signal here is honoured at the next checkpoint, after the move
        old = out / f".{target}.old-{uuid.uuid4().hex[:8]}"
        try:
            _check_owned(final)  # again: the folder may have appeared or changed during the build
            (tmp / outpath.MARKER).write_text(outpath.marker_content())
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if os.path.lexists(final):
            final.rename(old)
        tmp.rename(final)
        interrupts.note_written(final)
        shutil.rmtree(old, ignore_errors=True)


def _check_owned(final: Path) -> None:
    why = outpath.owner_problem(final)
    if why:
        raise UsageError(f"will not replace {why}", hint=outpath.OWNER_HINT)


@contextlib.contextmanager
def output_lock(out: Path, log: Callable[[str], None] = print) -> Iterator[None]:
    """Serialize builds into the same output folder (across processes).

    The lock file lives in the temp dir, named by the folder's resolved path, so the output
    folder holds only build results and a failed build still leaves it empty.
    """
    from filelock import FileLock, Timeout

    folder = tempdirs.shared() / "hwquant-locks"  # every hwquant process's, not this command's private one
    folder.mkdir(exist_ok=True)
    lock = FileLock(str(folder / (hashlib.sha256(str(out.resolve()).encode()).hexdigest()[:32] + ".lock")))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log(f"waiting for another hwquant build writing to {out} ...")
        lock.acquire()
    try:
        yield
    finally:
        lock.release()
