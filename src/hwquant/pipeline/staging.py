"""All-or-nothing output: a target folder is written in a temporary folder inside ``--out`` and moved
into place only when every stage succeeded; builds into one ``--out`` are serialized by a lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

from hwquant.common import interrupts
from hwquant.common.interrupts import checkpoint


@contextlib.contextmanager
def staging(out: Path, target: str):
    """A temporary target folder inside ``out``, moved to ``out/target`` on success only.

    The folder is yielded as an absolute path: backends run tools in it (Vela with cwd set there,
    compilers in containers) and a relative ``--out`` must mean the same to them."""
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
        final = out / target
        old = out / f".{target}.old-{uuid.uuid4().hex[:8]}"
        if final.exists():
            final.rename(old)
        tmp.rename(final)
        interrupts.note_written(final)
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def output_lock(out: Path, log: Callable[[str], None] = print):
    """Serialize builds into the same output folder (across processes).

    The lock file lives in the temp dir, named by the folder's resolved path, so the output
    folder holds only build results and a failed build still leaves it empty.
    """
    from filelock import FileLock, Timeout

    folder = Path(tempfile.gettempdir()) / "hwquant-locks"
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
