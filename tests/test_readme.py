"""README claims that follow from the code, checked so they cannot rot silently."""

from __future__ import annotations

import re
from pathlib import Path

from hwquant.common import toml

REPO = Path(__file__).resolve().parents[1]


def test_runtime_only_dependency_list_matches_pyproject():
    readme = (REPO / "README.md").read_text()
    m = re.search(
        r"runtime-only install \(`pip install hwquant`: the base dependencies in\s+`pyproject.toml`(.*?)no\s+TensorFlow",
        readme,
        re.S,
    )
    assert m, "README's runtime-only sentence is gone"
    named = {w.lower() for w in re.findall(r"[A-Za-z][\w-]*", m.group(1))}
    deps = toml.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.match(r"[A-Za-z0-9_.-]+", d).group(0).lower() for d in deps}
    assert names <= named, f"README's runtime-only list lacks {sorted(names - named)}"
    assert not any("tensorflow" in d.lower() for d in deps)
