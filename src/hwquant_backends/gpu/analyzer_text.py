"""TensorFlow Lite's own GPU compatibility analysis, run without TensorFlow, and its parser.

``tf.lite.experimental.Analyzer.analyze(model_content=..., gpu_compatibility=True)`` prints
the text of a native ModelAnalyzer. ai_edge_litert ships the same native wrapper
(``ai_edge_litert._pywrap_analyzer_wrapper``), so the analysis runs here with LiteRT alone:
no TensorFlow import. The text is parsed into per-op warnings
("GPU COMPATIBILITY WARNING: <why>" after an op line) that the GPU backend merges with its
own table.

Caveat, checked with TF 2.21 and ai-edge-litert 2.3: upstream removed the per-op checks from
the analyzer (tensorflow/tensorflow#77042), so current builds print "looks compatible" even
for ops the delegate rejects (ARG_MAX, TOPK_V2). hwquant's table (ops.py, transcribed from
gpu_compatibility.cc) therefore decides; the analyzer's findings are merged when it has any.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_SUBGRAPH = re.compile(r"^Subgraph#(\d+)\b")
_OP = re.compile(r"^\s+Op#(\d+)\s+([A-Za-z0-9_\-]+)\(")
_WARN = "GPU COMPATIBILITY WARNING:"
_SUBGRAPH_WARN = re.compile(r"Subgraph#(\d+) has GPU delegate compatibility issues at nodes ([\d,\s]+)")
_COMPATIBLE = re.compile(
    r"Your model looks compatib(?:i)?le with GPU delegate\s+(?:on|with) TFLite runtime version "
    r"(\S+?)\.?$",
    re.M,
)
_VERSION = re.compile(r"TFLite runtime version (\S+?)\.?$", re.M)


@dataclass
class AnalyzerReport:
    """What the analyzer said: per-op warnings keyed by (subgraph, op index)."""

    available: bool
    source: str = ""  # which wrapper ran it
    compatible: bool | None = None  # the analyzer's overall verdict
    runtime_version: str | None = None
    op_warnings: dict[tuple[int, int], list[str]] = field(default_factory=dict)
    op_names: dict[tuple[int, int], str] = field(default_factory=dict)
    incompatible_nodes: dict[int, list[int]] = field(default_factory=dict)  # subgraph -> node indices
    error: str = ""
    text: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "available": self.available,
            "source": self.source,
            "compatible": self.compatible,
            "runtime_version": self.runtime_version,
            "error": self.error,
            "warnings": [
                {"subgraph": s, "op_index": i, "op": self.op_names.get((s, i), "?"), "reasons": w}
                for (s, i), w in sorted(self.op_warnings.items())
            ],
        }


def parse(text: str) -> AnalyzerReport:
    """Parse the analyzer's text output (either wording of the old and new versions)."""
    rep = AnalyzerReport(available=True, text=text)
    subgraph, last_op = 0, None
    for line in text.splitlines():
        m = _SUBGRAPH.match(line)
        if m:
            subgraph, last_op = int(m.group(1)), None
            continue
        m = _OP.match(line)
        if m:
            last_op = (subgraph, int(m.group(1)))
            rep.op_names[last_op] = m.group(2)
            continue
        if _WARN in line:
            msg = line.split(_WARN, 1)[1].strip()
            sm = _SUBGRAPH_WARN.search(msg)
            if sm:
                nodes = [int(n) for n in re.findall(r"\d+", sm.group(2))]
                rep.incompatible_nodes[int(sm.group(1))] = nodes
                rep.compatible = False
                vm = _VERSION.search(msg)
                rep.runtime_version = rep.runtime_version or (vm.group(1) if vm else None)
            elif last_op is not None:
                rep.op_warnings.setdefault(last_op, []).append(msg)
                rep.compatible = False
            continue
        if line.startswith(("Tensors of Subgraph", "Signature#")):
            last_op = None
    m = _COMPATIBLE.search(text)
    if m and rep.compatible is None:
        rep.compatible, rep.runtime_version = True, m.group(1)
    return rep


def gpu_compatibility_report(model_bytes: bytes) -> tuple[str, str]:
    """(analyzer text, wrapper used) for ``model_bytes``, using LiteRT's bundled analyzer.

    Raises ImportError when neither ai_edge_litert nor tflite_runtime ships the analyzer.
    """
    try:
        from ai_edge_litert import _pywrap_analyzer_wrapper as wrapper

        source = "ai_edge_litert._pywrap_analyzer_wrapper"
    except ImportError:
        from tflite_runtime import _pywrap_analyzer_wrapper as wrapper

        source = "tflite_runtime._pywrap_analyzer_wrapper"
    # ModelAnalyzer(model, input_is_filepath, check_gpu_compatibility) -> text
    return wrapper.ModelAnalyzer(bytes(model_bytes), False, True), source


def analyze(model_bytes: bytes) -> AnalyzerReport:
    """Run and parse the analysis; a missing or failing analyzer yields available=False."""
    try:
        text, source = gpu_compatibility_report(model_bytes)
    except ImportError:
        return AnalyzerReport(available=False, error="this LiteRT runtime ships no model analyzer")
    except Exception as exc:  # the native analyzer reports failures as exceptions or text
        return AnalyzerReport(available=False, error=f"the analyzer failed: {exc}")
    rep = parse(text)
    rep.source = source
    first = text.strip().splitlines()[0] if text.strip() else "the analyzer printed nothing"
    if not text.strip() or "Failed to mmap" in first or first.startswith("Failed to"):
        rep.available, rep.error = False, first
    return rep
