"""Keras recurrent layers in a form the TFLite converter and calibrator can handle.

Keras 3 no longer marks its LSTM for the converter's fused-LSTM pass: its layers convert to a
WHILE loop over resource variables, which TensorFlow's calibrator crashes on (SIGSEGV in
``_feed_tensors``) and which fails at invoke anyway. tf_keras (Keras 2) still builds its LSTM as a
function the converter fuses into ``UNIDIRECTIONAL_SEQUENCE_LSTM`` (int8 and 16x8 kernels in LiteRT
and TFLM). So a Keras 3 model with recurrent layers is rebuilt layer by layer in tf_keras with a
batch of 1 and the same weights (``rebuild``):

- ``LSTM`` with the standard activations (tanh, sigmoid), no recurrent dropout, bias: fused, one
  ``UNIDIRECTIONAL_SEQUENCE_LSTM`` op holding the weights once; ``Bidirectional(LSTM)``: two of
  them and a ``REVERSE_V2``.
- ``GRU``, ``SimpleRNN`` and LSTMs with other activations have no fused TFLite kernel; their WHILE
  loop crashes the calibrator too. They are unrolled over the (static) sequence in tf_keras: plain
  FULLY_CONNECTED/ADD/MUL/... ops per time step, which run everywhere. The weights stay one constant
  each (Keras 3's own unroll copies them per step); each step adds its ops and tensors, so the
  artifact grows with the sequence. The loader says so in a warning naming the layer and the size.

The rebuilt model is checked against the original on a few inputs before anything converts it
(``check_same``): a rewrite that changes the float function is a bug (exit 1, both numbers).
A sequence length left dynamic cannot be unrolled or fused: exit 2 naming the input and
``--input-shape`` (shapes.py; ``why_static`` says why), which sizes it.

After quantization, ``align_lstm_states`` repairs what TensorFlow's quantizer leaves inconsistent
in a fused LSTM whose output feeds a same-scale op (``Bidirectional``: STRIDED_SLICE and
CONCATENATION tie the output to the concatenation's range). The LSTM's hidden state lives in
three tensors: the output, the output-state variable (input 18, the recurrent input) and the
``effective_hidden_scale`` intermediate (the fifth). The quantizer calibrates them apart, the
same-scale pass then rewrites only the output, and the two runtimes each trust another one:
LiteRT quantizes the new hidden state with the intermediate's scale and copies it to the state
and the output unchanged, TFLM quantizes it with the state's scale. On the zoo's Bidirectional
LSTM the forward LSTM's hidden state then differed by up to 80 int8 steps between TFLM and
LiteRT (4 steps after the softmax); both were wrong, each read an int8 value with a scale it
was not written in. Giving the state and the intermediate the output's parameters makes every
reading agree with the writing (the state starts at its zero point in both runtimes), and the
runtimes then agree within one step.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from hwquant.common.errors import HwquantError

RECURRENT = ("LSTM", "GRU", "SimpleRNN", "Bidirectional", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", "RNN")
_DROPPED = ("_initializer", "_regularizer", "_constraint")  # the weights are copied: these change nothing


@dataclass
class Rewrite:
    """What ``rebuild`` made of a model's recurrent layers."""

    model: Any  # the tf_keras model (batch 1, same weights)
    rewrites: list[str] = field(default_factory=list)  # "LSTM lstm -> UNIDIRECTIONAL_SEQUENCE_LSTM"
    unrolled: list[str] = field(default_factory=list)  # "GRU gru (49 steps)": weights stored per step


class CannotRebuild(Exception):
    """A layer has no tf_keras twin (a custom or Keras-3-only layer)."""


def _all_layers(model) -> list[Any]:
    out = []
    for layer in getattr(model, "layers", []):
        out.append(layer)
        if hasattr(layer, "layers") and _kind(layer) != "Bidirectional":
            out.extend(_all_layers(layer))
    return out


def _kind(layer) -> str:
    return type(layer).__name__


def recurrent_layers(model) -> list[Any]:
    """The model's recurrent layers (top level and inside nested models)."""
    return [layer for layer in _all_layers(model) if _kind(layer) in RECURRENT]


def describe(layers: list[Any]) -> str:
    return ", ".join(f"{_kind(x)} {x.name}" for x in layers)


def input_name(x, i: int) -> str:
    name = getattr(x, "name", None) or f"input_{i}"
    return name.split(":")[0]


def why_static(layers: list[Any]) -> str:
    """What a dynamic sequence length stops, for the error that names it (convert/shapes.py)."""
    return f"the recurrent layers ({describe(layers)}) convert to TFLite only with a fixed length"


def _fusable_lstm(layer) -> bool:
    cfg = layer.get_config()
    return (
        _kind(layer) == "LSTM"
        and cfg.get("activation") == "tanh"
        and cfg.get("recurrent_activation") == "sigmoid"
        and not cfg.get("recurrent_dropout")
        and cfg.get("use_bias", True)
        and not cfg.get("unroll")
        and not cfg.get("stateful")
    )


# activations that tf_keras defines exactly as Keras 3 does (hard_sigmoid, for one, differs: Keras 3's
# is relu6(x + 3) / 6, tf_keras's clip(0.2 x + 0.5)); any other is passed as Keras 3's own function
_SAME_ACTIVATIONS = (None, "linear", "tanh", "sigmoid", "relu", "softmax")


def _keras3_activation(layer, spec):
    import keras

    try:
        return keras.activations.get(spec)
    except Exception as exc:
        raise CannotRebuild(f"{_kind(layer)} {layer.name} (activation {spec!r})") from exc


def _twin_layer(layer, seq_len: int | None, out: Rewrite):
    import tf_keras

    kind = _kind(layer)
    if kind == "Bidirectional":
        fwd = _twin_layer(layer.forward_layer, seq_len, out)
        bwd = _twin_layer(layer.backward_layer, seq_len, out)
        return tf_keras.layers.Bidirectional(
            fwd, backward_layer=bwd, merge_mode=layer.get_config().get("merge_mode"), name=layer.name
        )
    cls = getattr(tf_keras.layers, kind, None)
    if cls is None or not isinstance(cls, type):
        raise CannotRebuild(f"{kind} {layer.name}")
    params = inspect.signature(cls).parameters
    cfg = layer.get_config()
    kw = {k: v for k, v in cfg.items() if k in params and k != "dtype" and not k.endswith(_DROPPED)}
    for key in ("activation", "recurrent_activation"):
        if key in kw and kw[key] not in _SAME_ACTIVATIONS:
            kw[key] = _keras3_activation(layer, kw[key])
    kw["name"] = layer.name
    if kind in ("LSTM", "GRU", "SimpleRNN"):
        if kind == "LSTM" and _fusable_lstm(layer):
            out.rewrites.append(f"LSTM {layer.name} -> UNIDIRECTIONAL_SEQUENCE_LSTM")
        else:
            kw["unroll"] = True
            out.unrolled.append(f"{kind} {layer.name}")
            out.rewrites.append(f"{kind} {layer.name} -> unrolled over {seq_len} time steps")
    elif kind in RECURRENT:
        raise CannotRebuild(f"{kind} {layer.name}")
    try:
        return cls(**kw)
    except Exception as exc:
        raise CannotRebuild(f"{kind} {layer.name} ({type(exc).__name__}: {exc})") from exc


def rebuild(model, shapes: list[list[int]] | None = None) -> Rewrite:
    """The model rebuilt in tf_keras with batch 1 and the same weights (CannotRebuild if a layer
    has no tf_keras twin); ``shapes``: each input's static shape (default: the model's own)."""
    import tf_keras

    graph = getattr(model, "_functional", None) or model
    if not hasattr(graph, "_run_through_graph"):
        raise CannotRebuild(f"{type(model).__name__} {model.name} (a subclassed model)")
    out = Rewrite(None)
    twins: dict[int, Any] = {}
    originals: dict[int, Any] = {}
    dims = shapes or [list(x.shape) for x in graph.inputs]
    seq_len = dims[0][1] if dims and len(dims[0]) > 1 else None

    def twin(op):
        if id(op) not in twins:
            if _kind(op) in ("Functional", "Sequential", "Model"):
                raise CannotRebuild(f"{_kind(op)} {op.name} (a nested model)")
            twins[id(op)] = _twin_layer(op, seq_len, out)
            originals[id(op)] = op
        return twins[id(op)]

    inputs = [
        tf_keras.Input(shape=tuple(dims[i][1:]), batch_size=1, name=input_name(x, i))
        for i, x in enumerate(graph.inputs)
    ]
    try:
        outputs = graph._run_through_graph(inputs if len(inputs) > 1 else inputs[0], operation_fn=twin)
    except CannotRebuild:
        raise
    except Exception as exc:
        raise CannotRebuild(f"the layer graph ({type(exc).__name__}: {exc})") from exc
    out.model = tf_keras.Model(inputs, outputs, name=model.name)
    for key, layer in originals.items():
        try:
            twins[key].set_weights(layer.get_weights())
        except Exception as exc:
            raise CannotRebuild(f"{_kind(layer)} {layer.name} (weights: {exc})") from exc
    return out


def unroll_in_keras(model, shapes: list[list[int]] | None = None):
    """The fallback when a layer has no tf_keras twin: the Keras 3 model with every recurrent layer
    unrolled (plain ops, weights per time step), same weights; ``shapes`` as for ``rebuild``."""
    import keras

    def clone(layer):
        cfg = layer.get_config()
        if _kind(layer) in ("LSTM", "GRU", "SimpleRNN"):
            cfg["unroll"] = True
        elif _kind(layer) == "Bidirectional":
            for key in ("layer", "backward_layer"):
                if cfg.get(key):
                    cfg[key]["config"]["unroll"] = True
        return type(layer).from_config(cfg)

    inputs = None
    if shapes and any(list(x.shape[1:]) != list(s[1:]) for x, s in zip(model.inputs, shapes, strict=True)):
        inputs = [
            keras.Input(batch_shape=tuple(s), name=input_name(x, i))
            for i, (x, s) in enumerate(zip(model.inputs, shapes))
        ]
        inputs = inputs if len(inputs) > 1 else inputs[0]
    twin = keras.models.clone_model(model, input_tensors=inputs, clone_function=clone)
    twin.set_weights(model.get_weights())
    return twin


def samples(model, n: int = 4, seed: int = 0, shapes: list[list[int]] | None = None) -> list[Any]:
    """A few standard-normal inputs (batch 1) for the float check."""
    import numpy as np

    rng = np.random.default_rng(seed)
    dims = shapes or [list(x.shape) for x in model.inputs]
    return [[rng.standard_normal((1, *tuple(d[1:]))).astype(np.float32) for d in dims] for _ in range(n)]


def check_same(original, twin, what: str, n: int = 4, shapes: list[list[int]] | None = None) -> float:
    """Run both models on ``n`` inputs; a difference beyond float32 rounding is a bug (exit 1)."""
    import numpy as np

    worst, scale = 0.0, 0.0
    for xs in samples(original, n, shapes=shapes):
        a = original(xs if len(xs) > 1 else xs[0], training=False)
        b = twin(xs if len(xs) > 1 else xs[0], training=False)
        for u, v in zip(_flat(a), _flat(b), strict=True):
            u, v = np.asarray(u, np.float64), np.asarray(v, np.float64)
            worst = max(worst, float(np.abs(u - v).max()))
            scale = max(scale, float(np.abs(u).max()))
    tolerance = 1e-4 * max(1.0, scale)
    if not worst <= tolerance:
        raise HwquantError(
            f"rewriting the recurrent layers ({what}) changed the model's float outputs: max |difference| "
            f"{worst:.3g} on outputs up to {scale:.3g} in magnitude (tolerance {tolerance:.3g})",
            hint="this is a bug in hwquant's rewrite, not in the model: please report it with the model",
        )
    return worst


def _flat(x) -> list[Any]:
    if isinstance(x, dict):
        return [x[k] for k in sorted(x)]
    if isinstance(x, list | tuple):
        return [y for item in x for y in _flat(item)]
    return [x]


def export(t, twin, specs: list[Any], out) -> None:
    """Save the tf_keras model as a SavedModel with one ``serving_default`` signature (batch 1)."""

    @t.function(input_signature=specs)
    def serve(*xs):
        return twin(list(xs) if len(xs) > 1 else xs[0], training=False)

    t.saved_model.save(twin, str(out), signatures={"serving_default": serve.get_concrete_function()})


_LSTM_OUTPUT_STATE = 18  # the UNIDIRECTIONAL_SEQUENCE_LSTM input that carries h(t-1) (a variable tensor)
_LSTM_HIDDEN_INTERMEDIATE = 4  # "effective_hidden_scale_intermediate"


def align_lstm_states(obj, opcode_name) -> list[str]:
    """Give each quantized fused LSTM's output-state tensor and hidden intermediate the quantization
    of its output, where the quantizer left them different (see the module docstring); modifies the
    flatbuffer object ``obj`` (``flatbuffer_utils``' form) in place. Returns one line per LSTM changed."""
    import numpy as np

    changed = []
    for sg in obj.subgraphs or []:
        for op in sg.operators or []:
            if opcode_name(obj, op.opcodeIndex) != "UNIDIRECTIONAL_SEQUENCE_LSTM":
                continue
            inputs = list(op.inputs) if op.inputs is not None else []
            if len(inputs) <= _LSTM_OUTPUT_STATE or inputs[_LSTM_OUTPUT_STATE] < 0:
                continue
            out = sg.tensors[op.outputs[0]]
            if not _quantized(out):
                continue
            targets = [sg.tensors[inputs[_LSTM_OUTPUT_STATE]]]
            mids = list(op.intermediates) if op.intermediates is not None else []
            if len(mids) > _LSTM_HIDDEN_INTERMEDIATE and _quantized(sg.tensors[mids[_LSTM_HIDDEN_INTERMEDIATE]]):
                targets.append(sg.tensors[mids[_LSTM_HIDDEN_INTERMEDIATE]])
            want = _params(out)
            stale = [t for t in targets if _quantized(t) and t.type == out.type and _params(t) != want]
            for t in stale:
                t.quantization.scale = np.array(out.quantization.scale, dtype=np.float32)
                t.quantization.zeroPoint = np.array(out.quantization.zeroPoint, dtype=np.int64)
            if stale:
                changed.append(
                    f"{_tensor_name(out)}: hidden state quantization aligned with the output "
                    f"(scale {want[0][0]:.6g}, zero point {want[1][0]})"
                )
    return changed


def _quantized(t) -> bool:
    q = getattr(t, "quantization", None)
    return q is not None and q.scale is not None and len(q.scale) > 0 and q.zeroPoint is not None


def _params(t) -> tuple[tuple[float, ...], tuple[int, ...]]:
    q = t.quantization
    return tuple(float(x) for x in q.scale), tuple(int(x) for x in q.zeroPoint)


def _tensor_name(t) -> str:
    name = t.name
    return name.decode() if isinstance(name, bytes) else str(name)
