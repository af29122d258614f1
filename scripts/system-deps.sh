#!/usr/bin/env bash
# System tools for the full test suite: Docker engine (Edge TPU orchestration tests), busybox-static
# (the stand-in compiler image is FROM scratch), gcc-arm-none-eabi (MCU C array cross-compile check),
# debootstrap (a local Debian base image for the container-image test; Docker Hub is not reachable),
# rsync (gitlab-ci-local's --shell-isolation copies the project with it), chromium (headless: the report.html and
# dashboard pages are opened in a real browser). With node/npm present, it also
# installs gitlab-ci-local (runs docs/gitlab-ci.yml in tests/test_ci_examples.py) into .tools/.
set -euo pipefail
cd "$(dirname "$0")/.."
GITLAB_CI_LOCAL=gitlab-ci-local@4.60.0   # the last release that runs on Node 20
if command -v npm >/dev/null && [ ! -x .tools/gitlab-ci-local/node_modules/.bin/gitlab-ci-local ]; then
  npm install --silent --no-audit --no-fund --prefix .tools/gitlab-ci-local "$GITLAB_CI_LOCAL" >/dev/null \
    || echo "note: npm could not install $GITLAB_CI_LOCAL; the GitLab pipeline test will skip" >&2
elif ! command -v npm >/dev/null; then
  echo "note: no node/npm: the GitLab pipeline test (gitlab-ci-local) will skip" >&2
fi
PKGS=(docker.io busybox-static gcc-arm-none-eabi g++ debootstrap rsync chromium)
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "not root on Debian/Ubuntu: install ${PKGS[*]} yourself and start dockerd" >&2
  exit 1
fi
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
  (nohup dockerd >/tmp/hwquant-dockerd.log 2>&1 &)
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start; see /tmp/hwquant-dockerd.log" >&2; exit 1; }
fi
