"""The Backend interface, datasette-style: every method and class attribute of hwquant.Backend
(found by introspection) has a heading in docs/backend-interface.md giving its signature, and the
example third-party backend (tests/third_party_backend) defines or sets it, checked on the class
itself (imported from its file), not by searching its source."""

from __future__ import annotations

import importlib.util
import inspect
import re
from pathlib import Path

import pytest

import hwquant
from hwquant.plugin import hookspecs
from tests.helpers import REPO_ROOT

REPO = REPO_ROOT
DOC = (REPO / "docs" / "backend-interface.md").read_text()
LIFECYCLE = {"default_recipe", "check", "package"}  # abstract: every backend defines them
HELPERS = {"own_options"}  # to call, not to override


def _toy():
    """The toy plugin's Backend class, loaded from its file (it is installed only in subprocess tests)."""
    path = REPO / "tests" / "third_party_backend" / "hwquant_toy" / "__init__.py"
    spec = importlib.util.spec_from_file_location("hwquant_toy_for_interface_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ToyBackend


TOY = _toy()


def _methods() -> dict[str, inspect.Signature]:
    return {
        n: inspect.signature(f)
        for n, f in inspect.getmembers(hwquant.Backend, inspect.isfunction)
        if not n.startswith("_")
    }


def _attributes() -> list[str]:
    return sorted({a for c in hwquant.Backend.__mro__ for a in vars(c).get("__annotations__", {})})


def _args(sig: inspect.Signature) -> str:
    return ", ".join(p for p in sig.parameters if p != "self")


def test_the_interface_is_what_introspection_finds():
    assert hwquant.Backend.__abstractmethods__ == LIFECYCLE
    assert {"default_recipe", "choose_recipe", "check", "verify", "package", "refused"} <= set(_methods())
    assert {"name", "allowed_recipes", "backend_options", "support", "recipe_refusals"} <= set(_attributes())
    assert "options" not in _attributes()  # renamed: it clashed with the methods' `options` parameter


@pytest.mark.parametrize("method", sorted(_methods()))
def test_method_documented_with_its_signature(method):
    heading = f"### `{method}({_args(_methods()[method])})`"
    assert re.search(rf"^{re.escape(heading)}$", DOC, re.M), f"docs/backend-interface.md has no heading {heading}"


@pytest.mark.parametrize("method", sorted(set(_methods()) - HELPERS))
def test_method_defined_by_the_example_with_the_same_arguments(method):
    assert method in vars(TOY), f"the toy backend does not define {method}()"
    assert _args(inspect.signature(vars(TOY)[method])) == _args(_methods()[method])


def test_helpers_work_for_the_example():
    options = hwquant.BuildOptions(model=Path("m"), backend_options={"label": "x", "board": "other backend's"})
    assert TOY().own_options(options) == {"label": "x"}
    assert TOY().cache_key_extras(options)["own"] == {"label": "x"}


@pytest.mark.parametrize("attribute", _attributes())
def test_attribute_documented_and_set(attribute):
    assert re.search(rf"^### `{attribute}`$", DOC, re.M), f"docs/backend-interface.md has no heading for {attribute}"
    assert attribute in vars(TOY), f"the toy backend does not set {attribute}"


def test_doc_documents_nothing_that_is_gone():
    documented = set(re.findall(r"^### `(\w+)", DOC, re.M))
    hooks = {n for n, f in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(f, "hwquant_spec")}
    assert documented == set(_methods()) | set(_attributes()) | hooks


def test_builtin_backends_define_the_lifecycle_with_the_base_arguments():
    """Every registered backend (built-in ones included) defines what its class declares with the
    base class's argument names: an override taking `options` where the base takes `request` would
    be called with the wrong object."""
    from hwquant.plugin.manager import registry

    backends = registry().all()
    assert {"cpu", "gpu", "edgetpu", "mcu"} <= {b.name for b in backends}
    for b in backends:
        for name, sig in _methods().items():
            assert _args(inspect.signature(getattr(type(b), name))) == _args(sig), f"{b.name}.{name}"
        assert not getattr(type(b), "__abstractmethods__", None)
