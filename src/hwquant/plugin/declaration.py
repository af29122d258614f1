"""What a backend declares as data, the errors it raises about recipes and data, and how it is shown.

Kept apart from the lifecycle (``hwquant.plugin.backend.Backend``): ``Declaration`` holds the class
attributes a backend sets, ``Messages`` builds the user-facing errors from them, ``Display`` what
``hwquant targets`` prints. ``Backend`` inherits all three; a backend overrides a message or a
display method only to add to it.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from hwquant.common.errors import HwquantError, InputError, ToolchainError, UsageError
from hwquant.plugin.options import BackendOption

if TYPE_CHECKING:
    from hwquant.plugin.backend import OpSupport
    from hwquant.plugin.recipe import Recipe


@dataclass
class ToolchainStatus:
    available: bool
    detail: str


class Declaration:
    """The class attributes of a backend: data, read by the core, the CLI and the manifest."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    recipe_rule: ClassVar[str] = ""  # one line: how the recipe is chosen
    allowed_recipes: ClassVar[tuple[str, ...]] = ()
    recipe_refusals: ClassVar[Mapping[str, str]] = MappingProxyType({})  # recipe -> why it is refused
    default_io_dtype: ClassVar[str | None] = None
    weight_dtypes: ClassVar[tuple[str, ...]] = ()
    activation_dtypes: ClassVar[tuple[str, ...]] = ()
    io_dtypes: ClassVar[tuple[str, ...]] = ()
    backend_options: ClassVar[tuple[BackendOption, ...]] = ()
    support: ClassVar[OpSupport | None] = None
    artifact_name: ClassVar[str] = "model.tflite"
    tools: ClassVar[tuple[str, ...]] = ()  # executables the packaging step needs (for `targets`)


class Messages(Declaration):
    """The errors a backend raises about recipes and data; override one to explain more."""

    def refused(self, name: str) -> UsageError:
        """The exit-2 error for recipe ``name``, which this target does not allow."""
        why = self.recipe_refusals.get(name, "")
        return UsageError(
            f"target {self.name!r} does not allow recipe {name!r}" + (f": {why}" if why else ""),
            hint=f"{self.name} allows: {', '.join(self.allowed_recipes)}",
        )

    def missing_data_error(self, recipe: Recipe) -> HwquantError:
        """The error raised when ``recipe`` needs representative data and none was given."""
        return InputError(
            f"recipe {recipe.name!r} needs representative data to calibrate activation ranges",
            hint="pass --data FILE.npz|FILE.npy|IMAGE_DIR|module:function (or random:N for a smoke test)",
        )


def default_not_allowed(backend: Declaration, name: str) -> ToolchainError:
    """A plugin bug: its default recipe is not among its allowed ones (exit 4, naming the plugin)."""
    from hwquant.plugin.manager import registry

    return ToolchainError(
        f"backend {backend.name!r} (plugin {registry().plugin_of(type(backend))}, class "
        f"{type(backend).__qualname__}) chose default "
        f"recipe {name!r}, which is not in its allowed_recipes ({', '.join(backend.allowed_recipes)})",
        hint="a bug in that plugin: report it to its authors, or pass --recipe with an allowed one",
    )


class Display(Declaration):
    """What ``hwquant targets`` shows of a backend; override to add fields (call super())."""

    def toolchain(self) -> ToolchainStatus:
        """Whether the tools packaging needs are available on this machine."""
        missing = [t for t in self.tools if shutil.which(t) is None]
        if missing:
            return ToolchainStatus(False, f"missing: {', '.join(missing)}")
        return ToolchainStatus(True, "nothing extra needed" if not self.tools else "found: " + ", ".join(self.tools))

    def describe(self) -> dict[str, Any]:
        """The dict ``hwquant targets --json`` prints for this target."""
        tc = self.toolchain()
        return {
            "name": self.name,
            "description": self.description,
            "recipe_rule": self.recipe_rule,
            "recipes": list(self.allowed_recipes),
            "weights": list(self.weight_dtypes),
            "activations": list(self.activation_dtypes),
            "io": list(self.io_dtypes),
            "toolchain": {"available": tc.available, "detail": tc.detail},
            "options": [o.name for o in self.backend_options],
        }

    def op_table(self) -> dict[str, Any]:
        """The op table ``hwquant targets NAME --ops`` prints, generated from ``support``."""
        if self.support is None:
            return {"generic": [], "ops": []}
        return {"generic": self.support.generic_rules(), "ops": self.support.table()}
