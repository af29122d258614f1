"""The converter's native steps (load, convert, calibrate, quantize, layer sensitivity) run in the
worker of ``hwquant.device.contain``, so a crash cannot take hwquant down.

TensorFlow's converter, calibrator and quantizer are C++ that a user's model can crash (a
segmentation fault in the calibrator on a Keras 3 LSTM was the first seen). Each public step of
converter.py therefore runs through ``call``: a crash becomes a ``Crashed`` error (exit 4) naming
the step, the signal and what is known about the model. The worker is the one the verify stage's
LiteRT and TFLM invokes use too: one process per build, forked after TensorFlow was imported but
before it ran anything (``converter.tf()`` imports it before the first request). In a process that
already ran TensorFlow (a notebook, ``hwquant.build(model)`` after training in the same script), the
worker is a fresh interpreter instead, kept for the life of the process (see ``device.contain``).
``stop`` ends a build's worker when the loaded model is cleaned up; ``HWQUANT_ISOLATE=0`` runs the
steps in-process.
"""

from __future__ import annotations

from hwquant.device.contain import (
    FAULTS,
    Crashed,
    RemoteTraceback,
    call,
    crash_site,
    crashed,
    isolated,
    signal_name,
    start_method,
    stop,
    tf_started,
)

__all__ = [
    "FAULTS",
    "Crashed",
    "RemoteTraceback",
    "call",
    "crash_site",
    "crashed",
    "isolated",
    "signal_name",
    "start_method",
    "stop",
    "tf_started",
]
