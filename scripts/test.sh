#!/usr/bin/env bash
# Run the test suite. As root on Debian it first installs the system tools the tests use
# (Docker engine, busybox-static for the stand-in compiler image, the Arm cross compiler)
# and starts dockerd; elsewhere those tests skip and say why.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/quickstart.sh
bash scripts/system-deps.sh || echo "note: system tools not installed; Docker/Arm tests will skip"
exec .venv/bin/python -m pytest "$@"
