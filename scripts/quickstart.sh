#!/usr/bin/env bash
# One command: create .venv, install hwquant into it, build the bundled digits example for
# every built-in target. Needs only Python 3.11 (python3 -m venv) and network access to PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'
echo "installed: $(.venv/bin/hwquant --version)"
.venv/bin/hwquant targets
EX=examples/digits
.venv/bin/hwquant build "$EX/model.keras" --target "${HWQUANT_TARGETS:-cpu,gpu,mcu,ethos-u}" \
  --data "$EX/calibration.npz" --eval-data "$EX/eval.npz" --out build/digits "$@"
# The Edge TPU compile step needs Coral's compiler image (src/hwquant_backends/edgetpu/toolchain/Dockerfile), which
# cannot be built without Coral's apt repository: compile when it is there, else stop at the
# predicted mapping (the preflight).
EDGETPU_IMAGE=${HWQUANT_EDGETPU_IMAGE:-hwquant/edgetpu-compiler:16.0}
if command -v docker >/dev/null && docker image inspect "$EDGETPU_IMAGE" >/dev/null 2>&1; then
  EDGETPU_ONLY=()
else
  echo "note: no Edge TPU compiler image ($EDGETPU_IMAGE); showing the preflight mapping only"
  EDGETPU_ONLY=(--preflight-only)
fi
.venv/bin/hwquant build "$EX/model.keras" --target edgetpu --data "$EX/calibration.npz" \
  --eval-data "$EX/eval.npz" --out build/digits "${EDGETPU_ONLY[@]}" "$@"
