"""The device side: what ``pip install hwquant`` (no TensorFlow) ships to run artifacts.

LiteRT interpreter helpers, the .tflite flatbuffer reader, ``hwquant inspect`` and ``hwquant bench``.
Never imports the build pipeline (enforced by import-linter, see pyproject.toml).
"""
