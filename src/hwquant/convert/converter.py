"""The one module that talks to TensorFlow: load a model, apply a recipe with TFLiteConverter.

TensorFlow is imported lazily, so `hwquant inspect` / `bench` never pay for it.

Loading normalizes every model to a SavedModel whose signatures have a static batch of 1
(Keras models are exported through keras.export.ExportArchive; SavedModels with a dynamic
batch are re-saved with fixed-shape concrete functions). The TFLite converter then sees
static shapes, so the artifact has no SHAPE/PACK ops for dynamic batch handling, which
accelerators and microcontrollers reject. Old SavedModels that the TF2 loader rejects fall
back to the TF1 converter.

Keras models with recurrent layers are rebuilt for the converter first (recurrent.py: tf_keras
twins, fused LSTM). Every step that runs TensorFlow's native code on the user's model (loading
and the float conversion, conversion, calibration, quantization, the quantization debugger) runs
in one worker process per build (worker.py), so a native crash is an error naming the step, not
the end of hwquant. The public functions below keep their signatures; each sends its ``_..._here``
twin to the worker.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hwquant.common import interrupts
from hwquant.common.errors import InputError, ToolchainError, first_line
from hwquant.common.quiet import captured_output, quiet_env
from hwquant.config.model_format import detect_format
from hwquant.convert import load_errors, recurrent, shapes, worker
from hwquant.plugin.recipe import PRESETS, Recipe

FLOAT32 = PRESETS["float32"]

_TF = None


def tf(verbose: bool = False):
    """Import TensorFlow once, quietly unless verbose."""
    global _TF
    if _TF is None:
        quiet_env(verbose)
        try:
            with captured_output(verbose):
                import tensorflow
        except ImportError as exc:
            raise ToolchainError(
                "building needs TensorFlow, which is not installed", hint="pip install 'hwquant[build]'"
            ) from exc
        if not verbose:
            # calibration runs TF's own deprecated interpreter, which warns on every conversion
            warnings.filterwarnings("ignore", message=r".*tf\.lite\.Interpreter is deprecated")
            tensorflow.get_logger().setLevel("ERROR")
            try:
                import absl.logging

                absl.logging.set_verbosity(absl.logging.ERROR)
            except ImportError:
                pass
        _TF = tensorflow
    return _TF


@dataclass
class LoadedModel:
    """A model ready for conversion: a normalized SavedModel dir, or a TF1 fallback path."""

    path: Path
    format: str  # savedmodel | keras | h5
    loader: str  # tf2-saved-model | tf2-keras | tf1-saved-model
    saved_model_dir: Path
    signature_keys: list[str]
    workdir: Path | None = None
    notes: list[str] = field(default_factory=list)
    attempts: list[str] = field(default_factory=list)
    verbose: bool = False
    float_model: bytes = b""  # the float32 conversion, made while loading (it proves the loader works)
    rewrites: list[str] = field(default_factory=list)  # "LSTM lstm -> UNIDIRECTIONAL_SEQUENCE_LSTM"
    warnings: list[str] = field(default_factory=list)  # what the user should know (e.g. unrolled layers)
    layers: list[str] = field(default_factory=list)  # the layers a native crash most likely concerns

    def cleanup(self) -> None:
        worker.stop()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            interrupts.release(self.workdir)


def load(
    path: str | Path, verbose: bool = False, trust: bool = False, input_shapes: tuple[str, ...] = ()
) -> LoadedModel:
    """Load any supported model and normalize it for conversion (static batch 1).

    Errors are sorted by fault (load_errors.py): unreadable file exit 2, converter exit 4, and
    hwquant's own bugs propagate. ``trust`` loads Keras files with safe_mode=False (Lambda layers).
    ``input_shapes`` (``NAME=1x96x96x3``, shapes.py) size the inputs' dynamic dimensions; one left
    dynamic is exit 2 naming the input, the dimension and ``--input-shape``.
    """
    given = shapes.parse(input_shapes)  # a malformed option fails before TensorFlow loads
    path = Path(path)
    fmt = detect_format(path)
    tf(verbose)  # imported here, before the worker forks: each worker starts with TensorFlow loaded
    with interrupts.shielded():  # registered before a signal can leave it behind
        workdir = interrupts.temporary(Path(tempfile.mkdtemp(prefix="hwquant-load-")))
    try:
        interrupts.checkpoint()
        return worker.call(
            _load_here,
            path,
            fmt,
            workdir,
            verbose,
            trust,
            given,
            stage="loading the model and converting it to float32",
            tool="TensorFlow",
            about=f"the model is {path}",
            verbose=verbose,
        )
    except BaseException:
        worker.stop()
        with interrupts.shielded():
            shutil.rmtree(workdir, ignore_errors=True)
            interrupts.release(workdir)
        raise


def _load_here(path: Path, fmt: str, workdir: Path, verbose: bool, trust: bool, given: _Shapes) -> LoadedModel:
    t = tf(verbose)
    with captured_output(verbose):
        if fmt in ("keras", "h5"):
            return _load_keras(t, path, fmt, workdir, verbose, trust, given)
        return _load_saved_model(t, path, workdir, verbose, given)


_Shapes = dict[str | None, tuple[int, ...]]


def _shape_notes(names: list[str], given: _Shapes) -> list[str]:
    return [
        f"input {n!r} fixed to {'x'.join(map(str, given.get(n, given.get(None, ()))))} ({shapes.OPTION})"
        for n in names
        if n in given or (None in given and len(names) == 1)
    ]


_LOOPS = ("WHILE", "IF", "CALL_ONCE", "VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE", "CUSTOM")


def _about(loaded: LoadedModel) -> str:
    """What a crash message says about the model: its recurrent layers, else its ops (loops first)."""
    if loaded.layers:
        return f"the model's {', '.join(loaded.layers)} layers are the likeliest cause"
    try:
        from hwquant.device.tflite_model import TfliteModel

        ops = sorted(TfliteModel(loaded.float_model, "float32 reference").op_counts())
    except Exception:
        return ""
    if not ops:
        return ""
    ops = [o for o in ops if o in _LOOPS] + [o for o in ops if o not in _LOOPS]
    text = f"the model's ops: {', '.join(ops[:12])}" + (" ..." if len(ops) > 12 else "")
    if "WHILE" in ops:
        text += (
            " (a WHILE loop is how a recurrent layer is saved; built from its .keras file, hwquant rebuilds "
            "LSTM, GRU and SimpleRNN layers in a form the converter handles)"
        )
    return text


def _load_keras(
    t, path: Path, fmt: str, workdir: Path, verbose: bool, trust: bool = False, given: _Shapes | None = None
) -> LoadedModel:
    import keras

    given = given or {}
    with load_errors.reading(path, fmt, verbose):
        model = keras.models.load_model(str(path), compile=False, safe_mode=not trust)
    names = [_input_name(x, i) for i, x in enumerate(model.inputs)]
    shapes.check_names(given, names)
    rnn = recurrent.recurrent_layers(model)
    why = recurrent.why_static(rnn) if rnn else ""
    fixed = [shapes.static(n, list(x.shape), given, len(names) == 1, why) for n, x in zip(names, model.inputs)]
    specs = [t.TensorSpec(f, x.dtype, name=n) for n, f, x in zip(names, fixed, model.inputs)]
    if rnn:
        loaded = _load_recurrent(t, path, fmt, workdir, verbose, model, rnn, specs, fixed)
        loaded.notes += _shape_notes(names, given)
        return loaded

    def call(*xs):
        return model(list(xs) if len(xs) > 1 else xs[0], training=False)

    out = workdir / "saved_model"
    with load_errors.converting(path, verbose, "exporting it from Keras to a SavedModel"):
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint(name="serving_default", fn=call, input_signature=specs)
        archive.write_out(str(out), verbose=False)
    notes = []
    if any(x.shape and x.shape[0] is None for x in model.inputs):
        notes.append("batch dimension fixed to 1 for conversion (static shapes for accelerators and MCUs)")
    notes += _shape_notes(names, given)
    loaded = LoadedModel(path, fmt, "tf2-keras", out, ["serving_default"], workdir, notes, verbose=verbose)
    with load_errors.converting(path, verbose):
        loaded.float_model = _apply(t, loaded, FLOAT32)
    return loaded


def _load_recurrent(
    t, path: Path, fmt: str, workdir: Path, verbose: bool, model, rnn: list, specs, fixed: list[list[int]]
) -> LoadedModel:
    """A Keras model with recurrent layers: rebuilt in tf_keras (fused LSTM) or, where a layer has no
    tf_keras twin, unrolled in Keras 3; checked against the original before it is converted."""
    import keras

    out = workdir / "saved_model"
    fallback = ""
    try:
        rw = recurrent.rebuild(model, fixed)
    except (recurrent.CannotRebuild, ImportError) as exc:
        reason = "tf_keras is not installed" if isinstance(exc, ImportError) else f"{exc} has no tf_keras twin"
        with load_errors.converting(path, verbose, "unrolling its recurrent layers"):
            twin = recurrent.unroll_in_keras(model, fixed)
        unrolled = [f"{type(x).__name__} {x.name}" for x in rnn if type(x).__name__ != "RNN"]
        seq = fixed[0][1] if len(fixed[0]) > 1 else None
        rw = recurrent.Rewrite(twin, [f"{u} -> unrolled over {seq} time steps" for u in unrolled], unrolled)
        fallback = f" (no fused form: {reason})"
    recurrent.check_same(model, rw.model, "; ".join(rw.rewrites), shapes=fixed)
    with load_errors.converting(path, verbose, "exporting the rebuilt recurrent model to a SavedModel"):
        if isinstance(rw.model, keras.Model):
            archive = keras.export.ExportArchive()
            archive.track(rw.model)
            archive.add_endpoint(
                name="serving_default",
                fn=lambda *xs: rw.model(list(xs) if len(xs) > 1 else xs[0], training=False),
                input_signature=specs,
            )
            archive.write_out(str(out), verbose=False)
        else:
            recurrent.export(t, rw.model, specs, out)
    notes = ["batch dimension fixed to 1 for conversion (static shapes for accelerators and MCUs)"]
    notes += [f"recurrent layer rewritten for the TFLite converter: {r}{fallback}" for r in rw.rewrites]
    loaded = LoadedModel(path, fmt, "tf2-keras", out, ["serving_default"], workdir, notes, verbose=verbose)
    loaded.rewrites = list(rw.rewrites)
    loaded.layers = [recurrent.describe([x]) for x in rnn]
    with load_errors.converting(path, verbose):
        loaded.float_model = _apply(t, loaded, FLOAT32)
    from hwquant.device.tflite_model import TfliteModel

    ops = dict(TfliteModel(loaded.float_model, "float32 conversion").op_counts())
    fused = [r for r in rw.rewrites if r.endswith("UNIDIRECTIONAL_SEQUENCE_LSTM")]
    if fused and not ops.get("UNIDIRECTIONAL_SEQUENCE_LSTM"):
        loaded.warnings.append(
            f"the converter did not fuse {', '.join(r.split(' ->')[0] for r in fused)} into "
            "UNIDIRECTIONAL_SEQUENCE_LSTM: the artifact holds the generic form"
        )
    if rw.unrolled:
        from tensorflow.lite.tools import flatbuffer_utils

        weights = 4 * int(model.count_params())
        obj = flatbuffer_utils.convert_bytearray_to_object(bytearray(loaded.float_model))
        constants = sum(len(b.data) for b in obj.buffers if b.data is not None)
        steps = (
            f"each time step stores its own copy of the weights ({constants:,} B of constants for {weights:,} B "
            "of float32 weights)"
            if constants > 1.5 * weights
            else "the weights are stored once, but each time step adds its own ops and tensors"
        )
        loaded.warnings.append(
            f"{', '.join(rw.unrolled)}: no fused TFLite kernel{fallback}, so unrolled over the sequence; {steps}: "
            f"the float32 conversion is {len(loaded.float_model):,} B for {weights:,} B of float32 weights "
            f"({len(loaded.float_model) / max(weights, 1):.1f}x)"
        )
    loaded.notes += [f"warning: {w}" for w in loaded.warnings]
    return loaded


def _input_name(x, i: int) -> str:
    name = getattr(x, "name", None) or f"input_{i}"
    return name.split(":")[0]


def _load_saved_model(t, path: Path, workdir: Path, verbose: bool, given: _Shapes | None = None) -> LoadedModel:
    attempts: list[str] = []
    unreadable = []  # attempts that could not even read the SavedModel
    try:
        loaded = _tf2_saved_model(t, path, workdir, verbose, given or {})
        with load_errors.converting(path, verbose):  # the TF2 converter fails on some old models only here
            loaded.float_model = _apply(t, loaded, FLOAT32)
        return loaded
    except (load_errors.Unreadable, load_errors.ConverterFailed) as exc:
        attempts.append(f"TF2 SavedModel converter: {exc.detail}")
        unreadable.append(isinstance(exc, load_errors.Unreadable))
    # TF1 fallback: old SavedModels (e.g. with optimizer slot variables) still convert.
    try:
        with load_errors.reading(path, "savedmodel", verbose):
            keys = _tf1_signature_keys(t, path)
        loaded = LoadedModel(
            path,
            "savedmodel",
            "tf1-saved-model",
            path,
            keys,
            workdir,
            [
                f"the TF2 converter rejected the SavedModel ({attempts[0]}); converted signature "
                f"{keys[0]!r} with the TF1 converter"
            ],
            attempts,
            verbose,
        )
        with load_errors.converting(path, verbose):
            loaded.float_model = _apply(t, loaded, FLOAT32)
        return loaded
    except (load_errors.Unreadable, load_errors.ConverterFailed) as exc:
        attempts.append(f"TF1 SavedModel converter: {exc.detail}")
        unreadable.append(isinstance(exc, load_errors.Unreadable))
        if all(unreadable):
            raise InputError(
                f"cannot read SavedModel {path}; tried: " + "; ".join(attempts),
                hint="check that the folder is complete; re-export the model with TF2 "
                "(tf.saved_model.save / model.export)",
            ) from exc
        raise ToolchainError(
            f"cannot convert SavedModel {path}; tried: " + "; ".join(attempts),
            hint="the model was read but the TFLite converter failed: a toolchain failure "
            "(rerun with -v for TensorFlow's log)",
        ) from exc


def _tf2_saved_model(t, path: Path, workdir: Path, verbose: bool, given: _Shapes) -> LoadedModel:
    with load_errors.reading(path, "savedmodel", verbose):
        obj = t.saved_model.load(str(path))
    sigs, notes = _distinct_signatures(dict(obj.signatures))
    if not sigs:
        raise InputError(
            f"{path} has no signatures to convert",
            hint="save the model with signatures=... (tf.saved_model.save) or model.export()",
        )
    inputs = {k: fn.structured_input_signature[1] for k, fn in sigs.items()}
    names = sorted({n for specs in inputs.values() for n in specs})
    shapes.check_names(given, names)
    fixed_shapes = {
        k: {
            n: shapes.static(n, s.shape.as_list(), given, len(specs) == 1, keras=False)
            if s.shape.rank
            else s.shape.as_list()
            for n, s in specs.items()
        }
        for k, specs in inputs.items()
    }
    dynamic = any(
        s.shape.rank and fixed_shapes[k][n] != s.shape.as_list()
        for k, specs in inputs.items()
        for n, s in specs.items()
    )
    notes += _shape_notes(names, given)
    if not dynamic:
        return LoadedModel(path, "savedmodel", "tf2-saved-model", path, list(sigs), workdir, notes, verbose=verbose)
    module = t.Module()
    module.original = obj
    fixed = {}
    out = workdir / "saved_model"
    with load_errors.converting(path, verbose, "re-saving it with a static batch of 1"):
        for key, fn in sigs.items():
            specs = {
                n: t.TensorSpec(fixed_shapes[key][n] if s.shape.rank else s.shape, s.dtype, name=n)
                for n, s in fn.structured_input_signature[1].items()
            }
            fixed[key] = t.function(lambda _fn=fn, **kw: _fn(**kw)).get_concrete_function(**specs)
        t.saved_model.save(module, str(out), signatures=fixed)
    notes.append("batch dimension fixed to 1 for conversion (static shapes for accelerators and MCUs)")
    return LoadedModel(path, "savedmodel", "tf2-saved-model", out, list(sigs), workdir, notes, verbose=verbose)


def _distinct_signatures(sigs: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Drop signatures that are aliases of another one (Keras `model.export()` writes the same
    endpoint as both 'serve' and 'serving_default'): same inputs, calling the same functions."""
    kept: dict[str, Any] = {}
    seen: dict[tuple, str] = {}
    notes = []
    for key in sorted(sigs, key=lambda k: k != "serving_default"):
        fn = sigs[key]
        callees = tuple(
            sorted(n.attr["f"].func.name for n in fn.function_def.node_def if n.op.endswith("PartitionedCall"))
        )
        ident = (callees, repr(fn.structured_input_signature), repr(fn.structured_outputs))
        if callees and ident in seen:
            notes.append(f"signature {key!r} is an alias of {seen[ident]!r}; converted once")
            continue
        seen[ident] = key
        kept[key] = fn
    return {k: kept[k] for k in sigs if k in kept}, notes


def _tf1_signature_keys(t, path: Path) -> list[str]:
    from tensorflow.python.tools import saved_model_utils

    meta = saved_model_utils.get_meta_graph_def(str(path), "serve")
    keys = [k for k in meta.signature_def if not k.startswith("__")]
    if not keys:
        raise InputError(f"{path}: the 'serve' meta graph has no signature_def")
    return sorted(keys, key=lambda k: k != "serving_default")


def _converter(t, loaded: LoadedModel):
    if loaded.loader == "tf1-saved-model":
        return t.compat.v1.lite.TFLiteConverter.from_saved_model(
            str(loaded.saved_model_dir), signature_key=loaded.signature_keys[0]
        )
    return t.lite.TFLiteConverter.from_saved_model(str(loaded.saved_model_dir), signature_keys=loaded.signature_keys)


_IO_TYPES = {"int8": "int8", "uint8": "uint8", "int16": "int16"}


def representative_forms(loaded: LoadedModel, samples, input_order: dict[str, list[str]]) -> list[Any]:
    """Samples ``(signature_key, {name: array})`` in the form the converter takes for this model:
    a list of arrays in input order (TF1 converter), a dict keyed by input name (one
    signature), or ``(signature_key, dict)`` pairs (several signatures)."""
    if loaded.loader == "tf1-saved-model":
        return [[d[n] for n in input_order[k]] for k, d in samples]
    if len(loaded.signature_keys) == 1:
        return [d for _, d in samples]
    return [(k, d) for k, d in samples]


def convert(loaded: LoadedModel, recipe: Recipe, representative: Iterable[Any] | None = None) -> bytes:
    """Apply ``recipe`` with the TFLiteConverter and return the flatbuffer bytes.

    ``representative`` holds samples already in a converter form (see representative_forms).
    """
    if recipe.float_layers:  # TFLiteConverter has no denylist: only the quantizer after calibration does
        raise ToolchainError(
            f"{recipe.label} needs TensorFlow's quantizer with a denylist (the calibrate-once "
            "path), which failed on this TensorFlow: the recipe cannot keep layers float here",
            hint="use a uniform recipe (--recipe float16 keeps every layer float), or a "
            "TensorFlow version in the supported range",
        )
    if recipe.name == "float32" and recipe.io_dtype == "float32" and loaded.float_model:
        return loaded.float_model
    samples = list(representative) if representative is not None else None
    return worker.call(
        _convert_here,
        loaded,
        recipe,
        samples,
        stage=f"converting the model for recipe {recipe.name!r}",
        tool="the TFLite converter",
        about=lambda: _about(loaded),
        verbose=loaded.verbose,
    )


def _convert_here(loaded: LoadedModel, recipe: Recipe, representative: list[Any] | None) -> bytes:
    t = tf(loaded.verbose)
    with captured_output(loaded.verbose) as logs:
        try:
            return _apply(t, loaded, recipe, representative)
        except InputError:
            raise
        except Exception as exc:
            log = logs()
            raise ToolchainError(
                f"the TFLite converter failed for recipe {recipe.name!r}: {type(exc).__name__}: {first_line(exc, 300)}",
                hint=_convert_hint(recipe, str(exc) + log),
            ) from exc


def _apply(t, loaded: LoadedModel, recipe: Recipe, representative: Iterable[Any] | None = None) -> bytes:
    """Configure a fresh converter with ``recipe`` and convert."""
    if recipe.name == "float32" and recipe.io_dtype == "float32" and loaded.float_model:
        return loaded.float_model
    c = _converter(t, loaded)
    if recipe.optimize:
        c.optimizations = [t.lite.Optimize.DEFAULT]
    if recipe.supported_types:
        c.target_spec.supported_types = [getattr(t, d) for d in recipe.supported_types]
    c.target_spec.supported_ops = [getattr(t.lite.OpsSet, o) for o in recipe.supported_ops]
    if recipe.needs_data:
        if representative is None:
            raise InputError(f"recipe {recipe.name!r} needs representative data")
        samples = list(representative)
        c.representative_dataset = lambda: iter(samples)
    if recipe.io_dtype in _IO_TYPES:
        c.inference_input_type = getattr(t, _IO_TYPES[recipe.io_dtype])
        c.inference_output_type = getattr(t, _IO_TYPES[recipe.io_dtype])
    return _align_lstm_states(bytes(c.convert()))


def _align_lstm_states(model: bytes) -> bytes:
    """A quantized model whose fused LSTMs' hidden-state tensors agree with their outputs
    (recurrent.align_lstm_states); any other model unchanged, byte for byte."""
    if not _has_sequence_lstm(model):
        return model
    from tensorflow.lite.tools import flatbuffer_utils

    obj = flatbuffer_utils.convert_bytearray_to_object(bytearray(model))
    if not recurrent.align_lstm_states(obj, flatbuffer_utils.opcode_to_name):
        return model
    return bytes(flatbuffer_utils.convert_object_to_bytearray(obj))


# -- calibrate once, quantize many ------------------------------------------------------------------
# TFLiteConverter's own post-training path for int8 activations (the MLIR quantizer) is
#   float conversion -> Calibrator.calibrate (min/max per tensor) -> mlir_quantize(io types)
#   -> deduplicate buffers -> conversion metadata (with a hash of the final graph).
# The load stage already made the float conversion (the verify reference), so `calibrate` starts
# from it: it drops the float model's CONVERSION_METADATA (a direct conversion adds it only at the
# end), runs TensorFlow's Calibrator on it, and records the metadata a direct int8 conversion
# records (optimization mode PTQ_FULL_INTEGER). `quantize_calibrated` runs the remaining steps.
# For recipes of the int8 family the result is byte-identical to a direct conversion
# (tests/pipeline/test_determinism.py pins this), without converting the model a second time. The int16x8
# recipes go through the older quantizer, which calibrates again inside, so they convert directly.


@dataclass
class Calibrated:
    """A float model carrying calibration statistics, plus what a direct conversion would record."""

    model: bytes
    metadata: Any  # the converter's ConversionMetadataT (model hash filled in per quantized model)
    samples: list = field(default_factory=list)  # the representative samples, for the fallback
    fallback: str | None = None  # why this TensorFlow cannot calibrate once: recipes then convert directly


SEAM = (
    "calibrate-once seam (hwquant/convert/converter.py: TensorFlow's Calibrator, mlir_quantize, "
    "deduplicate_readonly_buffers, conversion metadata)"
)


def calibrates_once(recipe: Recipe) -> bool:
    """Whether ``recipe`` can be quantized from a shared calibration (int8 activations, MLIR quantizer)."""
    return (
        recipe.activations == "int8"
        and recipe.needs_data
        and "SELECT_TF_OPS" not in recipe.supported_ops
        and recipe.io_dtype in ("float32", "int8", "uint8")
        and not recipe.supported_types
    )


def calibrate(loaded: LoadedModel, representative: Iterable[Any]) -> Calibrated:
    """Calibrate the float32 conversion made at load time (int8 settings) and keep the result."""
    return worker.call(
        _calibrate_here,
        loaded,
        list(representative),
        stage="calibrating",
        tool="the TFLite calibrator",
        about=lambda: _about(loaded),
        verbose=loaded.verbose,
    )


def _calibrate_here(loaded: LoadedModel, samples: list[Any]) -> Calibrated:
    tf(loaded.verbose)
    with captured_output(loaded.verbose):
        try:  # TensorFlow internals: when they are missing or fail, every recipe converts directly
            from tensorflow.lite.python import conversion_metadata_schema_py_generated as metadata_fb
            from tensorflow.lite.python.optimize import calibrator
            from tensorflow.lite.tools import flatbuffer_utils

            if _has_sequence_lstm(loaded.float_model):
                return _calibrate_converting(loaded, samples, metadata_fb, flatbuffer_utils)
            obj = flatbuffer_utils.convert_bytearray_to_object(bytearray(loaded.float_model))
            meta = _pop_conversion_metadata(obj, metadata_fb)
            meta.options.modelOptimizationModes = [metadata_fb.ModelOptimizationMode.PTQ_FULL_INTEGER]
            plain = bytes(flatbuffer_utils.convert_object_to_bytearray(obj))
            model = calibrator.Calibrator(plain).calibrate(lambda: iter(samples))
            return Calibrated(bytes(model), meta, samples)
        except Exception as exc:
            return Calibrated(b"", None, samples, _seam_broken("calibrating", exc))


_SEQUENCE_LSTM = ("UNIDIRECTIONAL_SEQUENCE_LSTM", "BIDIRECTIONAL_SEQUENCE_LSTM")


def _has_sequence_lstm(model: bytes) -> bool:
    from hwquant.device.tflite_model import TfliteModel

    return any(op in _SEQUENCE_LSTM for op in TfliteModel(model, "float32 conversion").op_counts())


def _calibrate_converting(loaded: LoadedModel, samples: list[Any], metadata_fb, flatbuffer_utils) -> Calibrated:
    """Fused LSTM ops need the intermediate tensors that only a conversion with int8 settings adds
    (the float conversion has none, and the calibrator stops on them): convert once with the
    int8-only settings and the converter's calibrate-only switch, then quantize from that."""
    t = tf(loaded.verbose)
    c = _converter(t, loaded)
    c.optimizations = [t.lite.Optimize.DEFAULT]
    c.target_spec.supported_ops = [t.lite.OpsSet.TFLITE_BUILTINS_INT8]
    c.representative_dataset = lambda: iter(samples)
    c._experimental_calibrate_only = True
    obj = flatbuffer_utils.convert_bytearray_to_object(bytearray(c.convert()))
    meta = _pop_conversion_metadata(obj, metadata_fb)
    meta.options.modelOptimizationModes = [metadata_fb.ModelOptimizationMode.PTQ_FULL_INTEGER]
    return Calibrated(bytes(flatbuffer_utils.convert_object_to_bytearray(obj)), meta, samples)


def _seam_broken(step: str, exc: BaseException) -> str:
    from hwquant.config.versions import tf_version

    return (
        f"the {SEAM} failed {step} on TensorFlow {tf_version()} ({type(exc).__name__}: {first_line(exc, 200)}); "
        "each recipe was converted directly instead (same result, one more calibration per recipe)"
    )


def _pop_conversion_metadata(obj, metadata_fb):
    """Remove the CONVERSION_METADATA entry (and its buffer) from a model object; return it parsed."""
    k = next(i for i, m in enumerate(obj.metadata or []) if m.name in (b"CONVERSION_METADATA", "CONVERSION_METADATA"))
    entry = obj.metadata.pop(k)
    meta = metadata_fb.ConversionMetadataT.InitFromPackedBuf(bytearray(obj.buffers[entry.buffer].data), 0)
    if entry.buffer != len(obj.buffers) - 1 or any(m.buffer == entry.buffer for m in obj.metadata):
        raise RuntimeError("unexpected metadata layout in the float model")
    obj.buffers.pop()
    if isinstance(meta.environment.tensorflowVersion, bytes):
        meta.environment.tensorflowVersion = meta.environment.tensorflowVersion.decode()
    return meta


def quantize_calibrated(loaded: LoadedModel, calibrated: Calibrated, recipe: Recipe) -> bytes:
    """Quantize a calibrated model with ``recipe``'s IO types: the converter's steps after calibration."""
    if not calibrates_once(recipe):
        raise ValueError(f"recipe {recipe.name!r} is not quantized from a shared calibration")
    if calibrated.fallback:
        return convert(loaded, recipe, calibrated.samples)
    import dataclasses

    model, fallback = worker.call(
        _quantize_here,
        loaded,
        dataclasses.replace(calibrated, samples=[]),
        recipe,
        stage=f"quantizing the calibrated model for recipe {recipe.name!r}",
        tool="TensorFlow's quantizer",
        about=lambda: _about(loaded),
        verbose=loaded.verbose,
    )
    if model is not None:
        return model
    calibrated.fallback = fallback
    return convert(loaded, recipe, calibrated.samples)


def _quantize_here(loaded: LoadedModel, calibrated: Calibrated, recipe: Recipe) -> tuple[bytes | None, str | None]:
    """The quantized model, or None and why the seam failed (the caller then converts directly)."""
    import copy

    t = tf(loaded.verbose)
    io = getattr(t, recipe.io_dtype)
    with captured_output(loaded.verbose):
        try:  # TensorFlow internals: when they are missing or fail, the recipe converts directly
            from tensorflow.lite.python import convert as lite_convert
            from tensorflow.lite.python import util as lite_util
            from tensorflow.lite.tools import flatbuffer_utils

            model = lite_convert.mlir_quantize(
                calibrated.model,
                disable_per_channel=False,
                input_data_type=io,
                output_data_type=io,
                denylisted_nodes=list(recipe.float_layers) or None,
            )
            model = lite_convert.deduplicate_readonly_buffers(model)
            obj = flatbuffer_utils.convert_bytearray_to_object(model)
            meta = copy.deepcopy(calibrated.metadata)
            meta.environment.modelHash = lite_util.get_model_hash(obj)
            obj = lite_util.populate_conversion_metadata(obj, meta)
            recurrent.align_lstm_states(obj, flatbuffer_utils.opcode_to_name)  # as _apply does, after the hash
            return bytes(flatbuffer_utils.convert_object_to_bytearray(obj)), None
        except Exception as exc:  # the direct conversion gives the converter's own error if the model is at fault
            return None, _seam_broken(f"quantizing for recipe {recipe.name!r}", exc)


# -- per-layer sensitivity: TF's QuantizationDebugger on the shared calibration --------------------
# The debugger runs a debug build of the int8 model (a NumericVerify op after every quantized op)
# layer by layer: each float op is fed the dequantized output of the quantized op before it, so a
# layer's numbers measure only its own quantization. Beside the debugger's own statistics (mean
# squared error, scale), a direct-compare metric keeps each layer's float and dequantized values
# so the channel SNR can be computed over all samples: noise power over the float signal's
# per-channel variance, summed over channels. A tensor that one channel dominates (a huge constant
# range) has a scale so coarse that every other channel drowns: its channel SNR falls below 0 dB
# while healthy int8 layers sit near 40 dB.


def layer_sensitivity(
    loaded: LoadedModel, calibrated: Calibrated, representative: Iterable[Any], max_samples: int = 64
) -> list[dict[str, Any]]:
    """Per quantized op output: tensor name, op, the debugger's statistics and the channel SNR."""
    import dataclasses

    return worker.call(
        _sensitivity_here,
        loaded,
        dataclasses.replace(calibrated, samples=[]),
        list(representative)[:max_samples],
        stage="measuring per-layer sensitivity (TensorFlow's quantization debugger)",
        tool="TensorFlow's quantization debugger",
        about=lambda: _about(loaded),
        verbose=loaded.verbose,
    )


def _sensitivity_here(loaded: LoadedModel, calibrated: Calibrated, samples: list[Any]) -> list[dict[str, Any]]:
    import numpy as np
    from tensorflow.lite.python import convert as lite_convert

    from hwquant.device.tflite_model import TfliteModel

    t = tf(loaded.verbose)
    with captured_output(loaded.verbose) as logs:
        try:
            debug_model = bytes(
                lite_convert.mlir_quantize(
                    calibrated.model, enable_numeric_verify=True, input_data_type=t.float32, output_data_type=t.float32
                )
            )
            model = TfliteModel(debug_model, "quantization debug model")
            tensors = model.subgraph_tensors[0]
            verify_inputs = [op.inputs[0].index for op in model.ops if op.subgraph == 0 and op.name == "NumericVerify"]
            producers = {o.index: op.name for op in model.ops if op.subgraph == 0 for o in op.outputs}
            kept: list[tuple[np.ndarray, np.ndarray]] = []

            def keep(float_values, quantized, scale, zero_point):
                f = np.asarray(float_values, np.float64)
                q = (np.asarray(quantized, np.float64) - zero_point) * scale
                kept.append((f.reshape(-1, f.shape[-1] if f.ndim else 1), q.reshape(-1, f.shape[-1] if f.ndim else 1)))
                return float(np.sqrt(np.mean((f - q.reshape(f.shape)) ** 2)) / scale) if scale else 0.0

            options = t.lite.experimental.QuantizationDebugOptions(layer_direct_compare_metrics={"rmse/scale": keep})
            feed = _debugger_feed(loaded, model, samples)
            with warnings.catch_warnings():  # the debugger's own "preserve all tensors" notice
                warnings.simplefilter("ignore", UserWarning)
                debugger = t.lite.experimental.QuantizationDebugger(
                    quant_debug_model_content=debug_model, debug_dataset=feed, debug_options=options
                )
                debugger.run()
            stats = list(debugger.layer_statistics.values())
        except Exception as exc:
            raise ToolchainError(
                f"the quantization debugger failed: {type(exc).__name__}: {first_line(exc, 300)}",
                hint="rerun with -v for TensorFlow's log" + (f" ({logs()[:200]})" if logs() else ""),
            ) from exc
    n = len(verify_inputs)
    float_names = {t.name for op in TfliteModel(loaded.float_model, "float32 reference").ops for t in op.outputs}

    def float_name(name: str) -> str:  # the debug model suffixes the quantized copy's name with a digit
        return name if name in float_names or name[:-1] not in float_names else name[:-1]

    rows = []
    for j, idx in enumerate(verify_inputs):
        f = np.concatenate([kept[i][0] for i in range(j, len(kept), n)])
        q = np.concatenate([kept[i][1] for i in range(j, len(kept), n)])
        var, mse = f.var(axis=0), ((f - q) ** 2).mean(axis=0)
        ranges = f.max(axis=0) - f.min(axis=0)
        live = ranges[ranges > 0]
        rows.append(
            {
                "tensor": float_name(tensors[idx].name),
                "op": producers.get(idx, "?"),
                # None: exact, or a constant float output (fed by a collapsed input: not this layer's doing)
                "channel_snr_db": float(10 * np.log10(var.sum() / mse.sum()))
                if mse.sum() > 0 and var.sum() > 0
                else None,
                "rmse_over_scale": float(stats[j].get("rmse/scale", float("nan"))) if j < len(stats) else None,
                "mean_squared_error": float(stats[j]["mean_squared_error"]) if j < len(stats) else None,
                "scale": float(tensors[idx].quant.scale[0]) if tensors[idx].quant is not None else None,
                "range": [float(f.min()), float(f.max())],
                "channel_range_ratio": float(np.abs(f).max(axis=0).max() / max(np.median(np.abs(f).max(axis=0)), 1e-12))
                if live.size
                else 1.0,
            }
        )
    return rows


def _debugger_feed(loaded: LoadedModel, model, samples: list[Any]):
    """The debugger feeds a list of arrays per sample, in the order of the model's input tensors."""
    if loaded.loader == "tf1-saved-model" or not model.signatures:
        return lambda: iter(samples)
    sig = next(iter(model.signatures.values()))["inputs"]
    order = [name for t in model.io(0)[0] for name, st in sig.items() if st.index == t.index]
    return lambda: iter([[d[n] for n in order] for d in samples])


def _convert_hint(recipe: Recipe, text: str) -> str:
    if "SELECT_TF_OPS" in text or "Flex" in text or "not supported" in text.lower():
        if not recipe.float_fallback and recipe.is_integer:
            return (
                "an op has no integer kernel; try the float-fallback variant "
                f"({recipe.name.replace('-only', '')}-float-fallback) or a target that allows it"
            )
        return "the model uses TensorFlow ops that have no TFLite builtin; replace them in the model"
    return "rerun with -v to see TensorFlow's log"
