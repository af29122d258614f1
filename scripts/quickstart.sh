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
.venv/bin/hwquant build "$EX/model.keras" --target "${HWQUANT_TARGETS:-cpu,gpu,mcu,edgetpu}" \
  --data "$EX/calibration.npz" --eval-data "$EX/eval.npz" --out build/digits "$@"
