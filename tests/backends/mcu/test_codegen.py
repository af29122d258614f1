"""Generated code is safe by construction (issue 20 item 6): hostile names never leave their comment or string.

A model file name, a symbol or a tensor name holding newlines, ``*/``, ``#error``, quotes, backslashes,
trigraphs or any unicode goes through the real generators (C array, model_settings.h, the CMake and
Arduino projects); the model files are compiled with the host compiler (``-fsyntax-only -Werror``: they
need nothing from TFLM), and every generated file is lexed to check the injected token appears only inside
a comment, a string literal or a Markdown code span, with the file's line count unchanged.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwquant.common.errors import UsageError
from hwquant.device.tflite_model import TfliteModel
from hwquant_backends._tflm import settings as tflm_settings
from hwquant_backends._tflm.carray import check_symbol, symbol_for, write_carray
from hwquant_backends._tflm.codegen import (
    c_comment,
    c_identifier,
    c_string,
    cmake_comment,
    cmake_string,
    markdown_code,
    markdown_text,
)
from hwquant_backends._tflm.project import ProjectInputs, write_project
from tests.helpers import opgen

MARK = "INJECTED"
FRAGMENTS = [
    f"\n#error {MARK}\n",
    f"\r\n#define {MARK} 1\r\n",
    f"*/ #error {MARK} /*",
    f'"; #error {MARK}',
    f"\\\n#error {MARK}",
    f"??/\n#error {MARK}",
    "\\",
    "\u2028\u0085\x0b\x0c\x00",
    "\udcff",  # a file name byte that is not UTF-8 (surrogateescape)
    f"`\n# {MARK}\n`",
    f"${{{MARK}}};@{MARK}@",
    "%s%n",
    "é漢😀",
]
hostile = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8)), min_size=1, max_size=5).map("".join)
symbols = st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True).filter(lambda s: "__" not in s)
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _cxx() -> str:
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        pytest.skip("no host C++ compiler (g++) on PATH")
    return cxx


@pytest.fixture(scope="module")
def add_model() -> TfliteModel:
    """A one-op int8 model built as a flatbuffer (milliseconds, no converter)."""
    return TfliteModel(opgen.model("ADD", "int8"), "add")


# -- a small C/C++ lexer: what is left outside comments and string/char literals ------------------
def c_code_outside_literals(text: str) -> str:
    """``text`` after line splicing with comments, string and character literals blanked out."""
    text = re.sub(r"\\[ \t]*\r?\n", "", text)  # phase 2 (GCC also splices across trailing blanks)
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            assert j >= 0, "unterminated block comment"
            out.append(" ")
            i = j + 2
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                assert text[j] != "\n", f"newline inside a literal: {text[i : j + 1]!r}"
                j += 2 if text[j] == "\\" else 1
            assert j < n, "unterminated literal"
            out.append(c + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def directives(code: str) -> list[str]:
    """The preprocessor lines, the include guard (named after the symbol) as GUARD."""
    lines = [line.strip() for line in code.splitlines() if line.strip().startswith("#")]
    return [re.sub(r"HWQUANT_\w+_MODEL_DATA_H_", "GUARD", line) for line in lines]


def _write(model: TfliteModel, out: Path, source: str, symbol: str, tensor_names: list[str], kind: str) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    names, files = write_carray(out, model.content, symbol, source)
    ins, outs = tflm_settings.io_tensors(model)
    it = iter(tensor_names * 3)
    ins = [dataclasses.replace(t, name=next(it)) for t in ins]
    outs = [dataclasses.replace(t, name=next(it)) for t in outs]
    (out / "model_settings.h").write_text(
        tflm_settings.render_io(ins, outs, "0" * 64, source, 1024, 1088), encoding="ascii"
    )
    files.append("model_settings.h")
    x = [np.zeros(t.shape, t.dtype) for t in ins]
    y = [np.zeros(t.shape, t.dtype) for t in outs]
    p = ProjectInputs(symbol, names, model, "0" * 64, source, ins, outs, x, y, 1024, 1088, source)
    return files + write_project(kind, out, p)


def _compile_model_files(folder: Path) -> None:
    tu = folder / "all_model_files.cc"
    tu.write_text('#include "model_data.h"\n#include "model_settings.h"\n')
    r = subprocess.run(
        [
            _cxx(),
            "-std=c++17",
            "-fsyntax-only",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-I",
            str(folder),
            str(tu),
            str(folder / "model_data.cc"),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    tu.unlink()


def _assert_contained(folder: Path, files: list[str], baseline: Path, symbol: str) -> None:
    for rel in files:
        raw = (folder / rel).read_bytes()
        text = raw.decode("utf-8")
        base = (
            baseline
            / rel.replace(f"project/{symbol}/{symbol}.", "project/base/base.").replace(
                f"project/{symbol}/", "project/base/"
            )
        ).read_text()
        assert text.count("\n") == base.count("\n"), f"{rel}: a user string added or removed a line"
        assert not set(text) & set("\r\u2028\u0085\x0b\x0c\x00"), rel
        if rel.endswith((".h", ".cc", ".ino")):
            assert raw.isascii(), f"{rel}: generated C/C++ is pure ASCII"
            code = c_code_outside_literals(text)
            assert MARK not in code, f"{rel}: {MARK} outside a comment or string"
            assert directives(code) == directives(c_code_outside_literals(base)), rel
        elif rel.endswith("CMakeLists.txt"):
            for line in text.splitlines():
                if MARK in line:
                    assert line.startswith("# Model: "), f"{rel}: {line!r}"
        elif rel.endswith(".md"):
            for line in text.splitlines():
                outside = re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", line)
                assert MARK not in outside, f"{rel}: {line!r}"


@pytest.fixture(scope="module")
def baseline(add_model, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("baseline")
    for kind in ("cmake", "arduino"):
        _write(add_model, root / kind, "base.tflite", "base", ["in", "out"], kind)
    return root


@SETTINGS
@given(
    source=hostile,
    symbol=symbols,
    tensors=st.lists(hostile, min_size=2, max_size=3),
    kind=st.sampled_from(["cmake", "arduino"]),
)
def test_hostile_names_stay_inside_comments_and_strings(
    add_model, baseline, tmp_path_factory, source, symbol, tensors, kind
):
    out = tmp_path_factory.mktemp("gen")
    files = _write(add_model, out, source, symbol, tensors, kind)
    _compile_model_files(out)
    _assert_contained(out, files, baseline / kind, symbol)


def test_a_model_named_with_a_newline_and_error_compiles(add_model, tmp_path):
    """The issue's own example: the derived symbol is an identifier, the name stays in the comments."""
    model_path = tmp_path / "evil\n#error boom\n.tflite"
    symbol = symbol_for(model_path)
    assert symbol == c_identifier(symbol)
    files = _write(add_model, tmp_path / "out", model_path.name, symbol, ["a\n#error x", "b"], "cmake")
    _compile_model_files(tmp_path / "out")
    assert "#error boom" not in c_code_outside_literals((tmp_path / "out" / "model_data.h").read_text())
    assert "project/main.cc" in files


# -- the escaping functions one by one -------------------------------------------------------------
@pytest.mark.parametrize("bad", ["", "1abc", "a-b", "a\nb", "int", "main", "_Bool", "__x", "_Upper", "é", "a" * 256])
def test_c_identifier_refuses_naming_value_and_rule(bad):
    with pytest.raises(UsageError) as e:
        c_identifier(bad, "--mcu-symbol")
    assert e.value.exit_code == 2
    assert repr(bad) in e.value.message and "--mcu-symbol" in e.value.message
    assert "letters, digits" in (e.value.hint or "")
    with pytest.raises(UsageError):
        check_symbol(bad)


@given(symbols)
def test_c_identifier_keeps_valid_names(name):
    if name not in ("int", "do", "if", "for", "and", "or", "not", "xor", "asm", "new", "try", "main"):
        assert c_identifier(name) == name


@given(hostile)
def test_derived_symbols_are_always_valid_identifiers(name):
    symbol = symbol_for(Path("/models") / name.replace("/", "_").replace("\x00", "_"))
    assert c_identifier(symbol) == symbol and len(symbol) <= 63


@given(hostile)
def test_c_comment_is_one_safe_line(text):
    s = c_comment(text)
    assert all(0x20 <= ord(c) < 0x7F for c in s)
    assert "*/" not in s and "/*" not in s and "??" not in s
    assert not s.rstrip().endswith("\\")


@given(st.lists(hostile, min_size=1, max_size=10))
@settings(max_examples=5, deadline=None)
def test_c_string_round_trips_through_the_compiler(texts):
    """Each literal, compiled and printed, gives back the text's UTF-8 bytes."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "s.cc"
        lits = ",\n".join(f'"{c_string(t)}"' for t in texts)
        sizes = ", ".join(f'sizeof("{c_string(t)}") - 1' for t in texts)
        src.write_text(
            "#include <cstdio>\nstatic const char* s[] = {" + lits + "};\n"
            f"static const unsigned long n[] = {{{sizes}}};\n"
            "int main() { for (unsigned i = 0; i < sizeof(n) / sizeof(n[0]); ++i) {\n"
            '  for (unsigned long k = 0; k < n[i]; ++k) std::printf("%02x", (unsigned char)s[i][k]);\n'
            '  std::printf("\\n"); } }\n',
            encoding="ascii",
        )
        exe = Path(d) / "s"
        r = subprocess.run([_cxx(), "-std=c++17", "-Wall", "-Werror", str(src), "-o", str(exe)], capture_output=True)
        assert r.returncode == 0, r.stderr
        got = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.splitlines()
    assert got == [t.encode("utf-8", "surrogatepass").hex() for t in texts]


@given(st.lists(hostile, min_size=1, max_size=10))
@settings(max_examples=3, deadline=None)
def test_cmake_string_is_literal_in_cmake(texts):
    """``file(APPEND ...)`` of each escaped string writes the text back (control characters as U+FFFD)."""
    cmake = shutil.which("cmake")
    if cmake is None:
        pytest.skip("no cmake on PATH")
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "out.txt"
        script = Path(d) / "s.cmake"
        lines = [f'# {cmake_comment(t)}\nfile(APPEND "{out}" "{cmake_string(t)}<END>")' for t in texts]
        script.write_text(f'set({MARK} "no")\n' + "\n".join(lines) + "\n", encoding="utf-8")
        r = subprocess.run([cmake, "-P", str(script)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        got = out.read_bytes().decode("utf-8").split("<END>")[:-1]

    def expect(t: str) -> str:
        return "".join(
            c if c in "\n\r\t" or (c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF) else "\ufffd" for c in t
        )

    assert got == [expect(t) for t in texts]


@given(hostile)
def test_markdown_code_is_one_complete_span(text):
    s = markdown_code(text)
    assert "\n" not in s and "\r" not in s
    fence = re.match(r"`+", s).group(0)
    assert s.endswith(fence) and fence not in s[len(fence) : -len(fence)]
    assert "\n" not in markdown_text(text) and "`" not in markdown_text(text).replace("\\`", "")


# -- the Ethos-U parts and CMake itself ------------------------------------------------------------
@given(system=hostile, mode=hostile, version=hostile)
@settings(max_examples=25, deadline=None)
def test_ethosu_parts_keep_ini_names_in_code_spans(system, mode, version):
    """System config and memory mode come from a user's Vela .ini (section names may hold anything)."""
    from hwquant_backends.ethosu.config import VelaConfig
    from hwquant_backends.ethosu.project_parts import npu_parts

    parts = npu_parts(VelaConfig("ethos-u55-128", system, mode, ("Arm/vela.ini",)), version, ["ADD"], {})
    for line in parts.readme.splitlines():
        assert MARK not in re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", line), line
    assert MARK not in parts.cmake_sources + parts.cmake_link
    assert '"ethos-u55-128"' in parts.cmake_sources
    assert "\n" not in c_comment(parts.resolver_note)


def test_cmake_configures_a_project_for_a_hostile_model_name(add_model, tmp_path):
    """CMake reads the generated CMakeLists.txt with the name only in its comment (stand-in TFLM tree)."""
    cmake = shutil.which("cmake")
    if cmake is None:
        pytest.skip("no cmake on PATH")
    from tests.backends.mcu.test_mcu_cmake import fake_tflm

    name = f'x"\n#error {MARK}\nmessage(FATAL_ERROR "{MARK}") ${{{MARK}}} \\'
    _write(add_model, tmp_path / "out", name, "evil", ["a", "b"], "cmake")
    tflm = fake_tflm(tmp_path / "tflm", "25.9.23", patched=True)
    r = subprocess.run(
        [cmake, "-S", str(tmp_path / "out" / "project"), "-B", str(tmp_path / "build"), f"-DTFLM_DIR={tflm}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert MARK not in r.stdout + r.stderr


@pytest.mark.slow  # a real conversion and TFLM arena measurement: about 6 s with the model fixture
def test_build_of_a_model_named_with_a_newline_and_error_compiles(keras_model, tmp_path):
    """The issue's acceptance case end to end: `hwquant build` of such a file, then -fsyntax-only."""
    from click.testing import CliRunner

    from hwquant.cli.main import main

    evil = tmp_path / f'k*"\n#error {MARK}\n??\\ é.keras'
    shutil.copyfile(keras_model, evil)
    out = tmp_path / "out"
    r = CliRunner().invoke(
        main,
        ["build", str(evil), "-t", "mcu", "--data", "random:8", "-o", str(out), "--no-cache", "--mcu-project", "cmake"],
    )
    assert r.exit_code == 0, r.output
    folder = next(p.parent for p in out.rglob("model_data.cc"))
    _compile_model_files(folder)
    for rel in ("model_data.h", "model_data.cc", "model_settings.h", "project/main.cc"):
        code = c_code_outside_literals((folder / rel).read_text(encoding="ascii"))
        assert not re.search(r"#\s*error", code), rel  # (the derived symbol, k_error_injected, is no injection)
