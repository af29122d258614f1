"""Plugin manager: every backend, built-in or third-party, arrives through one entry-point group.

Built-in backends are declared in hwquant's own pyproject under ``hwquant.backends``, exactly
as a third-party package declares its own; there is no second list. A source checkout that
was never installed therefore has no backends, and says how to install.

A plugin that fails to import, declares a hook no spec knows, or whose hook raises is reported
(``BackendRegistry.skipped``) and left out; the other plugins still load. ``HWQUANT_DISABLE_PLUGINS``
(comma-separated entry-point or distribution names) keeps named plugins from loading at all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any

import pluggy

from hwquant.common.errors import UsageError
from hwquant.plugin import hookspecs

if TYPE_CHECKING:
    from hwquant.plugin.backend import Backend

DISABLE_ENV = "HWQUANT_DISABLE_PLUGINS"
OWN_DISTRIBUTION = "hwquant"


@dataclass(frozen=True)
class Plugin:
    """One loaded plugin: its entry point, distribution and module (what its classes live under)."""

    name: str  # entry-point name
    module: str  # the entry point's module, e.g. "hwquant_backends.cpu"
    distribution: str  # e.g. "hwquant" or "hwquant-toy-backend"

    def owns(self, module: str) -> bool:
        return module == self.module or module.startswith(self.module + ".")

    def __str__(self) -> str:
        return f"{self.distribution}:{self.name}" if self.distribution != OWN_DISTRIBUTION else f"built-in:{self.name}"


class BackendRegistry:
    """Holds Backend classes by name; the hook calls ``add``. Each class's plugin is read off the class."""

    def __init__(self, plugins: list[Plugin] | None = None) -> None:
        self._backends: dict[str, type[Backend]] = {}
        self.plugins: list[Plugin] = list(plugins or [])
        self.skipped: list[tuple[str, str]] = []  # (plugin, why) for plugins that failed and were left out
        self.disabled: list[str] = []  # plugins named in $HWQUANT_DISABLE_PLUGINS
        self.refused: dict[str, UsageError] = {}  # target name -> why its class was refused at registration

    def plugin_of(self, cls: type) -> str:
        """The plugin a backend class comes from: the loaded plugin owning ``cls.__module__``."""
        owners = [p for p in self.plugins if p.owns(cls.__module__)]
        return str(max(owners, key=lambda p: len(p.module))) if owners else cls.__module__

    def add(self, cls: type) -> None:
        """Register a Backend subclass; a class that is incomplete or inconsistent is refused here,
        at registration, with the plugin named (exit 2), not halfway through a build."""
        from hwquant.plugin.backend import Backend
        from hwquant.plugin.recipe import PRESETS

        if not (isinstance(cls, type) and issubclass(cls, Backend)):
            raise TypeError(f"{cls!r} is not a hwquant.Backend subclass")
        where = f"backend class {cls.__qualname__} (plugin {self.plugin_of(cls)})"
        missing = sorted(getattr(cls, "__abstractmethods__", ()))
        if missing:
            raise self._refuse(
                cls,
                UsageError(
                    f"{where} does not define {', '.join(m + '()' for m in missing)}, which every backend must",
                    hint="a bug in that plugin: report it to its authors (see docs/backend-interface.md), "
                    f"or disable it with {DISABLE_ENV}",
                ),
            )
        if not cls.name:
            raise TypeError(f"{cls.__name__} has no name")
        legacy = vars(cls).get("options")
        if isinstance(legacy, tuple) and legacy:
            raise self._refuse(
                cls,
                UsageError(
                    f"{where} declares its options as `options`; the attribute is now `backend_options`",
                    hint="a bug in that plugin: rename the class attribute (docs/backend-interface.md)",
                ),
            )
        if callable(vars(cls).get("recipe_refusal")):
            raise self._refuse(
                cls,
                UsageError(
                    f"{where} defines recipe_refusal(); the reasons are now the `recipe_refusals` mapping",
                    hint="a bug in that plugin: declare recipe_refusals = {recipe: why} (docs/backend-interface.md)",
                ),
            )
        unknown = [r for r in cls.allowed_recipes if r not in PRESETS]
        if unknown:
            raise TypeError(f"{cls.__name__}.allowed_recipes names unknown recipes: {', '.join(unknown)}")
        if cls.name in self._backends and self._backends[cls.name] is not cls:
            raise UsageError(
                f"two backends are named {cls.name!r}: {self.plugin_of(self._backends[cls.name])} "
                f"and {self.plugin_of(cls)}"
            )
        self._backends[cls.name] = cls

    def _refuse(self, cls: type, exc: UsageError) -> UsageError:
        """Remember why ``cls`` was refused, so that asking for its target later says so (exit 2)."""
        name = getattr(cls, "name", "")
        if isinstance(name, str) and name:
            self.refused[name] = exc
        return exc

    @property
    def sources(self) -> dict[str, str]:
        return {name: self.plugin_of(cls) for name, cls in self._backends.items()}

    def names(self) -> list[str]:
        return list(self._backends)

    def get(self, name: str) -> Backend:
        try:
            return self._backends[name]()
        except KeyError:
            if name in self.refused:
                refused = self.refused[name]
                raise UsageError(f"target {name!r} is not available: {refused.message}", hint=refused.hint) from None
            raise UsageError(
                f"unknown target {name!r}",
                hint=f"available targets: {', '.join(self._backends) or 'none'} (see `hwquant targets`)",
            ) from None

    def all(self) -> list[Backend]:
        return [cls() for cls in self._backends.values()]


def disabled_names() -> set[str]:
    return {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}


def _distribution(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return dist.metadata["Name"] if dist is not None else "?"


class PluginManager:
    """Wraps pluggy: load the entry points, check each plugin's hooks, collect backends through the hook."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.registry = BackendRegistry()

    def discover(self, eps: list[EntryPoint] | None = None) -> list[EntryPoint]:
        """The group's entry points; an error saying how to install when hwquant's own are not among them."""
        eps = list(entry_points(group=hookspecs.ENTRY_POINT_GROUP)) if eps is None else eps
        if not any(_distribution(ep) == OWN_DISTRIBUTION for ep in eps):
            raise UsageError(
                f"hwquant's built-in backends are not registered: no '{hookspecs.ENTRY_POINT_GROUP}' entry points "
                "from the hwquant distribution (a source checkout that is not installed?)",
                hint="install it, e.g. `pip install -e .` in the checkout (backends register only through entry points)",
            )
        return eps

    def add(self, plugin: Any, name: str, module: str, distribution: str) -> bool:
        """Register one plugin; a plugin whose hooks do not validate is reported and left out."""
        try:
            self.pm.register(plugin, name=name)
            self.pm.check_pending()
        except Exception as exc:
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            self.skip(name, exc)
            return False
        self.registry.plugins.append(Plugin(name, module, distribution))
        return True

    def skip(self, name: str, exc: BaseException) -> None:
        self.registry.skipped.append((name, f"{type(exc).__name__}: {_first_line(exc)}"))

    def load(self) -> BackendRegistry:
        off = disabled_names()
        for ep in self.discover():
            if ep.name in off or _distribution(ep) in off:
                self.registry.disabled.append(ep.name)
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                self.skip(ep.name, exc)
                continue
            self.add(plugin, ep.name, ep.module, _distribution(ep))
        return self.collect()

    def collect(self) -> BackendRegistry:
        """Call the hook through pluggy. If it raises, call it plugin by plugin (built-ins first) to find
        the plugin at fault, report it and keep what the others registered."""
        reg = self.registry
        try:
            self.pm.hook.hwquant_register_backends(registry=reg)
        except Exception:
            reg = self.registry = self._one_by_one(reg)
        # pluggy calls the last registered plugin first; list backends in entry-point order instead
        order = {str(p): i for i, p in enumerate(reg.plugins)}
        reg._backends = dict(sorted(reg._backends.items(), key=lambda kv: order.get(reg.plugin_of(kv[1]), len(order))))
        return reg

    def _one_by_one(self, failed: BackendRegistry) -> BackendRegistry:
        good = _fresh(failed)
        for info in sorted(failed.plugins, key=lambda p: p.distribution != OWN_DISTRIBUTION):
            plugin = self.pm.get_plugin(info.name)
            trial = _fresh(good)
            trial._backends = dict(good._backends)
            others = [p for p in self.pm.get_plugins() if p is not plugin]
            try:
                self.pm.subset_hook_caller("hwquant_register_backends", others)(registry=trial)
            except Exception as exc:
                self.pm.unregister(plugin)
                good.plugins.remove(info)
                self.skip(info.name, exc)
                good.skipped = self.registry.skipped
                continue
            good = trial
        return good


def _fresh(old: BackendRegistry) -> BackendRegistry:
    new = BackendRegistry(old.plugins)
    new.skipped, new.disabled, new.refused = old.skipped, old.disabled, old.refused
    return new


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else "(no message)"


@lru_cache(maxsize=1)
def registry() -> BackendRegistry:
    """The process-wide registry of every backend (built-in and third-party)."""
    return PluginManager().load()
