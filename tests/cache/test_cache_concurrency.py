"""The shared cache under concurrent writers and readers in separate processes (as on CI runners
sharing a volume): a reader sees no entry or a complete, verified one, never a mix or a partial one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hwquant.cache.store import Cache, make_key

KEYS = [make_key({"job": i}) for i in range(12)]  # an entry's recorded inputs must hash to its key

WRITER = """
import sys, tempfile
from pathlib import Path
from hwquant.cache.store import Cache
cache, me = Cache(Path(sys.argv[1])), sys.argv[2]
keys = sys.argv[3].split(",")
for round in range(3):
    for job, key in enumerate(keys):
        with tempfile.TemporaryDirectory() as d:
            d = Path(d)
            (d / "sub").mkdir()
            for i in range(6):  # several files, so a half-copied entry would show
                (d / ("sub" if i % 2 else ".") / f"f{i}.bin").write_bytes((me + key).encode() * 4000)
            (d / "report.json").write_text('{"writer": "%s", "artifacts": ["f0.bin", "f2.bin", "f4.bin", "sub"]}' % me)
            cache.store(key, d, {"job": job})
"""

READER = """
import json, sys, tempfile
from pathlib import Path
from hwquant.cache.store import Cache
cache, keys = Cache(Path(sys.argv[1])), sys.argv[2].split(",")
hits = problems = 0
for _ in range(40):
    for key in keys:
        entry, why = cache.lookup(key)
        if why:
            problems += 1
        if entry is None:
            continue
        hits += 1
        files = Path(tempfile.mkdtemp())
        try:
            entry.copy_to(files)  # as a restore does: bytes hashed again as they are copied
        except Exception:
            problems += 1
            continue
        writer = json.loads((files / "report.json").read_text())["writer"]
        payloads = {p.read_bytes() for p in files.rglob("f*.bin")}
        if payloads != {(writer + key).encode() * 4000} or len(list(files.rglob("f*.bin"))) != 6:
            problems += 1
print(json.dumps({"hits": hits, "problems": problems}))
"""


@pytest.mark.slow
def test_concurrent_writers_and_readers_never_see_a_partial_entry(tmp_path):
    root = tmp_path / "cache"
    keys = ",".join(KEYS)
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(root), f"w{i}", keys]) for i in range(3)]
    readers = [
        subprocess.Popen([sys.executable, "-c", READER, str(root), keys], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for p in writers:
        assert p.wait(timeout=300) == 0
    results = [json.loads(p.communicate(timeout=300)[0]) for p in readers]
    assert all(r["problems"] == 0 for r in results), results
    cache = Cache(root)
    for key in KEYS:  # one complete entry per key, from one writer, verified
        entry, why = cache.lookup(key)
        assert entry is not None and why is None
    assert sorted(p.name for p in root.glob("*/*")) == sorted(KEYS)  # no temporary folder left behind


def test_a_killed_writers_leftover_is_never_an_entry(tmp_path):
    """A writer killed mid-copy leaves only its temporary folder: not a hit, and a later store publishes."""
    cache = Cache(tmp_path / "cache")
    key = KEYS[0]
    partial = cache.entry(key).parent / f".{key}.tmp-999-deadbeef"
    (partial / "files").mkdir(parents=True)
    (partial / "files" / "report.json").write_bytes(b"{}")
    assert cache.lookup(key) == (None, None) and not cache.holds(key)
    src = tmp_path / "src"
    src.mkdir()
    (src / "report.json").write_text('{"whole": true, "artifacts": []}')
    cache.store(key, src, {"job": 0})
    entry, why = cache.lookup(key)
    assert why is None and json.loads((entry.path / "files" / "report.json").read_text())["whole"] and cache.holds(key)


def test_a_published_entry_is_kept_when_another_writer_stores_the_same_key(tmp_path):
    cache = Cache(tmp_path / "cache")
    key = KEYS[1]
    for content in (b"first", b"second"):
        src = tmp_path / content.decode()
        src.mkdir()
        (src / "report.json").write_text(json.dumps({"content": content.decode(), "artifacts": []}))
        cache.store(key, src, {"job": 1})
    entry, _ = cache.lookup(key)
    assert json.loads((entry.path / "files" / "report.json").read_text())["content"] == "first"
    assert [p.name for p in Path(cache.entry(key)).parent.iterdir()] == [key]
