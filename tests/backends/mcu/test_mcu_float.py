"""mcu float layers (issue 12, item 4): only with --mcu-allow-float, and only on a board with an FPU.

The recipe choice is checked here without TensorFlow; the end-to-end search on the outlier model
(real TF, LiteRT and TFLM) is in test_search.py.
"""

from __future__ import annotations

import pytest

from hwquant.common.errors import IncompatibleError, UsageError
from hwquant.plugin.facts import BuildOptions, ModelFacts
from hwquant_backends.mcu import McuBackend

FACTS = ModelFacts("m.keras", "keras", "tf2-keras", (), 100, {"FULLY_CONNECTED": 2})


def _choose(tmp_path, **backend_options):
    opts = BuildOptions(
        model=tmp_path / "m.keras",
        target="mcu",
        data="calib.npz",
        recipe="int8-float-fallback",
        backend_options=backend_options,
    )
    return McuBackend().choose_recipe(FACTS, opts)


def test_float_layers_need_allow_float(tmp_path):
    with pytest.raises(UsageError) as exc:
        _choose(tmp_path, board="nrf52840")
    assert exc.value.exit_code == 2 and "--mcu-allow-float" in exc.value.message


@pytest.mark.parametrize("board", ["rp2040", "mine"])
def test_float_layers_are_refused_on_a_board_without_fpu_even_when_allowed(tmp_path, board):
    f = tmp_path / "boards.toml"
    f.write_text("[boards.mine]\nram_kib = 64\nflash_kib = 256\nfpu = false\n")
    with pytest.raises(IncompatibleError) as exc:
        _choose(tmp_path, allow_float=True, board=board, boards_file=str(f))
    assert exc.value.exit_code == 3 and f"board {board!r} has no single-precision FPU" in exc.value.message


@pytest.mark.parametrize(
    "board, why",
    [
        ("esp32-s3", "board 'esp32-s3' has a single-precision FPU"),
        ("cortex-m4", "board 'cortex-m4' has a single-precision FPU"),
        (None, "without --mcu-board, taken as the user's word"),
    ],
)
def test_float_layers_allowed_with_the_flag_on_an_fpu_board_or_without_a_board(tmp_path, board, why):
    recipe, reasons = _choose(tmp_path, allow_float=True, board=board)
    assert recipe.name == "int8-float-fallback" and recipe.float_fallback and recipe.io_dtype == "float32"
    assert any(why in r for r in reasons), reasons


def test_the_default_rule_stays_int8_only_with_allow_float(tmp_path):
    opts = BuildOptions(
        model=tmp_path / "m.keras",
        target="mcu",
        data="calib.npz",
        backend_options={"allow_float": True, "board": "nrf52840"},
    )
    recipe, _ = McuBackend().choose_recipe(FACTS, opts)
    assert recipe.name == "int8-only" and recipe.io_dtype == "int8"
