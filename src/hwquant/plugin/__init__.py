"""The plugin seam: the Backend base class, hook specs, the plugin manager, recipes and build facts.

Backends (built-in and third-party) reach this only through the public ``hwquant`` API.
"""

from hwquant.common import progress  # long work on the command's progress display (also ``hwquant.progress``)

__all__ = ["progress"]
