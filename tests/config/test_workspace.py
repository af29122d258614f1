"""Workspaces: plan every (model, target table) job without TensorFlow, build them in worker
processes or one at a time by id, and gate the whole fan-out with one `hwquant check`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from hwquant.cli.main import main

PY = sys.executable


def _workspace(root: Path, model: Path, tables: dict[str, str]) -> Path:
    """models/<name>/ with a copy of ``model`` and a manifest per entry of ``tables`` (TOML body)."""
    for name, body in tables.items():
        d = root / "models" / name
        d.mkdir(parents=True)
        shutil.copy(model, d / "model.keras")
        (d / "hwquant.toml").write_text(f'model = "model.keras"\ndata = "random:16"\n{body}')
    (root / "hwquant-workspace.toml").write_text('models = ["models/*"]\n')
    return root


TWO = {"kws": '[targets.cpu]\n[targets.mcu]\nrecipe = "int8-only"\n', "person": "[targets.cpu]\n"}


def _hwquant(*args, cwd: Path, cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HWQUANT_CACHE_DIR": str(cache)}
    return subprocess.run(
        [PY, "-m", "hwquant.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def test_plan_lists_every_job_without_importing_tensorflow(keras_model, tmp_path):
    ws = _workspace(tmp_path / "ws", keras_model, TWO)
    probe = (
        "import json, sys, time\n"
        "from hwquant.cli.main import main\n"
        "t0 = time.perf_counter()\n"
        "try:\n"
        "    main(['plan', 'hwquant-workspace.toml', '--json', '--out', 'dist'])\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "print(json.dumps({'seconds': time.perf_counter() - t0, 'tensorflow': 'tensorflow' in sys.modules,\n"
        "                  'convert': 'hwquant.convert.converter' in sys.modules, 'keras': 'keras' in sys.modules}),\n"
        "      file=sys.stderr)\n"
    )
    env = {**os.environ, "HWQUANT_CACHE_DIR": str(tmp_path / "cache")}
    r = subprocess.run([PY, "-c", probe], cwd=ws, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    seen = json.loads(r.stderr.strip().splitlines()[-1])
    assert seen["tensorflow"] is False and seen["convert"] is False and seen["keras"] is False
    plan = json.loads(r.stdout)
    assert [j["id"] for j in plan["jobs"]] == ["models-kws.cpu", "models-kws.mcu", "models-person.cpu"]
    kws_cpu = plan["jobs"][0]
    assert kws_cpu["manifest"] == "models/kws/hwquant.toml" and kws_cpu["out"] == "dist/models-kws/cpu"
    assert all(len(j["cache_key"]) == 64 and j["cached"] is False for j in plan["jobs"])
    # the same model and options give the same key; another backend gives another
    assert plan["jobs"][0]["cache_key"] == plan["jobs"][2]["cache_key"] != plan["jobs"][1]["cache_key"]


def test_folders_manifests_and_workspace_file_give_the_same_ids(keras_model, tmp_path, monkeypatch):
    ws = _workspace(tmp_path / "ws", keras_model, TWO)
    monkeypatch.chdir(ws)
    runner = CliRunner()
    outs = [
        runner.invoke(main, ["plan", *args, "--json", "--no-cache"])
        for args in (
            ["hwquant-workspace.toml"],
            ["models/kws/", "models/person"],
            ["models/kws/hwquant.toml", "models/person"],
            [],
        )
    ]
    assert all(o.exit_code == 0 for o in outs), [o.output for o in outs]
    ids = [[j["id"] for j in json.loads(o.output)["jobs"]] for o in outs]
    assert ids[0] == ids[1] == ids[2] == ids[3] == ["models-kws.cpu", "models-kws.mcu", "models-person.cpu"]
    only = runner.invoke(main, ["plan", "--json", "--no-cache", "-t", "mcu"])
    assert [j["id"] for j in json.loads(only.output)["jobs"]] == ["models-kws.mcu"]


@pytest.mark.parametrize(
    "setup, args, expect",
    [
        (
            lambda ws: (ws / "models/person/hwquant.toml").write_text(
                'model = "model.keras"\nbogus = 1\n[targets.cpu]\n'
            ),
            ["plan", "hwquant-workspace.toml"],
            "models/person/hwquant.toml:2: bogus: unknown key",
        ),
        (
            lambda ws: (ws / "hwquant-workspace.toml").write_text('models = ["nowhere/*"]\n'),
            ["plan", "hwquant-workspace.toml"],
            "'nowhere/*' matches no folder",
        ),
        (lambda ws: (ws / "empty").mkdir(), ["plan", "empty", "models/kws"], "empty: no hwquant.toml in this folder"),
        (lambda ws: None, ["plan", "models/kws", "-t", "gpu"], "no manifest has target table(s) gpu"),
        (
            lambda ws: None,
            ["build", "models/kws", "models/person", "--job", "models-kws.gpu"],
            "no job 'models-kws.gpu' in this workspace",
        ),
        (lambda ws: None, ["build", "models/kws", "--jobs", "0"], "--jobs 0: expected 1 or more"),
    ],
)
def test_bad_workspaces_exit_2_naming_the_manifest(keras_model, tmp_path, monkeypatch, setup, args, expect):
    ws = _workspace(tmp_path / "ws", keras_model, TWO)
    setup(ws)
    monkeypatch.chdir(ws)
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2, r.output
    assert expect in " ".join(r.output.split()) and "Traceback" not in r.output


@pytest.mark.slow
def test_jobs_build_in_workers_job_builds_one_and_check_gates_the_fan_out(keras_model, tmp_path):
    """--jobs 2 builds both models in worker processes with the keys plan listed; --job ID builds one job;
    check over the collected reports gives one verdict; a broken model fails alone, naming its manifest."""
    ws = _workspace(tmp_path / "ws", keras_model, TWO)
    cache = tmp_path / "cache"
    plan = _hwquant("plan", "--out", "dist", "--json", "--min-snr", "20", cwd=ws, cache=cache)
    assert plan.returncode == 0, plan.stderr
    (ws / "plan.json").write_text(plan.stdout)
    jobs = {j["id"]: j for j in json.loads(plan.stdout)["jobs"]}
    r = _hwquant(
        "build", "hwquant-workspace.toml", "--jobs", "2", "--out", "dist", "--min-snr", "20", cwd=ws, cache=cache
    )
    assert r.returncode == 0, r.stderr
    assert "3 job(s) of 2 model(s); 2 worker processes" in r.stderr
    assert sum(line.startswith("verdict ") for line in r.stdout.splitlines()) == 3  # one per job, on stdout
    for jid, j in jobs.items():
        rep = json.loads((ws / j["out"] / "report.json").read_text())
        assert rep["job"] == jid and rep["cache"]["key"] == j["cache_key"]  # plan's key is the build's key
    replan = json.loads(_hwquant("plan", "--out", "dist", "--json", "--min-snr", "20", cwd=ws, cache=cache).stdout)
    assert all(j["cached"] for j in replan["jobs"])
    # both workers built the shared cpu key at once: one complete entry per key, no temporary left
    assert sorted(p.name for p in cache.glob("*/*")) == sorted({j["cache_key"] for j in jobs.values()})
    # one job, as a CI matrix entry runs it: restored from the shared cache, nothing else written
    one = _hwquant(
        "build", "--job", "models-kws.mcu", "--out", "ci/models-kws.mcu", "--min-snr", "20", cwd=ws, cache=cache
    )
    assert one.returncode == 0, one.stderr
    reports = sorted(p.relative_to(ws / "ci") for p in (ws / "ci").rglob("report.json"))
    assert reports == [Path("models-kws.mcu/models-kws/mcu/report.json")]
    assert json.loads((ws / "ci" / reports[0]).read_text())["cache"]["hit"] is True
    # the gate over a tree of job artifacts: one job missing -> exit 5 naming it; all there -> pass
    partial = _hwquant("check", "ci", "--plan", "plan.json", cwd=ws, cache=cache)
    assert partial.returncode == 5
    assert "models-kws.cpu: no report" in partial.stderr and "models-person.cpu: no report" in partial.stderr
    ok = _hwquant("check", "dist", "--plan", "plan.json", "--min-snr", "20", cwd=ws, cache=cache)
    assert ok.returncode == 0, ok.stderr
    assert "verdict: pass: 3 job(s)" in ok.stdout and "models-person.cpu" in ok.stdout
    strict = _hwquant("check", "dist", "--plan", "plan.json", "--min-snr", "200", cwd=ws, cache=cache)
    assert strict.returncode == 5 and strict.stderr.count("min-snr") == 3
    # a model whose data is missing fails alone, naming its manifest; the other model still builds
    (ws / "models/person/hwquant.toml").write_text('model = "model.keras"\ndata = "nothere.npz"\n[targets.cpu]\n')
    shutil.rmtree(ws / "dist")
    bad = _hwquant("build", "--jobs", "2", "--out", "dist", cwd=ws, cache=cache)
    assert bad.returncode == 2, bad.stderr
    assert "models/person/hwquant.toml:" in bad.stderr and "Traceback" not in bad.stderr
    assert sorted(p.parent.name for p in (ws / "dist").rglob("report.json")) == ["cpu", "mcu"]


@pytest.mark.parametrize(
    "files, args, expect",
    [
        ({"a/cpu/report.json": "[]"}, ["--max-size", "1"], "expected a JSON object"),
        (
            {"a/cpu/report.json": '{"target": "cpu", "size_bytes": {"artifact": "big"}}'},
            ["--max-size", "1"],
            "size_bytes.artifact: expected an integer",
        ),
        (
            {
                "a/cpu/report.json": '{"target": "cpu", "job": "m.cpu"}',
                "b/cpu/report.json": '{"target": "cpu", "job": "m.cpu"}',
            },
            ["--max-size", "1"],
            "both reports of job m.cpu",
        ),
        (
            {"plan.json": '{"jobs": [{"name": "x"}]}'},
            ["--plan", "{root}/plan.json"],
            "not a plan written by `hwquant plan",
        ),
        ({}, ["--max-size", "1"], "holds no report to check"),
    ],
)
def test_check_over_a_tree_refuses_bad_input_with_exit_2(tmp_path, files, args, expect):
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    r = CliRunner().invoke(main, ["check", str(tmp_path), *[a.format(root=tmp_path) for a in args]])
    assert r.exit_code == 2, r.output
    assert expect in " ".join(r.output.split()) and "Traceback" not in r.output


def _children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found |= {int(c) for c in task.read_text().split()}
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads worker processes from /proc (Linux)")
def test_sigterm_stops_the_workers_and_names_what_was_written(keras_model, tmp_path):
    """A CI cancel (SIGTERM to hwquant only) mid --jobs 2: the workers stop too, nothing temporary is left,
    exit 130, and the message names exactly the target folders that exist."""
    import signal

    ws = _workspace(
        tmp_path / "ws",
        keras_model,
        dict.fromkeys(("a", "b", "c"), '[targets.cpu]\n[targets.mcu]\nrecipe = "int8-only"\n'),
    )
    env = {**os.environ, "HWQUANT_CACHE_DIR": str(tmp_path / "cache")}
    p = subprocess.Popen(
        [PY, "-m", "hwquant.cli", "build", "--jobs", "2", "--no-cache", "--out", "dist"],
        cwd=ws,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    workers: set[int] = set()
    for _ in range(600):  # until both workers run (after the parent's TensorFlow import)
        workers = {c for c in _children(p.pid) if "resource_tracker" not in Path(f"/proc/{c}/cmdline").read_text()}
        if len(workers) >= 2 or p.poll() is not None:
            break
        time.sleep(0.1)
    assert len(workers) >= 2, p.communicate()[1][-2000:]
    time.sleep(2.0)  # inside their builds
    p.send_signal(signal.SIGTERM)
    _out, err = p.communicate(timeout=120)
    assert p.returncode == 130, err[-2000:]
    for _ in range(100):
        if not any(_alive(w) for w in workers):
            break
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers)
    assert not [q for q in (ws / "dist").rglob("*") if q.name.startswith(".") and q.name != ".hwquant-build"]
    folders = sorted(str(q.parent.relative_to(ws)) for q in (ws / "dist").rglob("report.json"))
    assert "interrupted:" in err and "Traceback" not in err
    if folders:
        assert all(f in err for f in folders), (folders, err[-1500:])
    else:
        assert "no artifact was written" in err


def test_plan_build_check_plan_for_a_single_manifest(keras_model, tmp_path):
    """A plain `hwquant build` of one manifest records the job ids `hwquant plan` gives it, so the fan-out
    verdict `check DIR --plan` works without a workspace (it failed: the reports had no job id)."""
    d = tmp_path / "kws"
    d.mkdir()
    shutil.copy(keras_model, d / "model.keras")
    (d / "hwquant.toml").write_text('model = "model.keras"\ndata = "random:16"\nout = "dist"\n[targets.cpu]\n')
    plan = _hwquant("plan", "--json", cwd=d, cache=tmp_path / "cache")
    assert plan.returncode == 0, plan.stderr
    (tmp_path / "plan.json").write_text(plan.stdout)
    ids = [j["id"] for j in json.loads(plan.stdout)["jobs"]]
    built = _hwquant("build", "--no-cache", cwd=d, cache=tmp_path / "cache")
    assert built.returncode == 0, built.stderr
    report = json.loads((d / "dist" / "cpu" / "report.json").read_text())
    assert report["job"] == ids[0] == "kws.cpu"
    checked = _hwquant("check", "dist", "--plan", str(tmp_path / "plan.json"), cwd=d, cache=tmp_path / "cache")
    assert checked.returncode == 0, checked.stdout + checked.stderr
