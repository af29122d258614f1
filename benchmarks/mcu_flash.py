"""Measure TFLM's flash cost per kernel on a microcontroller target (issue 11 item 14).

Method: a generated mcu project (hwquant build --target mcu) is configured for the target with its
CMake toolchain file, against a tflite-micro checkout whose third-party headers are the pinned
ones. The TFLM library is built once; then the demo is relinked with ``main.cc``'s op resolver
holding (a) no op, (b) each op alone. ``arm-none-eabi-size`` gives text + data for each ELF:
  core       = size(no op) - model bytes - sample/expected IO arrays   (runtime, interpreter, demo code)
  kernel(op) = size({op}) - size(no op)                               (the op's kernel, and every
                                                                       helper it alone pulls in)
Helpers shared by several kernels are counted in each of their kernels, so
core + sum(kernel(op) for the model's ops) is an upper bound of what a build with those ops links.

Usage (after `cmake -S P -B P/build-m4 -DCMAKE_TOOLCHAIN_FILE=arm-none-eabi.cmake -DTFLM_DIR=...`):
    python benchmarks/mcu_flash.py P/build-m4 --model-bytes 9584 --io-bytes 794 -o figures.json
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import time
from pathlib import Path

from hwquant_backends._tflm.ops import RESOLVER_METHODS

REGISTER = re.compile(
    r"(using OpResolver = tflite::MicroMutableOpResolver<)\d+(>;\s*\nTfLiteStatus RegisterOps"
    r"\(OpResolver& resolver\) \{\n)(.*?)(  return kTfLiteOk;)",
    re.S,
)


def size(elf: Path) -> dict[str, int]:
    out = subprocess.run(["arm-none-eabi-size", "-B", str(elf)], capture_output=True, text=True, check=True).stdout
    text, data, bss = (int(v) for v in out.splitlines()[1].split()[:3])
    return {"text": text, "data": data, "bss": bss}


def variant(main: Path, original: str, ops: list[str]) -> None:
    body = "".join(f"  TF_LITE_ENSURE_STATUS(resolver.{RESOLVER_METHODS[o]}());  // {o}\n" for o in ops)
    new, n = REGISTER.subn(lambda m: f"{m.group(1)}{max(len(ops), 1)}{m.group(2)}{body}{m.group(4)}", original)
    assert n == 1, "main.cc has no RegisterOps block to rewrite"
    main.write_text(new)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("build_dir", type=Path)
    ap.add_argument("--model-bytes", type=int, required=True)
    ap.add_argument("--io-bytes", type=int, required=True, help="bytes of kSampleInput*/kExpectedOutput* arrays")
    ap.add_argument("--ops", nargs="*", help="only these ops (default: every op with a resolver method)")
    ap.add_argument("-o", "--out", type=Path, required=True)
    a = ap.parse_args()
    cache = (a.build_dir / "CMakeCache.txt").read_text()
    project = Path(re.search(r"CMAKE_HOME_DIRECTORY:INTERNAL=(.*)", cache).group(1))
    demo = re.search(r"^(\w+)_BINARY_DIR:STATIC=", cache, re.M).group(1) + "_demo"
    main_cc = project / "main.cc"
    original = main_cc.read_text()
    results: dict[str, object] = {}
    try:
        for ops in [[]] + [[o] for o in (a.ops or sorted(RESOLVER_METHODS))]:
            variant(main_cc, original, ops)
            t0 = time.time()
            done = subprocess.run(
                ["cmake", "--build", str(a.build_dir), "--target", demo], capture_output=True, text=True
            )
            key = ops[0] if ops else "(none)"
            if done.returncode != 0:
                results[key] = {"error": done.stdout[-400:] + done.stderr[-400:]}
            else:
                results[key] = size(a.build_dir / demo)
            print(key, results[key], f"{time.time() - t0:.1f}s", flush=True)
    finally:
        main_cc.write_text(original)
    none = results["(none)"]
    base = none["text"] + none["data"]
    figures = {
        "core_bytes": base - a.model_bytes - a.io_bytes,
        "kernel_bytes": {k: v["text"] + v["data"] - base for k, v in results.items() if k != "(none)" and "text" in v},
        "failed": sorted(k for k, v in results.items() if "error" in v),
        "raw": results,
        "model_bytes": a.model_bytes,
        "io_bytes": a.io_bytes,
    }
    a.out.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
