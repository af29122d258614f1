"""Which Ethos-U, which system, which memory mode: the Vela configuration a build passes explicitly.

Accelerator configurations are Vela's own ``--accelerator-config`` choices (read from its argument
parser, so a newer Vela's additions appear here). System configurations and memory modes are
the ``[System_Config.*]`` and ``[Memory_Mode.*]`` sections of the ``Arm/vela.ini`` that Vela
ships, or of a vendor file given with ``--vela-config``. Vela guesses (and warns) when a build
names no system config or memory mode, so hwquant always passes all three.

Defaults per NPU family (Vela's vela.ini has no notion of a default):

- U55: ``Ethos_U55_High_End_Embedded`` + ``Shared_Sram`` (a Cortex-M55 class system: the model in
  flash, the tensor arena in SRAM shared with the CPU; the configuration Arm's documentation and
  ML embedded evaluation kit use for Corstone-300).
- U65: ``Ethos_U65_High_End`` + ``Dedicated_Sram`` (U65 sits next to a Cortex-A or M with DRAM;
  the SRAM is the NPU's own cache).
- U85: ``Ethos_U85_SYS_DRAM_Mid`` + ``Dedicated_Sram_384KB`` (the Corstone-320 class system: DRAM
  with 384 KiB of SRAM as the NPU's arena cache).
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hwquant import InputError, UsageError, checked_text

if TYPE_CHECKING:
    from .boards import NpuBoard

DEFAULT_ACCELERATOR = "ethos-u55-128"
FAMILY_DEFAULTS = {
    "ethos-u55": ("Ethos_U55_High_End_Embedded", "Shared_Sram"),
    "ethos-u65": ("Ethos_U65_High_End", "Dedicated_Sram"),
    "ethos-u85": ("Ethos_U85_SYS_DRAM_Mid", "Dedicated_Sram_384KB"),
}
ARM_INI = "Arm/vela.ini"  # Vela's name for the file it ships (relative to its config_files folder)
OPTIMISE = ("Performance", "Size")


# Vela 5.2's --accelerator-config choices, for the command line's help without importing Vela (that
# costs a third of a second on every `hwquant` start); resolve() checks against the installed Vela.
ACCELERATORS = (
    "ethos-u55-32",
    "ethos-u55-64",
    "ethos-u55-128",
    "ethos-u55-256",
    "ethos-u65-256",
    "ethos-u65-512",
    "ethos-u85-128",
    "ethos-u85-256",
    "ethos-u85-512",
    "ethos-u85-1024",
    "ethos-u85-2048",
)


def accelerator_configs() -> tuple[str, ...]:
    """The installed Vela's --accelerator-config choices (its Accelerator enum)."""
    try:
        from ethosu.vela.architecture_features import Accelerator
    except ImportError:
        return ACCELERATORS
    return tuple(Accelerator.member_list())


def family(accelerator: str) -> str:
    """'ethos-u85-256' -> 'ethos-u85'."""
    return accelerator.rsplit("-", 1)[0]


def arm_ini_path() -> Path | None:
    """The Arm/vela.ini shipped inside the installed Vela, or None without Vela."""
    import importlib.util

    spec = importlib.util.find_spec("ethosu")
    if spec is None or not spec.submodule_search_locations:
        return None
    p = Path(next(iter(spec.submodule_search_locations))) / "config_files" / ARM_INI  # Vela's CONFIG_FILES_PATH
    return p if p.is_file() else None


def sections(ini: Path) -> tuple[list[str], list[str]]:
    """(system configs, memory modes) defined in a Vela .ini file."""
    parser = configparser.ConfigParser()
    text = checked_text(ini, "config", what="--ethos-u-vela-config")  # never a FIFO; size-limited
    try:
        parser.read_string(text, source=str(ini))
    except (configparser.Error, RecursionError) as exc:
        raise InputError(
            f"--ethos-u-vela-config {ini}: not a readable Vela configuration file ({exc})",
            hint="Vela reads .ini files with [System_Config.NAME] and [Memory_Mode.NAME] sections",
        ) from exc
    systems = [s.split(".", 1)[1] for s in parser.sections() if s.startswith("System_Config.")]
    modes = [s.split(".", 1)[1] for s in parser.sections() if s.startswith("Memory_Mode.")]
    return systems, modes


@dataclass(frozen=True)
class VelaConfig:
    """Everything that selects Vela's hardware model; all of it goes on Vela's command line."""

    accelerator: str
    system_config: str
    memory_mode: str
    config_files: tuple[str, ...]  # "Arm/vela.ini" and/or absolute paths of vendor files
    optimise: str = "Performance"
    arena_cache_size: int | None = None

    def argv(self) -> list[str]:
        args = ["--accelerator-config", self.accelerator]
        for f in self.config_files:
            args += ["--config", f]
        args += ["--system-config", self.system_config, "--memory-mode", self.memory_mode, "--optimise", self.optimise]
        if self.arena_cache_size is not None:
            args += ["--arena-cache-size", str(self.arena_cache_size)]
        return args

    def to_dict(self) -> dict[str, Any]:
        return {
            "accelerator_config": self.accelerator,
            "system_config": self.system_config,
            "memory_mode": self.memory_mode,
            "config_files": list(self.config_files),
            "optimise": self.optimise,
            "arena_cache_size": self.arena_cache_size,
        }


def resolve(
    accelerator: str | None,
    system_config: str | None,
    memory_mode: str | None,
    vela_config: str | None,
    optimise: str | None,
    arena_cache_size: int | None,
    board: NpuBoard | None = None,
) -> VelaConfig:
    """The configuration from the options (then the board profile, then the family defaults), checked
    against the .ini files so a typo is a usage error here rather than a Vela traceback."""
    accelerator = accelerator or (board.accelerator if board else None) or DEFAULT_ACCELERATOR
    if accelerator not in accelerator_configs():
        raise UsageError(
            f"unknown --ethos-u-accelerator-config {accelerator!r}",
            hint="Vela knows: " + ", ".join(accelerator_configs()),
        )
    fam_system, fam_mode = FAMILY_DEFAULTS.get(family(accelerator), (None, None))
    if board is not None and family(board.accelerator) == family(accelerator):
        fam_system, fam_mode = board.system_config or fam_system, board.memory_mode or fam_mode
    files: list[str] = [ARM_INI]
    inis = [p for p in [arm_ini_path()] if p is not None]
    if vela_config:
        vendor = Path(vela_config).expanduser()
        if vendor.suffix != ".ini":
            raise InputError(
                f"--ethos-u-vela-config {vela_config}: not an .ini file",
                hint="Vela reads configuration files with the .ini extension",
            )
        vendor = vendor.resolve()  # sections() checks it: a regular file (never a FIFO), within the size limit
        files.append(str(vendor))
        inis.append(vendor)
    systems, modes = [], []
    for ini in inis:
        s, m = sections(ini)
        systems += s
        modes += m
    system = system_config or fam_system
    mode = memory_mode or fam_mode
    if system not in systems:
        raise UsageError(
            f"--ethos-u-system-config {system!r} is not defined in {', '.join(map(str, inis)) or 'Vela'}",
            hint="choose from: " + ", ".join(systems) + " (or add it with --ethos-u-vela-config FILE.ini)",
        )
    if mode not in modes:
        raise UsageError(
            f"--ethos-u-memory-mode {mode!r} is not defined in {', '.join(map(str, inis)) or 'Vela'}",
            hint="choose from: " + ", ".join(modes) + " (or add it with --ethos-u-vela-config FILE.ini)",
        )
    if optimise and optimise not in OPTIMISE:
        raise UsageError(f"--ethos-u-optimise {optimise!r}", hint="Performance or Size")
    cache = None
    if arena_cache_size is not None:
        try:
            cache = int(arena_cache_size)
        except (TypeError, ValueError):
            cache = -1
        if cache <= 0:
            raise UsageError(
                f"--ethos-u-arena-cache-size {arena_cache_size!r} is not a positive number of bytes",
                hint="e.g. --ethos-u-arena-cache-size 393216",
            )
    return VelaConfig(accelerator, system, mode, tuple(files), optimise or "Performance", cache)
