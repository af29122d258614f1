"""Plugin manager: built-in backends and third-party ones, loaded the same way."""
from __future__ import annotations

import importlib
from functools import lru_cache

import pluggy

from hwquant.plugin import hookspecs
from hwquant.common.errors import UsageError

# Built-in backend modules. They are also declared in pyproject's entry-point group; this
# tuple lets a source checkout (not installed) find them too.
BUILTIN_BACKENDS = (
    "hwquant_backends.cpu",
    "hwquant_backends.edgetpu",
    "hwquant_backends.mcu",
    "hwquant_backends.gpu",
)


class BackendRegistry:
    """Holds Backend classes by name; the hook calls ``add``."""

    def __init__(self) -> None:
        self._backends: dict[str, type] = {}
        self.sources: dict[str, str] = {}
        self._current_source = "?"

    def add(self, cls: type) -> None:
        from hwquant.plugin.backend import Backend

        if not (isinstance(cls, type) and issubclass(cls, Backend)):
            raise TypeError(f"{cls!r} is not a hwquant.Backend subclass")
        if not cls.name:
            raise TypeError(f"{cls.__name__} has no name")
        if cls.name in self._backends and self._backends[cls.name] is not cls:
            raise UsageError(f"two backends are named {cls.name!r}: {self.sources[cls.name]} and {self._current_source}")
        self._backends[cls.name] = cls
        self.sources[cls.name] = self._current_source

    def names(self) -> list[str]:
        return list(self._backends)

    def get(self, name: str):
        try:
            return self._backends[name]()
        except KeyError:
            raise UsageError(f"unknown target {name!r}", hint=f"available targets: {', '.join(self._backends) or 'none'}"
                             " (see `hwquant targets`)") from None

    def all(self):
        return [cls() for cls in self._backends.values()]


class PluginManager:
    """Wraps pluggy: load built-ins and entry points, check hooks, collect backends."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)

    def load(self) -> BackendRegistry:
        self.pm.load_setuptools_entrypoints(hookspecs.ENTRY_POINT_GROUP)
        for modname in BUILTIN_BACKENDS:
            mod = importlib.import_module(modname)
            if not self.pm.is_registered(mod) and self.pm.get_plugin(modname) is None:
                self.pm.register(mod, name=modname)
        self.pm.check_pending()
        registry = BackendRegistry()
        for impl in self.pm.hook.hwquant_register_backends.get_hookimpls():
            registry._current_source = getattr(impl.plugin, "__name__", None) or self.pm.get_name(impl.plugin)
            impl.function(registry=registry)
        return registry


@lru_cache(maxsize=1)
def registry() -> BackendRegistry:
    """The process-wide registry of every backend (built-in and third-party)."""
    return PluginManager().load()
