"""Ops the TFLM interpreter (and LiteRT's reference kernels) abort on instead of refusing them.

A crash in the worker (``hwquant.contain``) or in an arena probe names these ops as its likely
cause: the message then says which op and why, where the interpreter itself says nothing (an abort
prints no line).
"""

from __future__ import annotations

from hwquant import TfliteModel


def known_crashes(model: TfliteModel) -> list[str]:
    """The ops of ``model`` that TFLM (and LiteRT's reference kernels) abort on rather than refuse.

    SOFTMAX on int8: its prepare step computes ``beta * input_scale * 2**26`` and checks, with an
    abort (TFLITE_CHECK in QuantizeMultiplierGreaterThanOne), that it is above 1. An input scale at
    or below 2**-26 / beta (1.5e-8) means logits that span less than 4e-6: an untrained or collapsed
    classifier whose outputs are constant.
    """
    found = []
    for op in model.ops:
        if op.name != "SOFTMAX" or not op.inputs or op.inputs[0].dtype != "int8" or op.inputs[0].quant is None:
            continue
        scale = float(op.inputs[0].quant.scale[0])
        beta = float(op.option("beta", 1.0) or 1.0)
        if beta * scale * 2**26 <= 1.0:
            found.append(
                f"SOFTMAX (op {op.index}) on int8 input {op.inputs[0].name!r} with scale {scale:.3g}: TFLM's softmax "
                "aborts when beta * scale * 2**26 <= 1 (the logits span less than "
                f"{255 * scale:.2g}; is the model trained?)"
            )
    return found


def crash_about(model: TfliteModel) -> str:
    """What a crash report says about ``model``: the ops known to crash the interpreters, if any."""
    known = known_crashes(model)
    return "the likely cause: " + "; ".join(known) if known else f"{len(model.ops)} ops, none known to crash it"
