"""The ethos-u backend with the real Vela on tiny int8 models built here (and the digits example)."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ethosu.vela", reason="Vela (ethos-u-vela) is not installed: pip install 'hwquant[ethos-u]'")

from click.testing import CliRunner

from hwquant import BuildOptions, CheckRequest, TfliteModel, ToolchainError, UsageError
from hwquant.cache import store as cache_mod
from hwquant.cli import main
from hwquant.report.gates import Gates, check
from hwquant_backends._tflm.carray import write_carray
from hwquant_backends._tflm.project import resolver_ops
from hwquant_backends.ethosu import EthosUBackend, config, vela_run
from tests.helpers import ethosu_models


@pytest.fixture(scope="module")
def models():
    return {
        "conv": ethosu_models.conv_net(),
        "d2s": ethosu_models.depth_to_space_net(),
        "prod": ethosu_models.reduce_prod_net(),
    }


def options(**backend) -> CheckRequest:
    return CheckRequest(backend_options=backend)


def placements(report) -> dict[str, str]:
    return {v.op: v.placement for v in report.verdicts}


def test_every_op_on_the_npu(models):
    report = EthosUBackend().check(TfliteModel(models["conv"], "conv"), options())
    assert set(placements(report).values()) == {"target"}
    assert report.notes[0].startswith(f"Vela {vela_run.version()}: ")


def test_op_vela_leaves_on_the_cpu_with_its_reason(models):
    report = EthosUBackend().check(TfliteModel(models["d2s"], "d2s"), options())
    assert placements(report) == {"CONV_2D": "target", "DEPTH_TO_SPACE": "fallback"}
    d2s = next(v for v in report.verdicts if v.op == "DEPTH_TO_SPACE")
    assert d2s.reasons == ["Vela: Unsupported opType"]  # Vela's own words


def test_cpu_op_without_a_tflm_kernel_is_unsupported(models):
    report = EthosUBackend().check(TfliteModel(models["prod"], "prod"), options())
    prod = next(v for v in report.verdicts if v.op == "REDUCE_PROD")
    assert prod.placement == "unsupported" and any(r.startswith("TFLM:") for r in prod.reasons)
    assert "Vela: Unsupported opType" in prod.reasons


def test_int16x8_needs_every_op_on_the_npu(models):
    conv16 = ethosu_models.conv_net(int16=True)
    assert set(placements(EthosUBackend().check(TfliteModel(conv16, "c16"), options())).values()) == {"target"}


def test_u55_and_u85_estimates_differ(models, tmp_path):
    runs = {}
    for accel in ("ethos-u55-128", "ethos-u85-256"):
        cfg = config.resolve(accel, None, None, None, None, None)
        runs[accel] = vela_run.compile_model(models["conv"], tmp_path / accel, cfg).summary()
    u55, u85 = runs["ethos-u55-128"], runs["ethos-u85-256"]
    assert (u55["accelerator_configuration"], u85["accelerator_configuration"]) == ("Ethos_U55_128", "Ethos_U85_256")
    assert (u55["system_config"], u55["memory_mode"]) == ("Ethos_U55_High_End_Embedded", "Shared_Sram")
    assert (u85["system_config"], u85["memory_mode"]) == ("Ethos_U85_SYS_DRAM_Mid", "Dedicated_Sram_384KB")
    assert u55["cycles_total"] != u85["cycles_total"] and u55["inferences_per_second"] != u85["inferences_per_second"]


def test_vela_failure_is_exit_4_with_velas_words(models, tmp_path):
    ini = tmp_path / "vendor.ini"
    ini.write_text("[System_Config.Broken]\ncore_clock=500e6\naxi0_port=Sram\naxi1_port=Nowhere\n")
    cfg = config.resolve("ethos-u55-128", "Broken", "Shared_Sram", str(ini), None, None)
    with pytest.raises(ToolchainError) as exc:
        vela_run.compile_model(models["conv"], tmp_path / "out", cfg)
    assert exc.value.exit_code == 4 and "Vela failed" in exc.value.message and "Nowhere" in exc.value.message
    assert not (tmp_path / "out" / "model_vela.tflite").exists()


def test_bad_configuration_is_a_usage_error():
    with pytest.raises(UsageError) as exc:
        config.resolve("ethos-u55-128", "No_Such_System", None, None, None, None)
    assert "Ethos_U55_High_End_Embedded" in exc.value.hint
    with pytest.raises(UsageError):
        config.resolve("ethos-u55-128", None, None, None, None, "-5")


def test_resolver_registers_ethos_u_and_exactly_the_cpu_ops(models, tmp_path):
    cfg = config.resolve(None, None, None, None, None, None)
    compiled = vela_run.compile_model(models["d2s"], tmp_path, cfg).compiled()
    ops = resolver_ops(compiled)
    assert ops == [("ethos-u", "AddEthosU"), ("DEPTH_TO_SPACE", "AddDepthToSpace")]
    assert {op for op, _ in ops} == set(compiled.op_names())


def _arm_gxx() -> str | None:
    return shutil.which("arm-none-eabi-g++")


def test_c_array_round_trips_and_compiles_for_cortex_m(models, tmp_path):
    cfg = config.resolve(None, None, None, None, None, None)
    compiled = vela_run.compile_model(models["conv"], tmp_path / "vela", cfg).compiled()
    write_carray(tmp_path, compiled.content, "npu_model", "conv.keras", target="ethos-u")
    text = (tmp_path / "model_data.cc").read_text()
    body = text[text.index("{") + 1 : text.rindex("}")]
    assert bytes(int(h, 16) for h in re.findall(r"0x([0-9a-f]{2})", body)) == compiled.content
    assert "--target ethos-u" in text
    gxx = _arm_gxx()
    if gxx is None:
        pytest.skip("arm-none-eabi-g++ not installed (scripts/system-deps.sh installs gcc-arm-none-eabi)")
    for cpu in ("cortex-m55", "cortex-m4"):
        p = subprocess.run(
            [
                gxx,
                f"-mcpu={cpu}",
                "-mthumb",
                "-std=c++17",
                "-c",
                str(tmp_path / "model_data.cc"),
                "-o",
                str(tmp_path / "model_data.o"),
            ],
            capture_output=True,
            text=True,
        )
        if p.returncode == 0:
            break
    assert p.returncode == 0, p.stderr


def test_cache_key_holds_velas_version():
    opts = BuildOptions(model=Path(__file__), target="ethos-u", data="random:4")
    inputs = cache_mod.key_inputs(opts, EthosUBackend(), {})
    assert inputs["backend"]["vela"] == vela_run.version() is not None
    other = BuildOptions(
        model=Path(__file__), target="ethos-u", data="random:4", backend_options={"accelerator_config": "ethos-u85-256"}
    )
    assert cache_mod.make_key(cache_mod.key_inputs(other, EthosUBackend(), {})) != cache_mod.make_key(inputs)


def test_estimate_and_compiled_size_gates():
    report = {
        "target": "ethos-u",
        "size_bytes": {"artifact": 9000, "deployed": 11000},
        "ethos-u": {"tensor_arena": {"bytes": 4608}, "estimates": {"inferences_per_second": 500.0}},
    }
    assert check(report, Gates.of(min_est_fps=400, max_size=11000, max_arena=4608)) == []
    fails = check(report, Gates.of(min_est_fps=600, max_size=10000, max_arena=4000))
    assert sorted(f.split(":")[1].strip() for f in fails) == ["max-arena", "max-size", "min-est-fps"]
    assert any("estimated 500.0 inferences/s" in f for f in fails)
    assert check({"target": "cpu", "size_bytes": {"artifact": 1}}, Gates.of(min_est_fps=1)) == [
        "cpu: min-est-fps: the report has no estimated inferences/s (only ethos-u estimates)"
    ]


def test_targets_ops_prints_velas_constraint_text():
    r = CliRunner().invoke(main, ["targets", "ethos-u", "--ops"])
    assert r.exit_code == 0, r.output
    from ethosu import regor

    rule = regor.tflite_operator_constraints("EthosU55")["CONV_2D"][0]
    assert rule.split()[0] in r.output and "CONV_2D" in r.output and "Vela" in r.output


# ------------------------------------------------------------------------------ the digits example
def _vela_cli(model: Path, out: Path) -> dict:
    """An independent Vela run (the `vela` console script) with the documented defaults."""
    exe = Path(sys.executable).with_name("vela")
    argv = [
        str(exe) if exe.exists() else "vela",
        str(model),
        "--output-dir",
        str(out),
        "--accelerator-config",
        "ethos-u55-128",
        "--config",
        "Arm/vela.ini",
        "--system-config",
        "Ethos_U55_High_End_Embedded",
        "--memory-mode",
        "Shared_Sram",
    ]
    subprocess.run(argv, check=True, capture_output=True, text=True, cwd=out.parent)
    with open(next(out.glob("*_summary_*.csv")), newline="") as f:
        return next(csv.DictReader(f))


@pytest.fixture(scope="module")
def digits_build(digits_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("digits-ethosu")
    r = CliRunner().invoke(
        main,
        [
            "build",
            str(digits_dir / "model.keras"),
            "--target",
            "mcu,ethos-u",
            "--data",
            str(digits_dir / "calibration.npz"),
            "--out",
            str(out),
            "--no-cache",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    return out


@pytest.mark.slow
def test_digits_builds_for_ethos_u_like_vela_itself(digits_build, tmp_path):
    import json

    target = digits_build / "ethos-u"
    report = json.loads((target / "report.json").read_text())
    est = report["ethos-u"]["estimates"]
    independent = _vela_cli(target / "model.tflite", tmp_path / "vela")
    assert est["cycles_total"] == int(independent["cycles_total"]) > 0
    assert "not measurements" in est["source"]
    compiled = TfliteModel((target / "model_vela.tflite").read_bytes(), "vela")
    assert "ethos-u" in compiled.op_names()
    assert "resolver.AddEthosU()" in (target / "project" / "main.cc").read_text()
    assert report["ethos-u"]["resolver"]["calls"] == ["AddEthosU"]
    assert report["size_bytes"]["deployed"] == (target / "model_vela.tflite").stat().st_size
    for name in (
        "model.tflite",
        "model_vela.tflite",
        "model_per-layer.csv",
        "model_summary_Ethos_U55_High_End_Embedded.csv",
        "model_data.cc",
        "model_settings.h",
    ):
        assert (target / name).is_file(), name
    arena = report["ethos-u"]["tensor_arena"]
    mcu = json.loads((digits_build / "mcu" / "report.json").read_text())["mcu"]["tensor_arena"]
    assert arena["exact_bytes"] == arena["tensors_bytes"] + arena["tflm_structures_bytes"]
    assert arena["vela_scratch_bytes"] == round(est["sram_memory_used"] * 1024)  # Shared_Sram: Vela's SRAM figure
    assert 0 < arena["tflm_structures_bytes"] < mcu["exact_bytes"]  # part of what TFLM measured for the int8 model
    # one calibration for both targets: the int8 models are byte-identical
    assert (target / "model.tflite").read_bytes() == (digits_build / "mcu" / "model.tflite").read_bytes()


@pytest.mark.slow
def test_digits_builds_for_u85_and_refuses_without_data(digits_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative --out, as the quick start passes it (Vela runs in another cwd)
    r = CliRunner().invoke(
        main,
        [
            "build",
            str(digits_dir / "model.keras"),
            "--target",
            "ethos-u",
            "--ethos-u-accelerator-config",
            "ethos-u85-256",
            "--data",
            str(digits_dir / "calibration.npz"),
            "--out",
            "u85",
            "--no-cache",
            "--min-est-fps",
            "1000",
        ],
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "u85" / "ethos-u" / "model_summary_Ethos_U85_SYS_DRAM_Mid.csv").is_file()
    r = CliRunner().invoke(
        main,
        [
            "build",
            str(digits_dir / "model.keras"),
            "--target",
            "ethos-u",
            "--out",
            str(tmp_path / "nodata"),
            "--no-cache",
        ],
    )
    assert r.exit_code == 2 and "representative data" in r.output
    assert not (tmp_path / "nodata").exists()


def test_without_vela_targets_says_how_to_add_it_and_build_is_exit_4():
    code = (
        "import sys; sys.modules['ethosu'] = None\n"  # as if ethos-u-vela were not installed
        "from pathlib import Path\n"
        "from hwquant import BuildOptions, ToolchainError\n"
        "from hwquant_backends.ethosu import EthosUBackend\n"
        "b = EthosUBackend(); tc = b.toolchain(); print(tc.available, tc.detail)\n"
        "try:\n"
        "    b.vela_config({})\n"
        "except ToolchainError as e:\n"
        "    print('exit', e.exit_code, e.hint)\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "False missing: Vela" in p.stdout and "pip install 'hwquant[ethos-u]'" in p.stdout
    assert "exit 4 pip install 'hwquant[ethos-u]'" in p.stdout


def test_board_profile_sets_the_npu_and_its_system():
    from hwquant_backends.ethosu import boards

    cfg = config.resolve(None, None, None, None, None, None, board=boards.get_board("himax-we2"))
    assert (cfg.accelerator, cfg.system_config, cfg.memory_mode) == (
        "ethos-u55-64",
        "Ethos_U55_High_End_Embedded",
        "Shared_Sram",
    )
    explicit = config.resolve("ethos-u85-256", None, None, None, None, None, board=boards.get_board("himax-we2"))
    assert explicit.system_config == "Ethos_U85_SYS_DRAM_Mid"  # another family: the board's system does not apply
    with pytest.raises(UsageError):
        boards.get_board("no-such-board")


@pytest.mark.slow
def test_vela_failure_in_a_build_leaves_nothing(digits_dir, tmp_path):
    ini = tmp_path / "vendor.ini"
    ini.write_text("[System_Config.Broken]\ncore_clock=500e6\naxi0_port=Sram\naxi1_port=Nowhere\n")
    out = tmp_path / "out"
    r = CliRunner().invoke(
        main,
        [
            "build",
            str(digits_dir / "model.keras"),
            "--target",
            "ethos-u",
            "--ethos-u-vela-config",
            str(ini),
            "--ethos-u-system-config",
            "Broken",
            "--data",
            str(digits_dir / "calibration.npz"),
            "--out",
            str(out),
            "--no-cache",
        ],
    )
    assert r.exit_code == 4 and "Vela failed" in r.output and "Nowhere" in r.output
    assert not out.exists() or not any(out.iterdir())
