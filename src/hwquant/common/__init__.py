"""Helpers every other package uses: errors and exit codes, hashing, TOML reading, log silencing, consoles.

Imports nothing else from hwquant (the bottom layer of the import-linter contract).
"""
