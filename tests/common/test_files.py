"""hwquant.common.files: every user-supplied file is checked by type and size before it is opened
(issue 20, item 3). Property tests over file kinds: regular files of any size around the limit,
folders, FIFOs, /dev/zero, sockets, dangling links and symlink chains to each of them.

A FIFO must never be opened (it would block): every test that makes one runs the check in a thread
with a timeout, so a regression fails instead of hanging the suite.
"""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwquant.common import files
from hwquant.common.errors import InputError
from tests.helpers.threads import within

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _within(fn, seconds: float = 5.0):
    return within(fn, seconds, "the check (it opened a FIFO?)")


_SOCKET_DIRS: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def _remove_socket_dirs():
    yield
    import shutil

    for d in _SOCKET_DIRS:
        shutil.rmtree(d, ignore_errors=True)


def _make(kind: str, where: Path, size: int = 0) -> Path:
    p = where / f"x-{kind}"
    if kind == "regular":
        p.write_bytes(b"\0" * size)
    elif kind == "dir":
        p.mkdir()
    elif kind == "fifo":
        os.mkfifo(p)
    elif kind == "socket":
        short = tempfile.mkdtemp(prefix="hq-sock-", dir="/tmp")  # AF_UNIX paths are short
        _SOCKET_DIRS.append(short)
        p = Path(short) / "s"
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(p))
        s.close()
    elif kind == "devzero":
        return Path("/dev/zero")
    elif kind == "missing":
        pass
    return p


def _chain(target: Path, where: Path, length: int) -> Path:
    p = target
    for i in range(length):
        link = where / f"link{i}"
        link.symlink_to(p)
        p = link
    return p


KINDS = ["regular", "dir", "fifo", "socket", "devzero", "missing"]


@given(kind=st.sampled_from(KINDS), links=st.integers(0, 4), folder_ok=st.booleans(), size=st.integers(0, 64))
@SETTINGS
def test_only_regular_files_or_asked_for_folders_pass(tmp_path_factory, kind, links, folder_ok, size):
    where = tmp_path_factory.mktemp("k")
    path = _chain(_make(kind, where, size), where, links)
    ok = kind == "regular" or (kind == "dir" and folder_ok)
    if ok:
        assert _within(lambda: files.checked(path, "data", folder_ok=folder_ok, max_bytes=64)) == path
        return
    with pytest.raises(InputError) as err:
        _within(lambda: files.checked(path, "data", folder_ok=folder_ok, max_bytes=64))
    assert err.value.exit_code == 2
    assert str(path) in err.value.message
    expected = {
        "dir": "is a folder",
        "fifo": "FIFO",
        "socket": "socket",
        "devzero": "character device",
        "missing": "no such file",
    }[kind]
    assert expected in err.value.message
    if links and kind in ("fifo", "socket", "devzero"):
        assert "through a symlink" in err.value.message


@given(size=st.integers(0, 4096), cap=st.integers(1, 4096))
@SETTINGS
def test_size_limit_is_exact(tmp_path_factory, size, cap):
    p = tmp_path_factory.mktemp("s") / "f.npz"
    p.write_bytes(b"a" * size)
    if size <= cap:
        assert files.read_bytes(p, "data", max_bytes=cap) == b"a" * size
    else:
        with pytest.raises(InputError, match=r"over the .* limit") as err:
            files.read_bytes(p, "data", max_bytes=cap)
        assert "HWQUANT_MAX_DATA_BYTES" in (err.value.hint or "")


def test_symlink_loop_and_long_names_are_input_errors(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.symlink_to(b)
    b.symlink_to(a)
    with pytest.raises(InputError, match="symbolic links"):
        files.checked(a, "model")
    with pytest.raises(InputError, match="too long"):
        files.checked(tmp_path / ("n" * 300), "model")
    with pytest.raises(InputError, match="NUL"):
        files.checked("a\0b", "model")


def test_read_text_of_a_fifo_returns_at_once(tmp_path):
    fifo = tmp_path / "hwquant.toml"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="FIFO"):
        _within(lambda: files.read_text(fifo, "manifest"))


def test_env_overrides_the_limit(tmp_path, monkeypatch):
    p = tmp_path / "m.keras"
    p.write_bytes(b"x" * 100)
    monkeypatch.setenv("HWQUANT_MAX_MODEL_BYTES", "99")
    with pytest.raises(InputError, match="over the 99 bytes limit"):
        files.checked(p, "model")
    monkeypatch.setenv("HWQUANT_MAX_MODEL_BYTES", "100")
    assert files.checked(p, "model") == p
    monkeypatch.setenv("HWQUANT_MAX_MODEL_BYTES", "-3")
    with pytest.raises(Exception, match="not a positive integer") as err:
        files.checked(p, "model")
    assert err.value.exit_code == 2


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable_file(tmp_path):
    p = tmp_path / "d.npy"
    p.write_bytes(b"x")
    p.chmod(0)
    with pytest.raises(InputError, match="permission denied"):
        files.checked(p, "data")


def test_a_tree_with_a_fifo_inside_is_refused(tmp_path):
    sm = tmp_path / "sm"
    (sm / "variables").mkdir(parents=True)
    (sm / "saved_model.pb").write_bytes(b"x")
    assert files.checked_tree(sm, "model") == sm
    os.mkfifo(sm / "variables" / "variables.index")
    with pytest.raises(InputError, match="FIFO") as err:
        _within(lambda: files.checked_tree(sm, "model"))
    assert "variables.index" in err.value.message


def test_hostile_names_are_shown_on_one_bounded_line(tmp_path):
    with pytest.raises(InputError) as err:
        files.checked(tmp_path / "a\n#error x", "model")
    assert "\n" not in err.value.message
    assert "\\n#error" in err.value.message
