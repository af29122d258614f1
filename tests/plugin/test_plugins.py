"""The plugin seam: one registration route (entry points), broken plugins skipped, options namespaced."""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from hwquant import (
    Backend,
    BackendOption,
    BuildOptions,
    ModelFacts,
    OpReport,
    PackageResult,
    ToolchainError,
    UsageError,
    hookimpl,
)
from hwquant.plugin import hookspecs
from hwquant.plugin import options as backend_opts
from hwquant.plugin.manager import PluginManager, registry
from tests.helpers import REPO_ROOT

REPO = REPO_ROOT
HWQUANT = [sys.executable, "-m", "hwquant.cli"]


DOC = (REPO / "docs" / "backend-interface.md").read_text()


def _hooks() -> dict[str, inspect.Signature]:
    """Every hook spec in hookspecs.py (pluggy's own marker), with its signature."""
    marker = f"{hookspecs.PROJECT}_spec"
    return {
        name: inspect.signature(fn)
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(fn, marker)
    }


def test_hooks_are_found():
    assert "hwquant_register_backends" in _hooks()


@pytest.mark.parametrize("hook", sorted(_hooks()))
def test_every_hook_has_a_test_and_a_documented_heading(hook):
    """datasette's rule: each hook has a test named test_hook_<hook> here, taking a plugin that
    implements it with the spec's own arguments, and a heading in docs/backend-interface.md that
    gives its signature."""
    test = globals().get(f"test_hook_{hook}")
    assert callable(test), f"no test_hook_{hook} in tests/plugin/test_plugins.py"
    args = ", ".join(_hooks()[hook].parameters)
    assert re.search(rf"^### `{hook}\({re.escape(args)}\)`$", DOC, re.M), (
        f"docs/backend-interface.md has no heading `### {hook}({args})`"
    )
    impl = globals().get(f"_impl_{hook}")
    assert callable(impl), f"test_hook_{hook} exercises no hook implementation _impl_{hook}"
    assert list(inspect.signature(impl).parameters) == list(_hooks()[hook].parameters)


def _impl_hwquant_register_backends(registry):
    """The hook implementation test_hook_hwquant_register_backends installs as a real plugin."""
    from hwquant import Backend, CheckRequest, OpReport, PackageResult

    class HookProbe(Backend):
        name = "hook-probe"
        allowed_recipes = ("float32",)

        def default_recipe(self, facts, options):
            return "float32", ["hook probe"]

        def check(self, model, request: CheckRequest):
            return OpReport(self.name, [])

        def package(self, ctx):
            return PackageResult()

    registry.add(HookProbe)


def test_hook_hwquant_register_backends(tmp_path):
    """A real installed distribution whose entry point implements the hook: its backend is listed."""
    source = "from hwquant import hookimpl\n\n\n@hookimpl\n" + inspect.getsource(_impl_hwquant_register_backends)
    source = source.replace("def _impl_hwquant_register_backends(", "def hwquant_register_backends(")
    _installed_dist(tmp_path, "hook-probe", {"hookprobe": "hookprobe_mod"}, {"hookprobe_mod": source})
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))
    r = subprocess.run([*HWQUANT, "targets", "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    listed = {t["name"]: t for t in json.loads(r.stdout)}
    assert listed["hook-probe"]["recipes"] == ["float32"] and "skipped" not in r.stderr, r.stderr


def test_builtins_register_only_through_entry_points():
    eps = {ep.name: ep.value for ep in entry_points(group=hookspecs.ENTRY_POINT_GROUP)}
    reg = registry()
    for name in ("cpu", "edgetpu", "mcu", "gpu"):
        assert eps.get(name) == f"hwquant_backends.{name}"
        assert reg.sources[name] == f"built-in:{name}"  # read off the class's module
    builtin = [n for n in eps if eps[n].startswith("hwquant_backends.")]
    assert reg.names()[: len(builtin)] == builtin  # entry-point order, not pluggy's last-registered-first
    import hwquant.plugin.manager as m

    assert not hasattr(m, "BUILTIN_BACKENDS")


def test_a_checkout_that_is_not_installed_says_how_to_install():
    with pytest.raises(UsageError) as exc:
        PluginManager().discover([])  # no entry points from the hwquant distribution
    assert "pip install -e ." in exc.value.hint


class _Named(Backend):
    name = "named"
    allowed_recipes = ("float32",)

    def default_recipe(self, facts, options):
        return "float32", ["test"]

    def check(self, model, request):
        return OpReport(self.name, [])

    def package(self, ctx):
        return PackageResult()


def test_a_backend_class_without_a_lifecycle_method_fails_at_registration():
    """A third-party class that leaves out an abstract method is refused when its plugin registers
    it, with the plugin and the methods named; asking for its target is then exit 2 saying why."""

    class Incomplete(Backend):  # no check(), no package()
        name = "incomplete"
        allowed_recipes = ("float32",)

        def default_recipe(self, facts, options):
            return "float32", []

    class Legacy(_Named):  # the attribute's old name would silently drop its options
        name = "legacy"
        options = (BackendOption("x", "an option under the old attribute name"),)

    class Broken:
        @hookimpl
        def hwquant_register_backends(self, registry):
            registry.add(_Named)
            registry.add(Incomplete)

    class Old:
        @hookimpl
        def hwquant_register_backends(self, registry):
            registry.add(Legacy)

    class OldRefusal(_Named):  # the old per-recipe method would be silently ignored
        name = "old-refusal"

        def recipe_refusal(self, name):
            return "no floats"

    class Older:
        @hookimpl
        def hwquant_register_backends(self, registry):
            registry.add(OldRefusal)

    pm = PluginManager()
    assert pm.add(Broken(), "broken", __name__, "broken-dist")
    assert pm.add(Old(), "old", "legacy_mod", "old-dist")
    assert pm.add(Older(), "older", "older_mod", "older-dist")
    reg = pm.collect()
    skipped = dict(reg.skipped)
    assert skipped["broken"] == (
        "UsageError: backend class test_a_backend_class_without_a_lifecycle_method_fails_at_registration."
        "<locals>.Incomplete (plugin broken-dist:broken) does not define check(), package(), which every backend must"
    )
    assert "declares its options as `options`; the attribute is now `backend_options`" in skipped["old"]
    assert "defines recipe_refusal(); the reasons are now the `recipe_refusals` mapping" in skipped["older"]
    assert "incomplete" not in reg.names() and "named" not in reg.names()  # the whole plugin is left out
    with pytest.raises(UsageError) as exc:
        reg.get("incomplete")
    assert exc.value.exit_code == 2
    assert "target 'incomplete' is not available: backend class" in exc.value.message
    assert "broken-dist:broken" in exc.value.message and "check(), package()" in exc.value.message
    with pytest.raises(TypeError, match="abstract"):
        Incomplete()  # Python itself refuses it too


def test_a_plugin_with_an_unknown_hook_or_a_raising_hook_is_skipped():
    class Typo:
        @hookimpl
        def hwquant_register_backend(self, registry):  # no such hook
            pass

    class Raises:
        @hookimpl
        def hwquant_register_backends(self, registry):
            raise RuntimeError("boom")

    class Good:
        @hookimpl
        def hwquant_register_backends(self, registry):
            registry.add(_Named)

    pm = PluginManager()
    assert not pm.add(Typo(), "typo", __name__, "typo-dist")
    assert pm.add(Raises(), "raises", "raises_mod", "raises-dist")
    assert pm.add(Good(), "good", __name__, "good-dist")
    reg = pm.collect()
    assert reg.names() == ["named"] and reg.sources["named"] == "good-dist:good"
    skipped = dict(reg.skipped)
    assert "hwquant_register_backend" in skipped["typo"] and skipped["raises"] == "RuntimeError: boom"


def test_registry_rejects_non_backends_and_unknown_recipes():
    reg = registry()
    with pytest.raises(TypeError):
        reg.add(object)

    class Bad(_Named):
        allowed_recipes = ("int7",)

    with pytest.raises(TypeError, match="int7"):
        reg.add(Bad)


def test_default_recipe_must_be_allowed():
    class Wrong(_Named):
        def default_recipe(self, facts, options):
            return "int8-only", ["bug"]

    facts = ModelFacts.__new__(ModelFacts)
    with pytest.raises(ToolchainError) as exc:
        Wrong().choose_recipe(facts, BuildOptions(model=Path("m")))
    assert (
        f"plugin {__name__}, class" in exc.value.message
        and "Wrong" in exc.value.message
        and "allowed_recipes (float32)" in exc.value.message
    )


def test_options_are_namespaced_validated_and_defaulted():
    declared = (
        BackendOption("toolchain", "t", default="auto", choices=("docker", "auto")),
        BackendOption("steps", "s", type=int),
        BackendOption("fast", "f", type=bool),
    )
    assert backend_opts.parse("x", declared, {}) == {"toolchain": "auto", "steps": None, "fast": False}
    assert backend_opts.parse("x", declared, {"steps": "3"})["steps"] == 3
    with pytest.raises(UsageError, match=r"--x-toolchain .*'native' is not one of docker, auto"):
        backend_opts.parse("x", declared, {"toolchain": "native"})
    with pytest.raises(UsageError, match="target 'x' has no option 'board'"):
        backend_opts.parse("x", declared, {"board": "m4"})
    # flat options are for one backend only; namespaced ones must name a backend being built
    assert backend_opts.split({"board": "m4"}, ["mcu"], ["mcu", "cpu"]) == {"mcu": {"board": "m4"}}
    with pytest.raises(UsageError, match="several targets"):
        backend_opts.split({"board": "m4"}, ["mcu", "cpu"], ["mcu", "cpu"])
    with pytest.raises(UsageError, match="no target being built uses that backend"):
        backend_opts.split({"mcu": {"board": "m4"}}, ["cpu"], ["mcu", "cpu"])


def test_cli_flag_of_one_backend_is_not_parsed_with_anothers_choices(keras_model, tmp_path):
    from click.testing import CliRunner

    from hwquant.cli.main import main

    # --edgetpu-toolchain takes the edgetpu's choices; a cpu build given it refuses before any work
    r = CliRunner().invoke(
        main,
        [
            "build",
            str(keras_model),
            "-t",
            "cpu",
            "--edgetpu-toolchain",
            "docker",
            "-o",
            str(tmp_path / "o"),
            "--no-cache",
        ],
    )
    assert r.exit_code == 2 and "no target being built uses that backend" in r.output
    r = CliRunner().invoke(main, ["build", str(keras_model), "-t", "edgetpu", "--edgetpu-toolchain", "bogus"])
    assert r.exit_code == 2 and "bogus" in r.output
    assert not (tmp_path / "o").exists()


def _installed_dist(site: Path, dist: str, eps: dict[str, str], modules: dict[str, str]) -> None:
    """A real (minimal) installed distribution: modules plus a .dist-info with entry points."""
    for mod, src in modules.items():
        (site / f"{mod}.py").write_text(src)
    info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        f"[{hookspecs.ENTRY_POINT_GROUP}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items())
    )


@pytest.mark.slow
def test_broken_third_party_plugins_are_reported_and_skipped(tmp_path, keras_model):
    _installed_dist(
        tmp_path, "broken-imports", {"brokenimp": "brokenimp_mod"}, {"brokenimp_mod": "import no_such_module_hwquant\n"}
    )
    _installed_dist(
        tmp_path,
        "broken-hook",
        {"brokenhook": "brokenhook_mod"},
        {
            "brokenhook_mod": "from hwquant import hookimpl\n@hookimpl\n"
            "def hwquant_register_backends(registry):\n    raise ValueError('bad plugin')\n"
        },
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))
    r = subprocess.run([*HWQUANT, "targets", "--json"], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert {"cpu", "mcu"} <= {t["name"] for t in json.loads(r.stdout)}
    assert "plugin 'brokenimp' skipped: ModuleNotFoundError: No module named 'no_such_module_hwquant'" in r.stderr
    assert "plugin 'brokenhook' skipped: ValueError: bad plugin" in r.stderr
    assert subprocess.run([*HWQUANT, "--help"], env=env, capture_output=True).returncode == 0
    assert subprocess.run([*HWQUANT, "build", "--help"], env=env, capture_output=True).returncode == 0
    r = subprocess.run(
        [*HWQUANT, "build", str(keras_model), "-t", "cpu", "-o", str(tmp_path / "out"), "--no-cache"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and (tmp_path / "out" / "cpu" / "model.tflite").is_file(), r.stderr
    # disabled by name (entry point or distribution): not even imported, so no warning
    env["HWQUANT_DISABLE_PLUGINS"] = "brokenimp,broken-hook"
    r = subprocess.run([*HWQUANT, "targets", "--json"], env=env, capture_output=True, text=True)
    assert r.returncode == 0 and "skipped" not in r.stderr, r.stderr
    env["HWQUANT_DISABLE_PLUGINS"] = "gpu"
    r = subprocess.run([*HWQUANT, "targets", "--json"], env=env, capture_output=True, text=True)
    assert "gpu" not in {t["name"] for t in json.loads(r.stdout)}


@pytest.mark.slow
def test_an_installed_plugin_with_an_incomplete_class_is_named_and_its_target_is_exit_2(tmp_path):
    """The same through a real installed distribution and the CLI: a warning naming the plugin, the
    other targets still listed, and the incomplete target refused with exit 2 (no traceback)."""
    source = (
        "from hwquant import Backend, hookimpl\n\n\n"
        "class HalfDone(Backend):\n"
        "    name = 'halfdone'\n"
        "    allowed_recipes = ('float32',)\n\n"
        "    def default_recipe(self, facts, options):\n"
        "        return 'float32', []\n\n"
        "    def check(self, model, request):\n"
        "        raise AssertionError('never called')\n\n\n"
        "@hookimpl\n"
        "def hwquant_register_backends(registry):\n"
        "    registry.add(HalfDone)\n"
    )
    _installed_dist(tmp_path, "halfdone-npu", {"halfdone": "halfdone_mod"}, {"halfdone_mod": source})
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))
    r = subprocess.run([*HWQUANT, "targets", "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and {"cpu", "mcu"} <= {t["name"] for t in json.loads(r.stdout)}, r.stderr
    assert (
        "plugin 'halfdone' skipped: UsageError: backend class HalfDone (plugin halfdone-npu:halfdone) "
        "does not define package(), which every backend must"
    ) in r.stderr
    r = subprocess.run([*HWQUANT, "targets", "halfdone"], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    assert "target 'halfdone' is not available: backend class HalfDone (plugin halfdone-npu:halfdone)" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.fixture(scope="module")
def toy_install(tmp_path_factory):
    """pip-install the third-party package into a folder of its own (a real install, entry points and all)."""
    target = tmp_path_factory.mktemp("toy_site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(REPO / "tests" / "third_party_backend"),
        ],
        check=True,
    )
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(target), os.environ.get("PYTHONPATH")])))


@pytest.mark.slow
def test_third_party_backend_listed_and_builds(toy_install, keras_model, tmp_path):
    env = toy_install
    out = subprocess.run([*HWQUANT, "targets", "--json"], env=env, capture_output=True, text=True, check=True)
    names = {t["name"]: t for t in json.loads(out.stdout)}
    assert {"cpu", "toy"} <= set(names)
    toy = names["toy"]
    assert toy["recipes"] == ["int8-only"] and toy["vendor"] == "Toy Silicon"  # describe() override
    assert toy["toolchain"]["detail"].startswith("toy firmware 1.0; found: sh")  # toolchain() over tools
    assert toy["options"] == ["label", "cores"]
    ops = subprocess.run([*HWQUANT, "targets", "toy", "--ops"], env=env, capture_output=True, text=True, check=True)
    assert "Convolutions may have at most 64 output channels." in ops.stdout  # from the docstring
    assert "The toy NPU runs one model at a time." in ops.stdout  # op_table() override
    r = subprocess.run(
        [
            *HWQUANT,
            "build",
            str(keras_model),
            "--target",
            "toy",
            "--data",
            "random:12",
            "--toy-label",
            "nightly",
            "--toy-cores",
            "2",
            "-o",
            str(tmp_path),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "toy" / "report.json").read_text())
    assert report["recipe"]["name"] == "int8-only"
    assert "toy: planned for 2 core(s)" in report["recipe"]["reasons"]  # choose_recipe() override
    assert {"toy_manifest.json", "toy_model.tflite"} <= set(report["artifacts"])  # artifact_name
    assert (tmp_path / "toy" / "toy_model.tflite").is_file() and not (tmp_path / "toy" / "model.tflite").exists()
    assert report["toy"] == {"manifest_ops": report["toy"]["manifest_ops"], "label": "nightly"}
    assert report["toy"]["manifest_ops"] >= 3
    assert report["verify"]["toy"]["toy_ops"] >= 3  # verify() override
    assert any(n.startswith("toy: ") and "for 2 core(s)" in n for n in report["ops"]["notes"])  # check(request)
    # A recipe the third-party target does not allow: exit 2 before any work, with its reason and hint.
    r = subprocess.run(
        [*HWQUANT, "build", str(keras_model), "--target", "toy", "--recipe", "float16", "-o", str(tmp_path / "x")],
        env=env,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "does not allow recipe 'float16': the toy NPU has no float units" in r.stderr
    assert "(toy NPU)" in r.stderr  # refused() override
    assert not (tmp_path / "x").exists()
    # No data: the backend's own explanation (missing_data_error), exit 2.
    r = subprocess.run(
        [*HWQUANT, "build", str(keras_model), "--target", "toy", "-o", str(tmp_path / "y")],
        env=env,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "the toy NPU needs representative data" in r.stderr
    # Another backend's flag is refused for a toy build; the toy's own option is typed.
    r = subprocess.run(
        [*HWQUANT, "build", str(keras_model), "--target", "toy", "--toy-cores", "two"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "two" in r.stderr


def test_toy_cache_key_extras(toy_install, keras_model, tmp_path):
    code = (
        "import json; from hwquant import BuildOptions; from hwquant.plugin.manager import registry; "
        "from pathlib import Path; b = registry().get('toy'); "
        "print(json.dumps(b.cache_key_extras(BuildOptions(model=Path('m'), backend_options={'label': 'x'}))))"
    )
    out = subprocess.run([sys.executable, "-c", code], env=toy_install, capture_output=True, text=True, check=True)
    extras = json.loads(out.stdout)
    assert extras["toy_firmware"] == "1.0" and extras["own"] == {"label": "x"} == extras["options"]
