"""The Backend interface, datasette-style: every overridable method and class attribute of
hwquant.Backend (found by introspection) is documented in docs/backend-interface.md and
exercised by the example third-party backend in tests/third_party_backend."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import hwquant

REPO = Path(__file__).resolve().parents[1]
DOC = (REPO / "docs" / "backend-interface.md").read_text()
TOY = (REPO / "tests" / "third_party_backend" / "hwquant_toy" / "__init__.py").read_text()


def _methods():
    return sorted(n for n, v in vars(hwquant.Backend).items() if callable(v) and not n.startswith("_"))


def _attributes():
    return sorted(hwquant.Backend.__annotations__)


def test_the_interface_is_what_introspection_finds():
    assert {"default_recipe", "check", "verify", "package"} <= set(_methods())
    assert {"name", "allowed_recipes", "options", "support"} <= set(_attributes())


@pytest.mark.parametrize("method", _methods())
def test_method_documented_and_exercised(method):
    assert re.search(rf"^### `{method}\(", DOC, re.M), f"docs/backend-interface.md has no heading for {method}()"
    assert re.search(rf"def {method}\(|\.{method}\(", TOY), f"the toy backend neither overrides nor calls {method}()"


@pytest.mark.parametrize("attribute", _attributes())
def test_attribute_documented_and_set(attribute):
    assert re.search(rf"^### `{attribute}`$", DOC, re.M), f"docs/backend-interface.md has no heading for {attribute}"
    assert re.search(rf"^    {attribute} = ", TOY, re.M), f"the toy backend does not set {attribute}"


def test_doc_documents_nothing_that_is_gone():
    documented = set(re.findall(r"^### `(\w+)", DOC, re.M))
    assert documented == set(_methods()) | set(_attributes())
