"""The plugin seam: the Backend base class, hook specs, the plugin manager, recipes and build facts.

Backends (built-in and third-party) reach this only through the public ``hwquant`` API.
"""
