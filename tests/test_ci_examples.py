"""The CI examples in docs/ run for real: the GitHub workflow validates against the workflow schema
check-jsonschema vendors; the GitLab pipeline (plan -> parallel:matrix build -> gate, artifacts between
stages) runs under gitlab-ci-local's shell executor on a workspace of two tiny models."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
GITLAB_CI_LOCAL_VERSION = "4.60.0"  # runs on Node 20; scripts/system-deps.sh installs it into .tools/


def _tool(name: str) -> str | None:
    return shutil.which(name, path=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")


def test_github_workflow_matches_the_workflow_schema(tmp_path):
    exe = _tool("check-jsonschema")
    if exe is None:
        pytest.skip("check-jsonschema is not installed (it is in the dev extra: pip install -e '.[dev]')")
    ok = subprocess.run(
        [exe, "--builtin-schema", "vendor.github-workflows", str(REPO / "docs/github-actions.yml")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # the check is real: a job without runs-on is refused
    broken = tmp_path / "broken.yml"
    broken.write_text((REPO / "docs/github-actions.yml").read_text().replace("runs-on:", "runs_on:", 1))
    bad = subprocess.run(
        [exe, "--builtin-schema", "vendor.github-workflows", str(broken)], capture_output=True, text=True, timeout=120
    )
    assert bad.returncode != 0 and "runs-on" in bad.stdout


def _gitlab_ci_local() -> str:
    if shutil.which("node") is None:
        pytest.skip("node is not installed: gitlab-ci-local (npm) cannot run")
    if shutil.which("rsync") is None:
        pytest.skip("rsync is not installed: gitlab-ci-local's --shell-isolation needs it (apt-get install rsync)")
    for candidate in (
        os.environ.get("HWQUANT_GITLAB_CI_LOCAL"),
        str(REPO / ".tools/gitlab-ci-local/node_modules/.bin/gitlab-ci-local"),
        shutil.which("gitlab-ci-local"),
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.skip(
        f"gitlab-ci-local is not installed (scripts/system-deps.sh: npm install --prefix "
        f".tools/gitlab-ci-local gitlab-ci-local@{GITLAB_CI_LOCAL_VERSION})"
    )


def _run(exe: str, project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}", "HOME": str(project.parent)}
    env.pop("HWQUANT_CACHE_DIR", None)  # the pipeline sets its own, inside the project
    return subprocess.run(
        [exe, "--force-shell-executor", "--shell-isolation", "--no-color", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.slow
def test_gitlab_pipeline_plans_builds_the_matrix_and_gates(keras_model, tmp_path):
    exe = _gitlab_ci_local()
    project = tmp_path / "project"
    for name in ("kws", "person"):
        d = project / "models" / name
        d.mkdir(parents=True)
        shutil.copy(keras_model, d / "model.keras")
        (d / "hwquant.toml").write_text(
            'model = "model.keras"\ndata = "random:16"\n\n[targets.cpu]\n\n[targets.mcu]\nrecipe = "int8-only"\n'
        )
    (project / "hwquant-workspace.toml").write_text('models = ["models/*"]\n')
    shutil.copy(REPO / "docs/gitlab-ci.yml", project / ".gitlab-ci.yml")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    subprocess.run([*git, "-C", str(project), "add", "-A"], check=True)
    subprocess.run([*git, "-C", str(project), "commit", "-qm", "models"], check=True)

    r = _run(exe, project)
    log = r.stdout + r.stderr
    assert r.returncode == 0, log[-6000:]
    for job in ("plan", "build: [cpu]", "build: [mcu]", "gate"):
        assert any(line.split() == ["PASS", *job.split()] for line in log.splitlines()), (job, log[-3000:])
    # artifacts travelled between stages: the plan, and every job's report from the two matrix jobs
    plan = json.loads((project / "plan.json").read_text())
    ids = [j["id"] for j in plan["jobs"]]
    assert ids == ["models-kws.cpu", "models-kws.mcu", "models-person.cpu", "models-person.mcu"]
    for j in plan["jobs"]:
        report = json.loads((project / j["out"] / "report.json").read_text())
        assert report["job"] == j["id"] and report["cache"]["key"] == j["cache_key"]
    assert "verdict: pass: 4 job(s)" in log
    # the gate's verdict is real: the same reports fail a stricter gate (exit 5 -> the job fails)
    strict = _run(exe, project, "gate", "--variable", "GATES=--min-snr 200")
    strict_log = strict.stdout + strict.stderr
    assert strict.returncode != 0 and "4 check(s) failed" in strict_log, strict_log[-3000:]
