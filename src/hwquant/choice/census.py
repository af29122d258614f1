"""What a candidate actually quantized, counted from its .tflite (never inferred from the recipe's name).

Dynamic range quantization skips weight tensors below the converter's size threshold (1024 values), and
a float-fallback recipe keeps every op without an integer kernel float: on a small model a "quantized"
recipe can leave every tensor float. The census counts weight bytes and ops by dtype; a recipe that
quantizes weights or activations but whose artifact has (almost) no integer weight bytes and no integer
op is *hollow*: the search never chooses it under its quantized name, and the build says "no tensor was
quantized".
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hwquant.device.tflite_model import Op, TfliteModel
from hwquant.plugin.recipe import Recipe

HOLLOW_FRACTION = 0.05  # below this share of weight bytes quantized, with no integer op: nothing was quantized
INTEGER = frozenset({"int8", "uint8", "int16", "int4", "int32"})
BOUNDARY = frozenset({"QUANTIZE", "DEQUANTIZE"})


@dataclass(frozen=True)
class Census:
    weight_bytes: dict[str, int] = field(default_factory=dict)  # dtype -> bytes of constant tensors
    ops: dict[str, int] = field(default_factory=dict)  # compute dtype -> op count
    float_ops: list[str] = field(default_factory=list)  # "NEG" per float32 op, in execution order

    @property
    def quantized_fraction(self) -> float:
        """Share of weight bytes stored narrower than float32 (integers, float16; int32 biases count:
        they belong to integer ops)."""
        total = sum(self.weight_bytes.values())
        q = sum(v for k, v in self.weight_bytes.items() if k in INTEGER or k == "float16")
        return q / total if total else 0.0

    @property
    def integer_ops(self) -> int:
        return sum(v for k, v in self.ops.items() if k in INTEGER)

    @property
    def nothing_quantized(self) -> bool:
        return self.quantized_fraction < HOLLOW_FRACTION and self.integer_ops == 0

    def float_ops_line(self) -> str:
        """'2 float ops remain: NEG, QUANTIZE (float32)' (names in order, each once)."""
        names = list(dict.fromkeys(self.float_ops))
        n = len(self.float_ops)
        return f"{n} float op{'s' if n != 1 else ''} remain{'s' if n == 1 else ''}: {', '.join(names)} (float32)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "weight_bytes": dict(self.weight_bytes),
            "ops": dict(self.ops),
            "quantized_fraction": round(self.quantized_fraction, 4),
            "float_ops": list(self.float_ops),
        }


def of(artifact: bytes | TfliteModel, what: str = "artifact") -> Census:
    model = artifact if isinstance(artifact, TfliteModel) else TfliteModel(artifact, what)
    weights: Counter[str] = Counter()
    seen: set[int] = set()
    for tensors in model.subgraph_tensors:
        for t in tensors:
            if t.buffer_bytes and t.buffer and t.buffer not in seen:
                seen.add(t.buffer)
                weights[t.dtype] += t.buffer_bytes
    ops: Counter[str] = Counter()
    float_ops: list[str] = []
    io = {s: {t.name for side in model.io(s) for t in side} for s in range(model.num_subgraphs)}
    for op in model.ops:
        d = op.dtype
        ops[d] += 1
        if d == "float32" and not _io_boundary(op, io[op.subgraph]):
            float_ops.append(op.name)
    return Census(dict(weights), dict(ops), float_ops)


def quantizes(recipe: Recipe) -> bool:
    """Whether the recipe's name promises quantized weights or activations."""
    return recipe.weights != "float32" or recipe.activations != "float32"


def integer_recipe(recipe: Recipe) -> bool:
    """Every op meant to run on integers: float ops left in its artifact are worth a line."""
    return recipe.activations in ("int8", "int16")


def hollow(recipe: Recipe, census: Census) -> str | None:
    """Why an artifact does not deserve its quantized recipe's name (None when it does)."""
    if quantizes(recipe) and census.nothing_quantized:
        return (
            f"no tensor was quantized: {recipe.label} left every weight float "
            f"({100 * census.quantized_fraction:.0f} % of weight bytes quantized, no integer op)"
        )
    return None


def _io_boundary(op: Op, io_names: set[str]) -> bool:
    """A QUANTIZE of a float model input (or DEQUANTIZE into a float output): the float IO the recipe
    asked for, converted at the edge of the graph, not float compute left inside an integer model."""
    if op.name not in BOUNDARY:
        return False
    edge = op.inputs if op.name == "QUANTIZE" else op.outputs
    return any(t.name in io_names for t in edge)
