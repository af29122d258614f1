"""pluggy hook specifications: the seam third-party backends plug into.

A plugin is a module (or object) registered under the entry-point group
``hwquant.backends`` that implements::

    @hwquant.hookimpl
    def hwquant_register_backends(registry):
        registry.add(MyBackend)

Behaviour lives on the ``Backend`` subclass, not in hooks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from hwquant.plugin.manager import BackendRegistry

PROJECT = "hwquant"
ENTRY_POINT_GROUP = "hwquant.backends"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def hwquant_register_backends(registry: BackendRegistry) -> None:
    """Add Backend subclasses to ``registry`` with ``registry.add(cls)``."""
