"""Boards files (--mcu-boards-file) are type-checked (issue 11, item 4): every bad value is exit 2
naming the file and the key, never a traceback and never a silently wrong budget."""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwquant.common.errors import HwquantError, InputError
from hwquant_backends.mcu import boards
from tests.helpers.tomlgen import toml_value as _toml_value


@pytest.mark.parametrize(
    "line, key",
    [
        ('flash_kib = "2"', "flash_kib"),  # a quoted number: was "2" * 1024, a string budget
        ('ram_kib = "64"', "ram_kib"),
        ("ram_kib = nan", "ram_kib"),
        ("flash_kib = inf", "flash_kib"),
        ("flash_kib = -inf", "flash_kib"),
        ("ram_kib = -4", "ram_kib"),
        ("flash_kib = 0", "flash_kib"),
        ('ram_kib = "lots"', "ram_kib"),
        ("ram_kib = true", "ram_kib"),
        ("ram_kib = [4]", "ram_kib"),
        ("flash_allowance_kib = -1", "flash_allowance_kib"),
        ('ram_allowance_kib = "8"', "ram_allowance_kib"),
        ("ram_allowance_kib = nan", "ram_allowance_kib"),
        ("description = 3", "description"),
        ("source = [1]", "source"),
        ('fpu = "yes"', "fpu"),
        ("fpu = 1", "fpu"),  # a single-precision FPU is true or false, nothing else
    ],
)
def test_bad_values_name_file_and_key(tmp_path, line, key):
    f = tmp_path / "boards.toml"
    base = {"ram_kib": "ram_kib = 64", "flash_kib": "flash_kib = 256"}
    base[line.split(" =")[0]] = line
    f.write_text("[boards.b]\n" + "\n".join(base.values()) + "\n")
    with pytest.raises(InputError) as exc:
        boards.get_board("b", f)
    assert exc.value.exit_code == 2 and str(f) in exc.value.message and f"boards.b.{key}" in exc.value.message, (
        exc.value.message
    )


def test_a_table_that_is_not_a_table_is_bad_input(tmp_path):
    f = tmp_path / "boards.toml"
    f.write_text("boards = { b = 3 }\n")
    with pytest.raises(InputError, match=r"boards\.b must be a table"):
        boards.load_boards(f)


def test_non_utf8_and_a_folder_are_bad_input(tmp_path):
    f = tmp_path / "boards.toml"
    f.write_bytes(b'[boards.b]\nram_kib = 64\ndescription = "\xff\xfe"\n')
    with pytest.raises(InputError, match="not UTF-8"):
        boards.load_boards(f)
    with pytest.raises(InputError, match="is a folder"):
        boards.load_boards(tmp_path)
    with pytest.raises(InputError, match="no such file"):
        boards.load_boards(tmp_path / "missing.toml")


def test_floats_and_ints_are_kib(tmp_path):
    f = tmp_path / "boards.toml"
    f.write_text("[boards.b]\nram_kib = 0.5\nflash_kib = 2\nflash_allowance_kib = 0\n")
    b = boards.get_board("b", f)
    assert (b.ram, b.flash, b.flash_allowance, b.ram_allowance) == (512, 2048, 0, boards.DEFAULT_RAM_ALLOWANCE)
    assert b.fpu is False  # not stated: no FPU, so float layers stay refused


def test_fpu_fact_of_builtin_and_user_boards(tmp_path):
    fpu = {n: b.fpu for n, b in boards.BUILTIN_BOARDS.items()}
    assert fpu == {"cortex-m4": True, "esp32-s3": True, "nrf52840": True, "rp2040": False}
    assert all("fpu:" in b.source or "floating-point unit" in b.source for b in boards.BUILTIN_BOARDS.values())
    f = tmp_path / "boards.toml"
    f.write_text("[boards.h7]\nram_kib = 512\nflash_kib = 2048\nfpu = true\n")
    assert boards.get_board("h7", f).fpu is True


# -- property: any boards file gives a board with sane numbers or a clean exit 2 ------------------------
_scalar = st.one_of(
    st.integers(-(10**6), 10**9),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(string.printable, max_size=6),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
)
_keys = st.sampled_from(
    ["ram_kib", "flash_kib", "flash_allowance_kib", "ram_allowance_kib", "description", "source", "fpu", "colour"]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    tables=st.dictionaries(st.sampled_from(["b", "c"]), st.dictionaries(_keys, _scalar, max_size=6), max_size=2),
    raw=st.one_of(st.none(), st.binary(max_size=40)),
)
def test_property_any_boards_file_is_a_sane_board_or_exit_2(tmp_path, tables, raw):
    f = tmp_path / "boards.toml"
    if raw is not None:
        f.write_bytes(raw)
    else:
        f.write_text(
            "".join(
                f"[boards.{n}]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in t.items())
                for n, t in tables.items()
            )
        )
    try:
        loaded = boards.load_boards(f)
    except HwquantError as exc:
        assert exc.exit_code == 2 and str(f) in exc.message
        return
    for b in loaded.values():
        for v in (b.ram, b.flash, b.flash_allowance, b.ram_allowance):
            assert isinstance(v, int) and not isinstance(v, bool) and v >= 0
        assert b.ram > 0 and b.flash > 0 and isinstance(b.description, str) and isinstance(b.source, str)
        assert isinstance(b.fpu, bool)
        try:
            boards.check_budget(1000, 1000, b)
        except HwquantError as exc:
            assert exc.exit_code == 3
