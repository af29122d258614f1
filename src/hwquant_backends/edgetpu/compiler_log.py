"""Parse what edgetpu_compiler prints (console output) and the ``*_edgetpu.log`` it writes.

Formats seen in published logs, versions 2.0 to 16.0 (../shared/fixtures/edgetpu/SOURCES.md):
- ``Edge TPU Compiler version X`` first; 16.0 adds timeout-timer and child-process lines.
- one result block per compiled model (per segment with ``-n``): Input model / Input size /
  Output model / Output size / On-chip memory used (2.0 also "available", later "remaining")
  / Off-chip memory used for streaming / Number of Edge TPU subgraphs / Total number of
  operations / Operation log; then, when some ops run on the CPU, a notice (possibly wrapped)
  with "Number of operations that will run on Edge TPU: N" and "... on CPU: N".
- with ``-s`` an operator table: ``Operator  Count  Status`` rows; statuses are kept verbatim.
- failures: "Internal compiler error. Aborting!", "Invalid model: X" + "Model not quantized" /
  "Model could not be parsed", "Compilation failed: ..." / "Compilation failed!", "ERROR: ...".
- the op-log file: "Input: X", "Output: Y" and the table, no totals.
- crashes are printed by the shell or the wrapper script around the binary, e.g.
  ``/usr/bin/edgetpu_compiler: line 3:  4242 Segmentation fault      (core dumped) ...``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

_UNITS = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}
_SIZE = re.compile(r"^\s*([0-9.]+)\s*(B|KiB|MiB|GiB)\s*$")
_ROW = re.compile(r"^([A-Z][A-Z0-9_]*)\s+(\d+)\s+(\S.*?)\s*$")
_CRASH = re.compile(
    r"(Segmentation fault|Aborted|Bus error|Illegal instruction|Floating point exception)"
    r"(\s*\(core dumped\))?"
)
_FAILURES = (
    re.compile(r"^Internal compiler error\..*"),
    re.compile(r"^Invalid model:.*"),
    re.compile(r"^Model not quantized.*"),
    re.compile(r"^Model could not be parsed.*"),
    re.compile(r"^Compilation failed.*"),
)


def size_bytes(text: str | None) -> int | None:
    """'4.04MiB' -> 4236247 (bytes, rounded); None when the text is not a size."""
    m = _SIZE.match(text or "")
    return round(float(m.group(1)) * _UNITS[m.group(2)]) if m else None


@dataclass
class Row:
    operator: str
    count: int
    status: str


@dataclass
class ModelResult:
    """One result block: a compiled model (or one segment of it)."""

    input_model: str | None = None
    input_size: str | None = None
    output_model: str | None = None
    output_size: str | None = None
    on_chip_available: str | None = None  # compiler 2.0 only
    on_chip_used: str | None = None
    on_chip_remaining: str | None = None
    off_chip_streaming: str | None = None
    subgraphs: int | None = None
    total_ops: int | None = None
    tpu_ops: int | None = None  # as stated by the compiler (only when some ops run on the CPU)
    cpu_ops: int | None = None
    operation_log: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in (
            "input_size",
            "output_size",
            "on_chip_available",
            "on_chip_used",
            "on_chip_remaining",
            "off_chip_streaming",
        ):
            d[k + "_bytes"] = size_bytes(d[k])
        return d


@dataclass
class CompilerLog:
    version: str | None = None
    kind: str = "console"  # console | oplog
    outcome: str = "unknown"  # succeeded | failed | crashed | incomplete | unknown (an op-log has no outcome)
    compile_ms: int | None = None
    timeout_s: int | None = None  # "Started a compilation timeout timer of N seconds" (16.0)
    timers_started: int = 0
    models: list[ModelResult] = field(default_factory=list)
    partial_notice: bool = False  # "not all operations are supported by the Edge TPU"
    table: list[Row] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # the compiler's own failure lines
    crash: str | None = None  # a crash reported by the shell or wrapper ("Segmentation fault (core dumped)")
    errors: list[str] = field(default_factory=list)  # "ERROR: ..." lines

    @property
    def succeeded(self) -> bool:
        return self.outcome == "succeeded"

    def message(self) -> str:
        """The compiler's own words about what went wrong (failures first, then ERROR lines)."""
        return "; ".join(dict.fromkeys([*self.failures, *self.errors])) or "no failure message"

    def mapping(self) -> dict[str, Any]:
        """Ops on the Edge TPU vs the CPU: as stated, else from the table, else inferred."""
        b = self.models[0] if self.models else ModelResult()
        if b.tpu_ops is not None:
            return {"tpu": b.tpu_ops, "cpu": b.cpu_ops, "source": "stated by the compiler"}
        if self.table:
            tpu = sum(r.count for r in self.table if r.status == "Mapped to Edge TPU")
            return {"tpu": tpu, "cpu": sum(r.count for r in self.table) - tpu, "source": "operator table"}
        if b.total_ops is not None and self.succeeded and not self.partial_notice:
            return {"tpu": b.total_ops, "cpu": 0, "source": "inferred: compiled with no 'not all operations' notice"}
        return {"tpu": None, "cpu": None, "source": "not stated"}

    def to_dict(self) -> dict[str, Any]:
        first = self.models[0].to_dict() if self.models else {}
        return {
            "version": self.version,
            "kind": self.kind,
            "outcome": self.outcome,
            "compile_ms": self.compile_ms,
            "timeout_s": self.timeout_s,
            "on_chip_memory_used": first.get("on_chip_used"),
            "on_chip_memory_used_bytes": first.get("on_chip_used_bytes"),
            "on_chip_memory_remaining": first.get("on_chip_remaining"),
            "on_chip_memory_remaining_bytes": first.get("on_chip_remaining_bytes"),
            "off_chip_streaming": first.get("off_chip_streaming"),
            "off_chip_streaming_bytes": first.get("off_chip_streaming_bytes"),
            "edgetpu_subgraphs": first.get("subgraphs"),
            "total_ops": first.get("total_ops"),
            "ops": self.mapping(),
            "partial_notice": self.partial_notice,
            "models": [m.to_dict() for m in self.models],
            "table": [asdict(r) for r in self.table],
            "failures": list(self.failures),
            "errors": list(self.errors),
            "crash": self.crash,
        }


_FIELDS = {
    "Input model": "input_model",
    "Input size": "input_size",
    "Output model": "output_model",
    "Output size": "output_size",
    "On-chip memory available for caching model parameters": "on_chip_available",
    "On-chip memory used for caching model parameters": "on_chip_used",
    "On-chip memory remaining for caching model parameters": "on_chip_remaining",
    "Off-chip memory used for streaming uncached model parameters": "off_chip_streaming",
    "Number of Edge TPU subgraphs": "subgraphs",
    "Total number of operations": "total_ops",
    "Number of operations that will run on Edge TPU": "tpu_ops",
    "Number of operations that will run on CPU": "cpu_ops",
    "Operation log": "operation_log",
}
_INTS = {"subgraphs", "total_ops", "tpu_ops", "cpu_ops"}


def parse(text: str) -> CompilerLog:
    """Parse console output or an op-log file; unknown lines are ignored, statuses kept verbatim."""
    log = CompilerLog()
    block: ModelResult | None = None
    in_table = succeeded = False
    flat = " ".join(text.split())
    log.partial_notice = "not all operations are supported by the Edge TPU" in flat
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if m := re.match(r"^Edge TPU Compiler version (\S+)", line):
            log.version = m.group(1)
        elif m := re.match(r"^Started a compilation timeout timer of (\d+) seconds", line):
            log.timeout_s, log.timers_started = int(m.group(1)), log.timers_started + 1
        elif m := re.match(r"^Models? compiled successfully in (\d+) ms", line):
            log.compile_ms = int(m.group(1)) if log.compile_ms is None else log.compile_ms
            succeeded = True
        elif line.startswith("Compilation succeeded"):
            succeeded = True
        elif log.crash is None and (m := _CRASH.search(line)):
            log.crash = " ".join(m.group(0).split())
        elif line.startswith("ERROR:"):
            log.errors.append(line)
        elif any(p.match(line) for p in _FAILURES):
            log.failures.append(line)
        elif m := re.match(r"^(Input|Output):\s*(.+)$", line):  # op-log header
            log.kind = "oplog"
            block = block or ModelResult()
            setattr(block, "input_model" if m.group(1) == "Input" else "output_model", m.group(2))
            if block not in log.models:
                log.models.append(block)
        elif line.startswith("Operator") and "Count" in line and "Status" in line:
            in_table = True
        elif in_table and (m := _ROW.match(line)):
            log.table.append(Row(m.group(1), int(m.group(2)), m.group(3)))
        elif ":" in line and line.split(":", 1)[0] in _FIELDS:
            key, value = (s.strip() for s in line.split(":", 1))
            attr = _FIELDS[key]
            if attr == "input_model" or block is None:
                block = ModelResult()
                log.models.append(block)
            setattr(block, attr, int(value) if attr in _INTS else value)
        else:
            in_table = in_table and bool(_ROW.match(line))
    log.outcome = _outcome(log, succeeded)
    return log


def _outcome(log: CompilerLog, succeeded: bool) -> str:
    if log.kind == "oplog":
        return "unknown"
    if log.crash:
        return "crashed"
    if log.failures:
        return "failed"
    if log.timers_started > max(1, len(log.models)) or (log.errors and log.timers_started > len(log.models)):
        return "incomplete"  # a later model/segment started but printed no result
    if succeeded and log.models:
        return "succeeded"
    return "unknown"
