"""Vela's own operator constraints, as `hwquant targets ethos-u --ops` prints them.

Read in-process from the installed Vela (``ethosu.regor.tflite_operator_constraints``, the same
source as ``vela --supported-ops-report``): no copy of the table lives in hwquant. Vela groups the
rules the same way its report does: a rule that applies to (nearly) every op is generic.
"""

from __future__ import annotations

from typing import Any

NPU_ARCHS = {"ethos-u55": "EthosU55", "ethos-u65": "EthosU55", "ethos-u85": "EthosU85"}  # U65 shares U55's rules


def table(family: str = "ethos-u55") -> dict[str, Any]:
    """{"generic": [rules for every op], "ops": [{"op", "dtypes", "constraints"}]} from Vela, for the
    U55/U65 rules; ops only the U85 runs are added as rows saying so, with their U85 rules."""
    try:
        from ethosu import regor
    except ImportError:
        return {"generic": ["Vela (ethos-u-vela) is not installed: pip install 'hwquant[ethos-u]'"], "ops": []}
    out = _table(regor.tflite_operator_constraints(NPU_ARCHS[family]))
    if family != "ethos-u85":
        known = {row["op"] for row in out["ops"]}
        u85 = _table(regor.tflite_operator_constraints(NPU_ARCHS["ethos-u85"]))
        extra = [
            dict(row, constraints=["Ethos-U85 only (on U55/U65 it runs on the CPU)", *row["constraints"]])
            for row in u85["ops"]
            if row["op"] not in known
        ]
        out["ops"] = sorted(out["ops"] + extra, key=lambda r: r["op"])
    return out


def _table(per_op: dict[str, list[str]]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for rules in per_op.values():
        for r in rules:
            counts[r] = counts.get(r, 0) + 1
    generic = [r for r, n in counts.items() if n >= 0.8 * len(per_op)]  # Vela's own threshold (vela.py)
    ops = [
        {
            "op": name.replace("ARGMAX", "ARG_MAX"),
            "dtypes": [],  # Vela states the data types in its rules
            "constraints": sorted(r for r in rules if r not in generic),
        }
        for name, rules in sorted(per_op.items())
    ]
    return {"generic": sorted(generic), "ops": ops}
