"""Two processes building into the same folder are serialized by the output lock."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HOLD = """
import sys, time
from pathlib import Path
from hwquant.pipeline.staging import output_lock
with output_lock(Path(sys.argv[1]), print):
    print("acquired", time.time(), flush=True)
    time.sleep(float(sys.argv[2]))
    print("released", time.time(), flush=True)
"""


def test_two_processes_do_not_interleave(tmp_path):
    out = tmp_path / "build"
    a = subprocess.Popen([sys.executable, "-c", HOLD, str(out), "2"], stdout=subprocess.PIPE, text=True)
    time.sleep(1.0)
    b = subprocess.Popen([sys.executable, "-c", HOLD, str(out), "0"], stdout=subprocess.PIPE, text=True)
    ao, bo = a.communicate(timeout=60)[0].split(), b.communicate(timeout=60)[0].split()
    assert a.returncode == 0 and b.returncode == 0
    a_released = float(ao[ao.index("released") + 1])
    b_acquired = float(bo[bo.index("acquired") + 1])
    assert "waiting" in bo and b_acquired >= a_released
    assert not Path(out).exists()  # the lock lives outside the output folder
