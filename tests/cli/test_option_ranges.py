"""Every number a backend option or a boards file gives is range-checked where it is read, and every file a
backend reads for the user (Vela's .ini, a boards TOML) is checked by type and size first (issue 20 item 5)."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from hwquant import InputError, UsageError
from hwquant.cli.main import main
from hwquant.plugin.options import BackendOption, parse
from hwquant_backends.mcu import boards

NUM = BackendOption("n", "a number", type=int, minimum=1, maximum=1000)
REAL = BackendOption("r", "a real", type=float)
ANY_INT = BackendOption("i", "any int", type=int)


@pytest.mark.parametrize(
    "option,value,words",
    [
        (NUM, 0, "at least 1"),
        (NUM, 1001, "at most 1,000"),
        (NUM, "99999999999999999999", "at most 1,000"),
        (REAL, float("nan"), "finite"),
        (REAL, "inf", "finite"),
        (REAL, "-inf", "finite"),
        (ANY_INT, 2**63, "too large"),
        (ANY_INT, -(2**70), "too large"),
    ],
)
def test_backend_option_numbers_are_range_checked(option, value, words):
    with pytest.raises(UsageError, match=words):
        parse("x", [option], {option.key: value})


def test_backend_option_numbers_in_range_pass():
    assert parse("x", [NUM, REAL, ANY_INT], {"n": 1000, "r": "2.5", "i": -(2**63)}) == {
        "n": 1000,
        "r": 2.5,
        "i": -(2**63),
    }


@pytest.mark.parametrize("value", ["1e308", "99999999999999999999999999", "-1", "nan", "inf", "0"])
def test_boards_file_figures_are_finite_and_bounded(tmp_path, value):
    f = tmp_path / "boards.toml"
    f.write_text(f"[boards.x]\nram_kib = {value}\nflash_kib = 100\n")
    with pytest.raises(InputError, match=r"boards\.x\.ram_kib"):
        boards.get_board("x", f)


def test_boards_file_fifo_is_refused(tmp_path):
    fifo = tmp_path / "boards.toml"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="FIFO"):
        boards.get_board("x", fifo)


@pytest.mark.parametrize(
    "flag,value,words",
    [
        ("--edgetpu-num-segments", "99999999999999999999", "at most 1,000"),
        ("--edgetpu-delegate-search-step", "0", "at least 1"),
        ("--edgetpu-compiler-timeout", "999999999999", "at most 604,800"),
        ("--ethos-u-arena-cache-size", "999999999999999999999999", "at most 4,294,967,295"),
    ],
)
def test_backend_flags_out_of_range_are_exit_2_before_loading(tmp_path, flag, value, words):
    target = flag.split("-")[2] if not flag.startswith("--ethos-u") else "ethos-u"
    bad = tmp_path / "m.keras"
    bad.write_bytes(b"not a model: the option is refused before the model is read")
    r = CliRunner().invoke(main, ["build", str(bad), "-t", target, "--data", "random:4", flag, value, "--no-cache"])
    assert r.exit_code == 2, r.output
    assert words in r.output and "Traceback" not in r.output


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_vela_config_is_checked_by_type_before_it_is_read(keras_model, tmp_path, kind):
    pytest.importorskip("ethosu.vela")
    ini = tmp_path / "vendor.ini"
    if kind == "fifo":
        os.mkfifo(ini)
    else:
        ini.symlink_to("/dev/zero")
    r = CliRunner().invoke(
        main,
        [
            "build",
            str(keras_model),
            "-t",
            "ethos-u",
            "--data",
            "random:4",
            "--ethos-u-vela-config",
            str(ini),
            "-o",
            str(tmp_path / "o"),
            "--no-cache",
        ],
    )
    assert r.exit_code == 2, r.output
    assert ("FIFO" if kind == "fifo" else "character device") in r.output and "Traceback" not in r.output
    assert not (tmp_path / "o" / "ethos-u").exists()
