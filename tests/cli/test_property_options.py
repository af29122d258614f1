"""A property test over every option of every command (issue 20 item 4): values drawn from strategies derived
from each click parameter's type (integers, numbers, choices, paths, strings, flags), hostile on purpose (huge,
negative, NaN, inf, empty, unicode, very long, NUL, FIFOs, devices, symlink loops), give a documented exit
code and never a traceback.

The commands are walked from the click group itself (``main.list_commands``, ``get_params``, backend flags
included), so a new command or option is covered without editing this file. The fast test runs in-process
(CliRunner) with positional arguments that are not loadable models, so no example reaches TensorFlow; the
slow one gives `build --preflight-only` a real tiny model so that the checks after loading run too.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwquant.cli.main import main

DOCUMENTED = {0, 2, 3, 4, 5, 130}

_NUMBERS = st.one_of(
    st.sampled_from(
        [
            "0",
            "-0",
            "1",
            "-1",
            "nan",
            "NaN",
            "-nan",
            "inf",
            "-inf",
            "Infinity",
            "1e308",
            "1e400",
            "-1e400",
            "9" * 40,
            "-" + "9" * 40,
            "2147483648",
            "9223372036854775808",
            "0x10",
            "1_000",
            "",
            " ",
            "1,5",
            "½",
        ]
    ),
    st.integers(-(10**30), 10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
_STRINGS = st.one_of(
    _TEXT,
    st.sampled_from(
        [
            "",
            " ",
            "x" * 5000,
            "é",
            "💥",
            "..",
            "../..",
            "a=b",
            "NAME=logits",
            "random:0",
            "random:-1",
            "random:99999999999",
            "random:nan",
            "mod:fn",
            "/dev/zero",
            "1KiB",
            "-5",
            "1e400",
            "nan",
            "\x00",
        ]
    ),
)
# paths relative to the example's own folder, plus devices and absolute paths that cannot be written
_PATHS = st.sampled_from(
    [
        "",
        ".",
        "missing",
        "missing.keras",
        "missing.tflite",
        "dir",
        "fifo",
        "loop",
        "garbage.tflite",
        "garbage.keras",
        "/dev/zero",
        "/dev/null",
        "/nonexistent/x",
        "x" * 300,
        "a" * 5000,
        "é/ü",
        "bad\x00nul",
    ]
)


def _values(param: click.Parameter) -> st.SearchStrategy[str]:
    """Command-line strings for one parameter, from its click type."""
    t = param.type
    if isinstance(t, click.Choice):
        return st.one_of(st.sampled_from([str(c) for c in t.choices]), _STRINGS)
    if isinstance(t, (click.types.IntParamType, click.types.FloatParamType)) or t.name == "number":
        return _NUMBERS
    if isinstance(t, click.Path):
        return _PATHS
    return st.one_of(_STRINGS, _NUMBERS, _PATHS)


def _commands() -> dict[str, click.Command]:
    ctx = click.Context(main)
    return {name: main.get_command(ctx, name) for name in main.list_commands(ctx)}  # type: ignore[misc]


COMMANDS = _commands()


@st.composite
def _command_line(draw, names: tuple[str, ...] = tuple(COMMANDS), skip: frozenset[str] = frozenset()) -> list[str]:
    name = draw(st.sampled_from(names))
    cmd = COMMANDS[name]
    params = [p for p in cmd.get_params(click.Context(cmd)) if "--help" not in p.opts and p.name not in skip]
    argv = [name]
    for p in params:
        if isinstance(p, click.Argument):
            count = 1 if p.nargs == 1 else draw(st.integers(0 if not p.required else 1, 2))
            argv += [draw(_values(p)) for _ in range(count)]
            continue
        if draw(st.integers(0, 5)) != 0:  # each option given in about one example of six
            continue
        assert isinstance(p, click.Option)
        if p.is_flag:
            argv.append(draw(st.sampled_from([*p.opts, *p.secondary_opts])))
            continue
        for _ in range(draw(st.integers(1, 2)) if p.multiple else 1):
            argv += [draw(st.sampled_from(p.opts)), draw(_values(p))]
    return argv


def _folder(root: Path) -> None:
    """What the relative path values name: a folder, a FIFO, a symlink loop, files that are not models."""
    (root / "dir").mkdir()
    os.mkfifo(root / "fifo")
    (root / "loop").symlink_to(root / "loop")
    (root / "garbage.tflite").write_bytes(b"TFL3 not a flatbuffer")
    (root / "garbage.keras").write_bytes(b"PK\x03\x04 not a keras zip")


def _run(root: Path, argv: list[str]):
    old = Path.cwd()
    os.chdir(root)
    try:
        return CliRunner().invoke(main, argv or ["--help"], catch_exceptions=True)
    finally:
        os.chdir(old)


def _assert_documented(argv: list[str], res) -> None:
    shown = [a if len(a) < 60 else a[:20] + "..." for a in argv]
    assert res.exception is None or isinstance(res.exception, SystemExit), (shown, repr(res.exception))
    assert res.exit_code in DOCUMENTED, (shown, res.exit_code, res.output[-2000:])
    assert "Traceback" not in res.output, (shown, res.output[-2000:])


def test_the_walk_covers_every_command_and_option():
    """The strategies reach every command and every option type (a new one is covered or fails here)."""
    assert {"build", "check", "init", "inspect", "bench", "plan", "report", "targets"} <= set(COMMANDS)
    for name, cmd in COMMANDS.items():
        for p in cmd.get_params(click.Context(cmd)):
            assert _values(p) is not None, (name, p.name)
    flags = {o for p in COMMANDS["build"].get_params(click.Context(COMMANDS["build"])) for o in p.opts}
    assert {"--max-samples", "--mcu-arena-margin", "--seed", "--min-snr"} <= flags


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=_command_line())
def test_property_every_option_of_every_command(tmp_path_factory, argv):
    root = tmp_path_factory.mktemp("cli")
    _folder(root)
    _assert_documented(argv, _run(root, argv))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=_command_line(("build",)))
def test_property_every_build_option(tmp_path_factory, argv):
    """build has most options (the gates and every backend's flags): more examples of it alone."""
    root = tmp_path_factory.mktemp("cli-build")
    _folder(root)
    _assert_documented(argv, _run(root, argv))


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=_command_line(("build",), skip=frozenset({"model", "job", "jobs", "manifest", "sensitivity"})))
def test_property_build_options_with_a_real_model(keras_model, tmp_path_factory, argv):
    """The same options after a model that loads (--preflight-only: load, convert, per-op check; no artifact)."""
    root = tmp_path_factory.mktemp("cli-real")
    _folder(root)
    argv = ["build", str(keras_model), *argv[1:], "--preflight-only", "--no-cache"]
    _assert_documented(argv, _run(root, argv))
