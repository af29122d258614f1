"""LiteRT's native INFO lines ("[accelerator_registry.cc:43] DestroyAccelerator ...") are silenced
by default, like TensorFlow's, and shown with -v (issue 11 item 16). Real subprocesses: the lines
were printed when the process tore the accelerators down."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hwquant.common.quiet import NATIVE_INFO


def hwquant(*args):
    return subprocess.run(
        [sys.executable, "-m", "hwquant.cli", *map(str, args)], capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow
def test_targets_is_quiet_and_verbose_shows_the_lines():
    quiet = hwquant("targets")
    assert quiet.returncode == 0, quiet.stderr
    assert "DestroyAccelerator" not in quiet.stderr + quiet.stdout, quiet.stderr
    loud = hwquant("-v", "targets")
    assert loud.returncode == 0
    assert "DestroyAccelerator" in loud.stderr  # the GPU probe really made and destroyed accelerators


@pytest.mark.slow
def test_gpu_build_is_quiet(keras_model, tmp_path):
    r = hwquant("build", keras_model, "-t", "gpu", "-o", tmp_path / "o", "--no-cache")
    assert r.returncode == 0, r.stderr
    assert "INFO: [" not in r.stderr, r.stderr


def test_filter_keeps_everything_but_native_info_lines():
    assert NATIVE_INFO.match("INFO: [accelerator_registry.cc:43] DestroyAccelerator: ptr=0x1, name=GPU WebGPU")
    assert NATIVE_INFO.match("I0000 00:00:1795811617.507906   10846 port.cc:153] oneDNN custom operations are on.")
    assert not NATIVE_INFO.match("ERROR: [gpu_accelerator.cc:12] Failed to create GPU")
    assert not NATIVE_INFO.match("warning: only 20 samples")
