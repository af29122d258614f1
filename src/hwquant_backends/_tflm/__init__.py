"""What every TensorFlow Lite Micro target shares (mcu, ethos-u): not a backend, a library for them.

- ``ops``: the builtin ops TFLM has kernels for, per dtype (the op table, resolver methods);
- ``arena``: the exact tensor arena, measured in the tflite-micro interpreter (one probe script);
- ``crosscheck``: TFLM against LiteRT's reference kernels on the same inputs;
- ``carray``, ``settings``, ``project``: the C array, model_settings.h and the generated project
  (CMake or Arduino; templates in ``templates/``, filled by ``project.template()``/``project.fill()``);
- ``footprint``, ``flash_figures``: flash and RAM against a board's budget;
- ``integer_io``: the IO dtype rule of the integer recipes.

The backends import these names and nothing of each other's (import-linter's independence
contract in pyproject.toml keeps it so).
"""

from __future__ import annotations

from hwquant import BuildOptions, Recipe

__all__ = ["integer_io"]


def integer_io(recipe: Recipe, options: BuildOptions, reasons: list[str]) -> Recipe:
    """16x8 recipes get int16 inputs and outputs unless --io-dtype says otherwise (firmware feeds integers)."""
    if recipe.activations == "int16" and recipe.io_dtype == "float32" and not options.io_dtype:
        reasons.append("int16 inputs and outputs: firmware feeds the model integers")
        return recipe.with_io("int16")
    return recipe
