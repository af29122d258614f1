"""The plugin seam: hook specs, built-ins registered like third parties, a real third-party install."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pluggy
import pytest

from hwquant.plugin import hookspecs
from hwquant.plugin.manager import BUILTIN_BACKENDS, PluginManager, registry

REPO = Path(__file__).resolve().parents[1]
HWQUANT = [sys.executable, "-m", "hwquant.cli"]


def _hooks():
    return [n for n in dir(hookspecs) if n.startswith("hwquant_")]


@pytest.mark.parametrize("hook", _hooks())
def test_every_hook_is_documented_and_tested(hook):
    readme = (REPO / "README.md").read_text()
    assert re.search(rf"^#+ .*`?{hook}`?", readme, re.M), f"README has no heading for {hook}"
    tests = "".join(p.read_text() for p in (REPO / "tests").glob("test_*.py") if p.name != "test_plugins.py")
    assert hook in tests or hook in (REPO / "tests" / "third_party_backend" / "hwquant_toy" / "__init__.py").read_text()


def test_builtins_register_through_entry_points():
    reg = registry()
    for name in ("cpu", "edgetpu", "mcu", "gpu"):
        mod = f"hwquant_backends.{name}"
        assert mod in BUILTIN_BACKENDS
    from importlib.metadata import entry_points

    eps = {ep.name: ep.value for ep in entry_points(group=hookspecs.ENTRY_POINT_GROUP)}
    assert eps.get("cpu") == "hwquant_backends.cpu"
    assert "cpu" in reg.names()


def test_check_pending_rejects_unknown_hooks():
    class Bad:
        @hookspecs.hookimpl
        def hwquant_register_backend(self, registry):  # typo: no such hook
            pass

    pm = PluginManager()
    pm.pm.register(Bad())
    with pytest.raises(pluggy.PluginValidationError):
        pm.load()


def test_registry_rejects_non_backends():
    reg = registry()
    with pytest.raises(TypeError):
        reg.add(object)


@pytest.fixture(scope="module")
def toy_install(tmp_path_factory):
    """pip-install the third-party package into a folder of its own (a real install, entry points and all)."""
    target = tmp_path_factory.mktemp("toy_site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(REPO / "tests" / "third_party_backend")], check=True)
    env = dict(os.environ, PYTHONPATH=str(target))
    return env


def test_third_party_backend_listed_and_builds(toy_install, keras_model, tmp_path):
    env = toy_install
    out = subprocess.run([*HWQUANT, "targets", "--json"], env=env, capture_output=True, text=True, check=True)
    names = {t["name"]: t for t in json.loads(out.stdout)}
    assert {"cpu", "toy"} <= set(names)
    assert names["toy"]["recipes"] == ["int8-only"]
    ops = subprocess.run([*HWQUANT, "targets", "toy", "--ops"], env=env, capture_output=True, text=True, check=True)
    assert "Convolutions may have at most 64 output channels." in ops.stdout  # from the docstring
    r = subprocess.run([*HWQUANT, "build", str(keras_model), "--target", "toy", "--data", "random:12",
                        "-o", str(tmp_path)], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "toy" / "report.json").read_text())
    assert report["recipe"]["name"] == "int8-only"
    assert "toy_manifest.json" in report["artifacts"]
    assert report["toy"]["manifest_ops"] >= 3
    # A recipe the third-party target does not allow: exit 2 before any work.
    r = subprocess.run([*HWQUANT, "build", str(keras_model), "--target", "toy", "--recipe", "float16",
                        "-o", str(tmp_path / "x")], env=env, capture_output=True, text=True)
    assert r.returncode == 2 and "does not allow recipe 'float16'" in r.stderr
    assert not (tmp_path / "x").exists()
