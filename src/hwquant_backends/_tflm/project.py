"""The TFLM project: main.cc (op resolver, arena, sample, invoke, print) and its build files.

``--mcu-project cmake`` writes ``project/`` with CMakeLists.txt (TFLM built from ``TFLM_DIR``),
main.cc, a Cortex-M toolchain file and a README; the model files stay one level up.
``--mcu-project arduino`` writes ``project/<name>/``, a sketch folder holding the same files.
Templates live in ``templates/`` beside this module; ``@NAME@`` placeholders are filled here.

The mcu and ethos-u backends both generate their project here; for ethos-u its model is Vela's output,
whose resolver registers ``AddEthosU()`` for the NPU op plus the builtin ops Vela left on the CPU,
and ``ProjectInputs.npu`` adds the NPU parts (Ethos-U driver in CMake, a README section).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwquant import IncompatibleError, TfliteModel, ToolchainError, __version__

from .carray import ArrayNames
from .codegen import c_comment, c_identifier, c_string, cmake_comment, markdown_code
from .ops import RESOLVER_METHODS
from .settings import IoTensor

TEMPLATES = Path(__file__).resolve().parent / "templates"
PROJECT_KINDS = ("cmake", "arduino", "none")
PRINT_LIMIT = 16  # output values printed per output (all are compared)
MODEL_FILES = ("model_data.h", "model_data.cc", "model_settings.h")
# Custom ops TFLM's MicroMutableOpResolver has a method for (micro_mutable_op_resolver.h).
CUSTOM_METHODS = {"ethos-u": "AddEthosU"}
MEASURED_ARENA_LINE = "kTensorArenaExact bytes measured at build time plus the margin (model_settings.h)."


@dataclass
class NpuParts:
    """What a project for an NPU adds (ethos-u): CMake blocks, a README section, a note in main.cc."""

    cmake_sources: str  # CMake inserted before the tflm library is defined
    cmake_link: str  # CMake inserted after it
    readme: str  # Markdown appended to the README
    resolver_note: str  # one comment line for main.cc


@dataclass
class ProjectInputs:
    """Everything the templates need, as plain data."""

    name: str  # C identifier: executable / sketch name
    names: ArrayNames
    model: TfliteModel
    model_sha: str
    source: str
    inputs: list[IoTensor]
    outputs: list[IoTensor]
    sample_inputs: list[np.ndarray]  # quantized, one per input
    expected_outputs: list[np.ndarray]  # TFLM's output for the sample
    arena_exact: int
    arena: int
    margin: str
    target: str = "mcu"
    arena_line: str = MEASURED_ARENA_LINE  # main.cc comment: where the arena figure comes from
    arena_text: str = ""  # README sentence on the arena (default: the measured one)
    npu: NpuParts | None = None


def resolver_ops(model: TfliteModel) -> list[tuple[str, str]]:
    """(op, MicroMutableOpResolver method) for each distinct op, in first-use order."""
    out = []
    for name in model.op_names():
        method = RESOLVER_METHODS.get(name) or CUSTOM_METHODS.get(name)
        if method is None:
            raise IncompatibleError(f"op {name} has no TFLM kernel to register", hint="see `hwquant targets mcu --ops`")
        out.append((name, method))
    return out


def template(rel: str, root: Path | None = None) -> str:
    """A shipped template under ``templates/`` beside this module, or under ``root`` (another backend's)."""
    path = (root or TEMPLATES) / rel
    if not path.is_file():
        raise ToolchainError(
            f"hwquant's MCU project template {path} is missing",
            hint="reinstall hwquant: the templates ship inside the hwquant_backends package",
        )
    return path.read_text()


def fill(text: str, values: dict[str, object]) -> str:
    """Replace every @NAME@; an unknown placeholder is a bug in the template."""

    def sub(m: re.Match[str]) -> str:
        if m.group(1) not in values:
            raise KeyError(f"template placeholder @{m.group(1)}@ has no value")
        return str(values[m.group(1)])

    return re.sub(r"@([A-Z][A-Z0-9_]*)@", sub, text)


def c_values(values: np.ndarray, per_line: int = 16) -> str:
    flat = np.asarray(values).reshape(-1)
    if flat.dtype.kind == "f":
        items = [f"{float(v):.9g}f" for v in flat]
    else:
        items = [str(int(v)) for v in flat]
    rows = ["    " + ", ".join(items[i : i + per_line]) + "," for i in range(0, len(items), per_line)]
    return "\n".join(rows)


def _arrays(kind: str, tensors: list[IoTensor], data: list[np.ndarray]) -> str:
    blocks = []
    for t, arr in zip(tensors, data):
        blocks.append(
            f"const {t.role.lower()}{t.index}_t k{kind}{t.role}{t.index}[{t.prefix}Size] = {{\n{c_values(arr)}\n}};"
        )
    return "\n".join(blocks)


def _set_inputs(inputs: list[IoTensor]) -> str:
    lines = []
    for t in inputs:
        lines += [
            f"  TfLiteTensor* input{t.index} = interpreter.input({t.index});",
            f"  if (input{t.index}->bytes != sizeof(kSample{t.role}{t.index})) {{",
            f'    MicroPrintf("input {t.index}: %d bytes, expected %d", static_cast<int>(input{t.index}->bytes),',
            f"                static_cast<int>(sizeof(kSample{t.role}{t.index})));",
            "    return -1;",
            "  }",
            f"  memcpy(input{t.index}->data.raw, kSample{t.role}{t.index}, sizeof(kSample{t.role}{t.index}));",
        ]
    return "\n".join(lines)


def _c_text(s: str) -> str:
    """``s`` safe inside a C string literal that is also a printf format."""
    return c_string(s).replace("%", "%%")


def _print_outputs(outputs: list[IoTensor]) -> str:
    lines = []
    for t in outputs:
        n, ct = f"output{t.index}", f"output{t.index}_t"
        if t.quantized:
            close = (
                "const int d = static_cast<int>(value) - static_cast<int>(expected);\n"
                "      if (d > 1 || d < -1) ++mismatches;"
            )
        else:
            close = (
                "const float tol = 1e-5f * (expected < 0 ? -expected : expected) + 1e-5f;\n"
                "      if (value - expected > tol || expected - value > tol) ++mismatches;"
            )
        raw = "static_cast<int>(value)" if t.quantized else "0"
        lines += [
            "  {",
            f"    const {ct}* {n} = reinterpret_cast<const {ct}*>(interpreter.output({t.index})->data.raw);",
            f'    MicroPrintf("output {t.index} ({_c_text(t.name)}): %d values", {t.prefix}Size);',
            f"    for (int i = 0; i < {t.prefix}Size; ++i) {{",
            f"      const {ct} value = {n}[i];",
            f"      const {ct} expected = kExpected{t.role}{t.index}[i];",
            f"      {close}",
            f'      if (i < {PRINT_LIMIT}) PrintValue("{n}", i, {raw}, Dequantize{t.role}{t.index}(value));',
            "    }",
            "  }",
        ]
    return "\n".join(lines)


def render_main(p: ProjectInputs, entry: str, prelude: str = "") -> str:
    ops = resolver_ops(p.model)
    adds = "\n".join(f"  TF_LITE_ENSURE_STATUS(resolver.{method}());  // {op}" for op, method in ops)
    banner = (
        f"// Generated by hwquant {__version__} (hwquant build --target {p.target}). Edit freely.\n"
        f"// Model: {c_comment(p.source)}\n// Model sha256: {p.model_sha}"
    )
    return fill(
        template("main.cc.in"),
        {
            "BANNER": banner,
            "PRELUDE": prelude,
            "NUM_OPS": len(ops),
            "RESOLVER_ADDS": adds,
            "SAMPLE_INPUTS": _arrays("Sample", p.inputs, p.sample_inputs),
            "EXPECTED_OUTPUTS": _arrays("Expected", p.outputs, p.expected_outputs),
            "ARRAY": p.names.array,
            "SET_INPUTS": _set_inputs(p.inputs),
            "PRINT_OUTPUTS": _print_outputs(p.outputs),
            "ENTRY_POINT": entry,
            "ARENA_LINE": p.arena_line,
            "RESOLVER_NOTE": ("\n// " + c_comment(p.npu.resolver_note)) if p.npu else "",
        },
    )


def _readme(rel: str, p: ProjectInputs, model_dir: str) -> str:
    return fill(
        template(rel),
        {
            "PROJECT": p.name,
            "VERSION": __version__,
            "SOURCE": markdown_code(p.source),
            "SHA": p.model_sha,
            "NUM_OPS": len(resolver_ops(p.model)),
            "OP_LIST": ", ".join(op for op, _ in resolver_ops(p.model)),
            "MODEL_DIR": model_dir,
            "ARRAY": p.names.array,
            "MODEL_BYTES": p.model.size_bytes,
            "TARGET": p.target,
            "ARENA_TEXT": p.arena_text
            or (
                f"{p.arena_exact} bytes measured (smallest that allocates and invokes in the TFLM Python "
                f"interpreter), {p.arena} bytes allocated (margin {markdown_code(p.margin)})."
            ),
            "NPU_NOTE": p.npu.readme.replace("@PROJECT@", p.name) if p.npu else "",
        },
    )


def write_project(kind: str, out_dir: Path, p: ProjectInputs) -> list[str]:
    """Write the project of ``kind`` under ``out_dir`` (the target folder); returns relative paths."""
    if kind == "none":
        return []
    c_identifier(p.name, "project name")  # a CMake target, a sketch and folder name: nothing else is safe there
    root = out_dir / "project"
    if kind == "cmake":
        root.mkdir(parents=True, exist_ok=True)
        banner = (
            f"# Generated by hwquant {__version__} (hwquant build --target {p.target}).\n"
            f"# Model: {cmake_comment(p.source)}\n# Model sha256: {p.model_sha}"
        )
        files = {
            "main.cc": render_main(p, "\n" + template("cmake/entry.cc.in")),
            "CMakeLists.txt": fill(
                template("cmake/CMakeLists.txt.in"),
                {
                    "BANNER_CMAKE": banner,
                    "PROJECT": p.name,
                    "MODEL_DIR": "..",
                    "NPU_SOURCES": p.npu.cmake_sources if p.npu else "",
                    "NPU_LINK": p.npu.cmake_link if p.npu else "",
                },
            ),
            "README.md": _readme("cmake/README.md.in", p, ".."),
            "arm-none-eabi.cmake": template("cmake/arm-none-eabi.cmake"),
        }
        for name, text in files.items():
            (root / name).write_text(text, encoding="utf-8")
        return [f"project/{name}" for name in files]
    if kind == "arduino":
        sketch = root / p.name
        sketch.mkdir(parents=True, exist_ok=True)
        (sketch / f"{p.name}.ino").write_text(
            render_main(p, "\n" + template("arduino/entry.ino.in"), prelude="\n#include <TensorFlowLite.h>\n"),
            encoding="utf-8",
        )
        (sketch / "README.md").write_text(_readme("arduino/README.md.in", p, "."), encoding="utf-8")
        for name in MODEL_FILES:
            shutil.copyfile(out_dir / name, sketch / name)
        return [f"project/{p.name}/{n}" for n in (f"{p.name}.ino", "README.md", *MODEL_FILES)]
    raise ValueError(kind)
