"""What the recipe choice needs from the build: the work every target of one build shares.

``hwquant.pipeline.prepare.Prepared`` implements it; the choice package reads it and never assigns
its attributes. Every method computes once per build and returns the same value afterwards.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol

import numpy as np

from hwquant.choice.verify import Comparison
from hwquant.config.data import DataSet
from hwquant.plugin.facts import BuildOptions, ModelFacts
from hwquant.plugin.recipe import Recipe


class StageTimer(Protocol):
    """Wall time per named stage (``hwquant.pipeline.prepare.Timer``)."""

    def stage(self, name: str) -> AbstractContextManager[None]: ...


class SharedBuild(Protocol):
    """One build's shared inputs and its memoized steps."""

    @property
    def options(self) -> BuildOptions: ...
    @property
    def facts(self) -> ModelFacts: ...
    @property
    def float_model(self) -> bytes: ...
    @property
    def calibration(self) -> DataSet | None: ...
    @property
    def evaluation(self) -> DataSet: ...

    def artifact(self, recipe: Recipe, timer: StageTimer | None = None) -> bytes:
        """``recipe`` converted (once per build; from the shared calibration when the recipe allows)."""
        ...

    def reference(self) -> dict[str, np.ndarray]:
        """The float model's outputs on the evaluation set."""
        ...

    def compare(self, artifact: bytes) -> Comparison:
        """``artifact`` against the float reference on the evaluation set (the verify comparison)."""
        ...

    def sensitivity(self) -> list[dict[str, Any]]:
        """Per-layer int8 sensitivity rows (empty without real calibration data or with several signatures)."""
        ...

    @property
    def sensitivity_computed(self) -> bool:
        """Whether the sensitivity rows were computed (non-empty) by a target of this build so far."""
        ...

    def range_warnings(self) -> list[str]:
        """Eval inputs beyond the calibration range by a clear margin."""
        ...
