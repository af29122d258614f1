"""Ownership of output folders (issue 20, item 1): hwquant replaces or deletes only folders it wrote.

Every published target folder carries the .hwquant-build marker; anything else at OUT/<table> (a
folder without it, a file, a symlink, a FIFO) is exit 2 and left byte for byte as it was. A
manifest's own `out` stays inside the manifest's folder; two jobs never write the same folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from hwquant.cli.main import main
from hwquant.common.errors import UsageError
from hwquant.config import outpath
from hwquant.pipeline.staging import staging


def _snapshot(root: Path) -> dict[str, object]:
    out: dict[str, object] = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = ("link", os.readlink(p))
        elif p.is_file():
            out[rel] = p.read_bytes()
        else:
            out[rel] = "dir" if p.is_dir() else "special"
    return out


def _publish(out: Path, target: str, content: bytes = b"m") -> Path:
    with staging(out, target) as tmp:
        (tmp / "model.tflite").write_bytes(content)
    return out / target


def test_every_published_folder_carries_the_marker_and_can_be_replaced(tmp_path):
    folder = _publish(tmp_path / "out", "cpu", b"one")
    meta = json.loads((folder / outpath.MARKER).read_text())
    assert meta["tool"] == "hwquant" and meta["version"] and "time" not in meta  # reproducible
    assert outpath.owner_problem(folder) is None
    _publish(tmp_path / "out", "cpu", b"two")
    assert (folder / "model.tflite").read_bytes() == b"two"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["cpu"]  # no .old-* or .tmp-* left


def _user_folder(p: Path) -> None:
    p.mkdir()
    (p / "model.keras").write_bytes(b"precious")
    (p / "notes.txt").write_text("unrelated")


def _fifo(p: Path) -> None:
    os.mkfifo(p)


def _symlink_to_hwquant_folder(p: Path) -> None:  # even a link to a folder hwquant wrote is not replaced
    real = _publish(p.parent / "elsewhere", "cpu")
    p.symlink_to(real)


def _forged_marker(p: Path) -> None:
    p.mkdir()
    (p / outpath.MARKER).write_text('{"tool": "not-hwquant"}')
    (p / "data.bin").write_bytes(b"x")


def _marker_link(p: Path) -> None:
    good = _publish(p.parent / "elsewhere2", "cpu")
    p.mkdir()
    (p / outpath.MARKER).symlink_to(good / outpath.MARKER)


@pytest.mark.parametrize(
    "make, why",
    [
        (_user_folder, "was not written by hwquant"),
        (lambda p: p.write_bytes(b"a file"), "a regular file"),
        (_fifo, "FIFO"),
        (_symlink_to_hwquant_folder, "is a symlink"),
        (_forged_marker, "not hwquant's marker"),
        (_marker_link, "not hwquant's marker"),
    ],
)
def test_anything_hwquant_did_not_write_is_refused_and_left_intact(tmp_path, make, why):
    out = tmp_path / "out"
    out.mkdir()
    make(out / "cpu")
    before = _snapshot(tmp_path)
    with pytest.raises(UsageError) as err:
        _publish(out, "cpu")
    assert err.value.exit_code == 2
    assert str(out / "cpu") in err.value.message and why in err.value.message
    assert "choose another --out" in err.value.hint
    assert _snapshot(tmp_path) == before  # nothing renamed, deleted or left behind
    with pytest.raises(UsageError, match=why):  # the check build_many runs before any work
        outpath.check_targets(out, ["cpu"], tmp_path / "m.keras")


def test_a_folder_that_appears_during_the_build_is_not_replaced(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(UsageError, match="was not written by hwquant"), staging(out, "mcu") as tmp:
        (tmp / "model.tflite").write_bytes(b"m")
        _user_folder(out / "mcu")  # e.g. another tool, or a user, between the check and the move
    assert sorted(p.name for p in out.iterdir()) == ["mcu"]
    assert sorted(p.name for p in (out / "mcu").iterdir()) == ["model.keras", "notes.txt"]


def test_the_current_folder_is_never_a_target_folder(tmp_path, monkeypatch):
    work = tmp_path / "out" / "cpu"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    assert "current folder" in outpath.target_problem(tmp_path / "out", ["cpu"], [])


# -- a manifest's out stays inside the manifest's tree ----------------------------------------------------
def _repo(tmp_path: Path) -> tuple[Path, Path]:
    kws, vww = tmp_path / "repo" / "models" / "kws", tmp_path / "repo" / "models" / "vww"
    kws.mkdir(parents=True)
    _user_folder(vww)
    (tmp_path / "repo" / "weights").mkdir()
    (tmp_path / "repo" / "weights" / "m.keras").write_bytes(b"")  # so `..` does not hold the model
    return kws, vww


@pytest.mark.parametrize("out", ["..", "../vww", "build/../..", "/tmp/hwquant-elsewhere", "link"])
def test_manifest_out_may_not_leave_its_folder(tmp_path, out):
    kws, _vww = _repo(tmp_path)
    (kws / "link").symlink_to(kws.parent)  # inside by name, outside once resolved
    p = kws / "hwquant.toml"
    p.write_text(f'model = "../../weights/m.keras"\nout = "{out}"\n[targets.vww]\nbackend = "cpu"\n')
    before = _snapshot(tmp_path)
    r = CliRunner().invoke(main, ["build", "--manifest", str(p), "--no-cache"])
    assert r.exit_code == 2, r.output
    assert f"{p}:2: out:" in r.output and "leaves the manifest's folder" in r.output, r.output
    assert "Traceback" not in r.output
    assert _snapshot(tmp_path) == before  # the sibling repo/models/vww is intact


def test_out_on_the_command_line_may_point_outside_but_never_over_a_foreign_folder(tmp_path):
    kws, vww = _repo(tmp_path)
    p = kws / "hwquant.toml"
    p.write_text('model = "../../weights/m.keras"\n[targets.vww]\nbackend = "cpu"\n')
    before = _snapshot(tmp_path)
    r = CliRunner().invoke(main, ["build", "--manifest", str(p), "--no-cache", "--out", str(kws.parent)])
    assert r.exit_code == 2, r.output
    assert "was not written by hwquant" in r.output and str(vww) in r.output, r.output
    assert _snapshot(tmp_path) == before


def test_manifest_out_inside_its_folder_is_fine(tmp_path):
    kws, _ = _repo(tmp_path)
    assert outpath.manifest_out_problem(kws / "build" / "x", kws) is None
    assert outpath.manifest_out_problem(kws / "build" / ".." / "..", kws) is not None


# -- one folder, one job ----------------------------------------------------------------------------------
def _job(id_: str, out: Path) -> SimpleNamespace:
    return SimpleNamespace(id=id_, out=out)


def test_two_jobs_writing_one_folder_are_refused(tmp_path):
    (tmp_path / "alias").symlink_to(tmp_path / "dist", target_is_directory=True)
    ok = [_job("a:cpu", tmp_path / "dist" / "a" / "cpu"), _job("b:cpu", tmp_path / "dist" / "b" / "cpu")]
    outpath.check_unique_destinations(ok)
    for second, what in [
        (tmp_path / "dist" / "a" / "cpu", "both write"),
        (tmp_path / "alias" / "a" / "cpu", "both write"),  # the same folder through a symlink
        (tmp_path / "dist" / "a" / "cpu" / "mcu", "nested"),
        (tmp_path / "dist" / "a", "nested"),
    ]:
        with pytest.raises(UsageError, match=what) as err:
            outpath.check_unique_destinations([*ok, _job("c:mcu", second)])
        assert err.value.exit_code == 2 and "'a:cpu'" in err.value.message and "'c:mcu'" in err.value.message


def test_nested_workspace_models_are_refused_with_real_jobs(tmp_path):
    """ws/a writes ws/a/build/cpu; ws/a/build/cpu/x (a model whose folder lies in a's output) writes inside it:
    a's next build would replace b's output. Both manifests are valid alone; together they are refused."""
    from hwquant.config import workspace

    a, b = tmp_path / "ws" / "a", tmp_path / "ws" / "a" / "build" / "cpu" / "x"
    b.mkdir(parents=True)
    for folder in (a, b):
        (folder / "m.keras").write_bytes(b"")
        (folder / "hwquant.toml").write_text('model = "m.keras"\nout = "build"\n[targets.cpu]\n')
    jobs = workspace.jobs(workspace.load([a / "hwquant.toml", b / "hwquant.toml"]))
    assert {str(j.out.relative_to(tmp_path)) for j in jobs} == {"ws/a/build/cpu", "ws/a/build/cpu/x/build/cpu"}
    with pytest.raises(UsageError, match="nested") as err:
        outpath.check_unique_destinations(jobs)
    assert err.value.exit_code == 2
