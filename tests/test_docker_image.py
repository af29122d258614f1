"""The root Dockerfile builds on a locally bootstrapped Debian base and runs hwquant inside.

No registry is reachable here, so the base image is made with debootstrap (cached as a tarball
under /var/cache/hwquant-test) and `docker import`ed; pip inside the build reaches PyPI with the
host's CA bundle (PIP_CERT) copied into the build context as docker-extra/ca.crt.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.docker]

CACHE = Path(os.environ.get("HWQUANT_TEST_CACHE", "/var/cache/hwquant-test"))
BASE_TAG = "hwquant-test/debian-bookworm:base"
IMAGE = "hwquant-test/hwquant:test"


def _run(argv, **kw):
    proc = subprocess.run(argv, capture_output=True, text=True, **kw)
    assert proc.returncode == 0, f"{argv[:3]} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def docker():
    if shutil.which("docker") is None or subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        pytest.skip("no reachable Docker engine (.ci/run starts dockerd)")
    return "docker"


@pytest.fixture(scope="module")
def base_image(docker):
    if subprocess.run(["docker", "image", "inspect", BASE_TAG], capture_output=True).returncode == 0:
        return BASE_TAG
    tarball = CACHE / "debian-bookworm-minbase.tar"
    if not tarball.is_file():
        if shutil.which("debootstrap") is None or os.geteuid() != 0:
            pytest.skip("needs root and debootstrap (apt-get install debootstrap) to make the base image")
        root = CACHE / "rootfs"
        shutil.rmtree(root, ignore_errors=True)
        CACHE.mkdir(parents=True, exist_ok=True)
        _run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=python3,python3-venv,ca-certificates",
                "bookworm",
                str(root),
                "http://deb.debian.org/debian",
            ],
            timeout=1800,
        )
        _run(["tar", "-C", str(root), "-cf", str(tarball) + ".tmp", "."])
        os.replace(str(tarball) + ".tmp", tarball)
        shutil.rmtree(root, ignore_errors=True)
    _run(["docker", "import", str(tarball), BASE_TAG])
    return BASE_TAG


@pytest.fixture(scope="module")
def image(base_image, repo_root, tmp_path_factory):
    """Build from a clean context: the files the Dockerfile copies, plus the host CA bundle."""
    ctx = tmp_path_factory.mktemp("docker-context")
    for name in ("Dockerfile", "pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(repo_root / name, ctx / name)
    for name in ("src",):
        shutil.copytree(repo_root / name, ctx / name, ignore=shutil.ignore_patterns("__pycache__"))
    # the host's CA bundle lets pip inside the build reach PyPI through this network's proxy
    cert = os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt"
    if cert and Path(cert).is_file():
        (ctx / "docker-extra").mkdir()
        shutil.copy(cert, ctx / "docker-extra" / "ca.crt")
    _run(
        ["docker", "build", "--build-arg", f"BASE={base_image}", "-t", IMAGE, str(ctx)],
        env={**os.environ, "DOCKER_BUILDKIT": "0"},
        timeout=3600,
    )
    return IMAGE


def test_targets_and_a_small_build_inside_the_image(image, keras_model, tmp_path):
    import numpy as np

    from tests.helpers import models

    shutil.copy(keras_model, tmp_path / "m.keras")
    np.savez(tmp_path / "cal.npz", image=models.keras_samples(20))
    out = _run(["docker", "run", "--rm", image, "targets"]).stdout
    assert "cpu" in out and "mcu" in out
    _run(
        [
            "docker",
            "run",
            "--rm",
            "-v",
            f"{tmp_path}:/work",
            image,
            "build",
            "m.keras",
            "--data",
            "cal.npz",
            "--target",
            "cpu",
            "--min-snr",
            "10",
        ],
        timeout=900,
    )
    assert (tmp_path / "build" / "cpu" / "model.tflite").stat().st_size > 0
