#!/usr/bin/env bash
# The checks besides the tests (.ci/run calls this; a developer can run it too):
#   static:    ruff check, ruff format --check, mypy, lint-imports, mkdocs build --strict (when mkdocs.yml exists)
#   packaging: python -m build (wheel + sdist) must print no warning; the wheel installed into a fresh venv
#              with the `build` extra runs `hwquant --version`, `hwquant targets` and one real build; the wheel
#              installed with its base dependencies only (the runtime-only install) runs `hwquant inspect` on
#              that build's artifact and cannot import TensorFlow.
# Usage: bash scripts/check.sh [--static | --no-install]
#   --static      only the static checks
#   --no-install  static checks and the wheel/sdist build, without the fresh-venv installs (which download
#                 TensorFlow the first time)
# Needs .venv with the dev extra (bash scripts/quickstart.sh makes it).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${HWQUANT_VENV:-$ROOT/.venv}
BIN=$VENV/bin
ONLY_STATIC=0
NO_INSTALL=0
for arg in "$@"; do
  case "$arg" in
    --static) ONLY_STATIC=1 ;;
    --no-install) NO_INSTALL=1 ;;
    *) echo "usage: bash scripts/check.sh [--static | --no-install]" >&2; exit 2 ;;
  esac
done
[ -x "$BIN/python" ] || { echo "no $VENV: run bash scripts/quickstart.sh first" >&2; exit 2; }

step() { printf '\n== %s\n' "$*"; }
fail() { echo "check failed: $*" >&2; exit 1; }

step "ruff check"
"$BIN/ruff" check .
step "ruff format --check"
"$BIN/ruff" format --check .
step "mypy"
(cd "$ROOT" && "$BIN/mypy")
step "lint-imports"
"$BIN/lint-imports"
if [ -f mkdocs.yml ]; then
  step "mkdocs build --strict"
  SITE=$(mktemp -d)
  NO_MKDOCS_2_WARNING=1 "$BIN/mkdocs" build --strict --quiet --site-dir "$SITE/site"
  rm -rf "$SITE"
else
  step "mkdocs: no mkdocs.yml, skipped"
fi
[ "$ONLY_STATIC" = 1 ] && { step "static checks passed (packaging skipped: --static)"; exit 0; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/hwquant-check.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
# pip's own notices (running as root in CI, a newer pip, an index it cannot read) are not packaging
# warnings: the packaging checks read setuptools' output (python -m build, pip wheel -v), not pip's
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore PIP_NO_INPUT=1
unset PYTHONDONTWRITEBYTECODE  # else setuptools warns that byte-compiling is disabled
unset PYTHONPATH  # the installed package, never a source tree, is what these checks run

step "python -m build (wheel and sdist from the files git sees, so nothing ignored leaks in)"
mkdir "$TMP/tree"
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
  [ -e "$f" ] && printf '%s\0' "$f"
done | xargs -0 cp --parents -t "$TMP/tree"
(cd "$TMP/tree/src" && find . -type f | sed 's|^\./||' | sort >"$TMP/src-files.txt")  # before the build adds to it
"$BIN/python" -m build --outdir "$TMP/dist" "$TMP/tree" >"$TMP/build.log" 2>&1 || { cat "$TMP/build.log"; fail "python -m build"; }
if grep -inE 'warning|would be ignored|deprecat' "$TMP/build.log"; then
  fail "python -m build printed the warnings above (full log: rerun with the same command)"
fi
WHEEL=$(ls "$TMP"/dist/*.whl)
ls "$TMP"/dist/*.tar.gz >/dev/null || fail "no sdist built"
# every file git sees under src/ (modules, templates, Dockerfiles, py.typed) is in the wheel, and nothing else
"$BIN/python" - "$WHEEL" "$TMP/src-files.txt" <<'EOF' || fail "the wheel and src/ differ"
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
shipped = {n for n in names if ".dist-info/" not in n}
wanted = {line.strip() for line in open(sys.argv[2]) if line.strip()}
missing, extra = sorted(wanted - shipped), sorted(shipped - wanted)
no_license = not any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
if missing or extra or no_license:
    sys.exit(f"not in the wheel: {missing}; in the wheel but not under src/: {extra}; LICENSE missing: {no_license}")
print(f"the wheel ships the {len(wanted)} files under src/, and LICENSE")
EOF
echo "built $(basename "$WHEEL") and $(basename "$(ls "$TMP"/dist/*.tar.gz)"), no warnings"

step "pip install . (setuptools' own output, verbose) prints no packaging warning"
(cd "$TMP" && "$BIN/python" -m pip wheel -v --no-deps --no-build-isolation -w "$TMP/pipwheel" "$TMP/tree") \
  >"$TMP/pip-wheel.log" 2>&1 || { cat "$TMP/pip-wheel.log"; fail "pip wheel ."; }
if grep -iE 'warning|would be ignored|deprecat' "$TMP/pip-wheel.log"; then
  fail "pip install . printed the packaging warnings above"
fi

[ "$NO_INSTALL" = 1 ] && { step "static and build checks passed (fresh-venv installs skipped: --no-install)"; exit 0; }

PY=${PYTHON:-python3}
step "the wheel with the build extra, in a fresh venv: --version, targets, one build"
"$PY" -m venv "$TMP/full"
(cd "$TMP" && "$TMP/full/bin/python" -m pip install -q "$WHEEL[build]")
EX=$ROOT/examples/digits
# run from the temporary folder: the installed package, never this checkout, is what runs
(
  cd "$TMP"
  "$TMP/full/bin/hwquant" --version
  "$TMP/full/bin/hwquant" targets
  "$TMP/full/bin/hwquant" build "$EX/model.keras" --target cpu --data "$EX/calibration.npz" \
    --eval-data "$EX/eval.npz" --out "$TMP/out" --no-cache
) || fail "the installed wheel (build extra) did not run"
ARTIFACT=$(find "$TMP/out" -name '*.tflite' | head -n 1)
[ -n "$ARTIFACT" ] || fail "the build wrote no .tflite under $TMP/out"
REPORT=$(find "$TMP/out" -name report.json | head -n 1)
[ -n "$REPORT" ] || fail "the build wrote no report.json under $TMP/out"
"$TMP/full/bin/python" -c "import hwquant, sys; sys.exit(0 if hwquant.__file__.startswith('$TMP/full') else 'hwquant imported from ' + hwquant.__file__)"

step "the runtime-only install (base dependencies only): hwquant inspect on that artifact"
"$PY" -m venv "$TMP/runtime"
(cd "$TMP" && "$TMP/runtime/bin/python" -m pip install -q "$WHEEL")
(cd "$TMP" && "$TMP/runtime/bin/python" -c "import importlib.util as u, sys; sys.exit('tensorflow is installed in the runtime-only venv' if u.find_spec('tensorflow') else 0)")
(cd "$TMP" && "$TMP/runtime/bin/hwquant" --version && "$TMP/runtime/bin/hwquant" inspect "$ARTIFACT") \
  || fail "hwquant inspect in the runtime-only install"
step "all checks passed"
