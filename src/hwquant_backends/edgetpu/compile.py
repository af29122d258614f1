"""Run edgetpu_compiler: in a Docker container (the docker SDK) or natively, and check its result.

Container contract (hwquant_backends/edgetpu/toolchain/Dockerfile builds an image that keeps it):
  argv ``edgetpu_compiler -s -o /out [flags] /in/<model>.tflite [/in/<model2>.tflite ...]``
  (entrypoint ``edgetpu_compiler``, no shell); a staging copy of the models (a temporary
  folder) mounted read-only at /in, a fresh empty folder at /out; network disabled; a non-root
  user (the caller's uid, or 65534 when the caller is root); all capabilities dropped; the container is removed afterwards and
  killed after ``timeout`` seconds. The compiler writes ``<name>_edgetpu.tflite`` and
  ``<name>_edgetpu.log`` per model (``<name>_segment_K_of_N_edgetpu.*`` with ``-n N``).

Everything is compiled into a staging folder and moved into place only after the compiler
succeeded, so a failure leaves no ``*_edgetpu.tflite`` behind. Every failure is a
ToolchainError (exit 4) quoting the compiler's own words.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hwquant import ToolchainError, UsageError

from .compiler_log import CompilerLog, parse

DEFAULT_IMAGE = "hwquant/edgetpu-compiler:16.0"
IMAGE_ENV = "HWQUANT_EDGETPU_IMAGE"
EXECUTABLE = "edgetpu_compiler"
CONSOLE_LOG = "edgetpu_compiler.log"
DEFAULT_TIMEOUT = 300
TOOLCHAINS = ("docker", "native", "auto")
DOCKERFILE_DIR = Path(__file__).resolve().parent / "toolchain"


@dataclass(frozen=True)
class CompilerFlags:
    """The edgetpu_compiler options hwquant exposes (see ``edgetpu_compiler --help``)."""

    min_runtime_version: int | None = None  # -m
    search_delegate: bool = False  # -d
    delegate_search_step: int | None = None  # -k (with -d)
    num_segments: int | None = None  # -n
    intermediate_tensors: tuple[str, ...] = ()  # -i a,b
    enable_multiple_subgraphs: bool = False  # -a

    def __post_init__(self) -> None:
        if self.delegate_search_step is not None and not self.search_delegate:
            raise UsageError(
                "--edgetpu-delegate-search-step needs --edgetpu-search-delegate",
                hint="add --edgetpu-search-delegate, or drop --edgetpu-delegate-search-step",
            )
        for name in ("min_runtime_version", "delegate_search_step", "num_segments"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise UsageError(f"--edgetpu-{name.replace('_', '-')} must be at least 1 (got {v})")

    def argv(self) -> list[str]:
        out: list[str] = []
        if self.min_runtime_version is not None:
            out += ["-m", str(self.min_runtime_version)]
        if self.search_delegate:
            out.append("-d")
        if self.delegate_search_step is not None:
            out += ["-k", str(self.delegate_search_step)]
        if self.num_segments is not None:
            out += ["-n", str(self.num_segments)]
        if self.intermediate_tensors:
            out += ["-i", ",".join(self.intermediate_tensors)]
        if self.enable_multiple_subgraphs:
            out.append("-a")
        return out

    def expected_outputs(self, stem: str) -> list[str]:
        n = self.num_segments or 1
        if n == 1:
            return [f"{stem}_edgetpu.tflite"]
        return [f"{stem}_segment_{k}_of_{n}_edgetpu.tflite" for k in range(n)]


@dataclass
class CompileResult:
    toolchain: str  # "docker:<image>" or "native:<path>"
    argv: list[str]
    returncode: int
    console: str
    log: CompilerLog
    files: list[Path] = field(default_factory=list)  # every file written into out_dir
    models: dict[str, list[Path]] = field(default_factory=dict)  # input stem -> compiled model(s)


def image_name(option: str | None = None) -> str:
    return option or os.environ.get(IMAGE_ENV) or DEFAULT_IMAGE


def build_command(image: str) -> str:
    where = DOCKERFILE_DIR if DOCKERFILE_DIR.is_dir() else "path/to/hwquant_backends/edgetpu/toolchain"
    return f"docker build -t {image} {where}"


def compile_models(
    models: Sequence[Path],
    out_dir: Path,
    flags: CompilerFlags = CompilerFlags(),
    *,
    toolchain: str = "auto",
    image: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> CompileResult:
    """Compile one model, or co-compile several in ONE compiler call (they share the on-chip cache).

    Writes the compiled models, the compiler's operation logs and ``edgetpu_compiler.log`` (its
    console output) into ``out_dir``, only when the compiler succeeded.
    """
    models = [Path(m) for m in models]
    if not models:
        raise UsageError("no model to compile")
    stems = [m.stem for m in models]
    if len(set(stems)) != len(stems):
        raise UsageError(f"co-compiled models need distinct file names (got {', '.join(m.name for m in models)})")
    if toolchain not in TOOLCHAINS:
        raise UsageError(f"unknown toolchain {toolchain!r}", hint=f"choose one of: {', '.join(TOOLCHAINS)}")
    check_timeout(timeout)
    image = image_name(image)
    with tempfile.TemporaryDirectory(prefix="hwquant-edgetpu-") as tmp:
        stage_in, stage_out = Path(tmp, "in"), Path(tmp, "out")
        stage_in.mkdir()
        stage_out.mkdir()
        for m in models:
            shutil.copyfile(m, stage_in / m.name)
        args = ["-s", "-o", "/out", *flags.argv(), *(f"/in/{m.name}" for m in models)]
        which = _pick(toolchain, image)
        if which == "docker":
            rc, console = _run_docker(image, args, stage_in, stage_out, timeout)
            label = f"docker:{image}"
        else:
            exe = shutil.which(EXECUTABLE) or EXECUTABLE  # _pick chose native: it is on PATH
            args = [a if not a.startswith("/in/") else str(stage_in / a[4:]) for a in args]
            args[args.index("/out")] = str(stage_out)
            rc, console = _run_native(exe, args, timeout)
            label = f"native:{exe}"
        log = parse(console)
        _check(rc, log, console, [s for stem in stems for s in flags.expected_outputs(stem)], stage_out)
        out_dir.mkdir(parents=True, exist_ok=True)
        (stage_out / CONSOLE_LOG).write_text(console)
        files = []
        for f in sorted(stage_out.iterdir()):
            dest = out_dir / f.name
            shutil.move(str(f), dest)
            files.append(dest)
    by_model = {stem: [out_dir / n for n in flags.expected_outputs(stem)] for stem in stems}
    return CompileResult(label, [EXECUTABLE, *args], rc, console, log, files, by_model)


def check_timeout(timeout: object) -> None:
    """The compiler timeout is a positive, finite number of seconds."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < float("inf"):
        raise UsageError(
            f"--edgetpu-compiler-timeout must be a positive number of seconds (got {timeout!r})",
            hint=f"e.g. --edgetpu-compiler-timeout {DEFAULT_TIMEOUT} (the default)",
        )


def _pick(toolchain: str, image: str) -> str:
    if toolchain == "native":
        if shutil.which(EXECUTABLE) is None:
            raise ToolchainError(
                f"{EXECUTABLE} is not on PATH",
                hint="install Coral's edgetpu-compiler package "
                "(x86-64 Debian/Ubuntu), or use --edgetpu-toolchain docker",
            )
        return "native"
    if toolchain == "docker":
        _docker_client(image)
        return "docker"
    try:
        _docker_client(image)
        return "docker"
    except ToolchainError as docker_err:
        if shutil.which(EXECUTABLE):
            return "native"
        raise ToolchainError(
            f"no Edge TPU compiler available: Docker: {docker_err.message}; native: {EXECUTABLE} is not on PATH",
            hint=docker_err.hint,
        ) from None


def compiler_identity(toolchain: str = "auto", image: str | None = None) -> str:
    """What identifies the compiler a build would run, for the cache key: the Docker image's ID
    (a rebuilt image keeps its tag but not its ID) or the native compiler's path and version."""
    image = image_name(image)
    try:
        which = _pick(toolchain, image)
    except (ToolchainError, UsageError) as exc:
        return f"unavailable: {exc.message}"
    if which == "docker":
        return f"docker image {image} id {_docker_client(image).images.get(image).id}"
    exe = shutil.which(EXECUTABLE) or EXECUTABLE
    try:
        done = subprocess.run([exe, "--version"], capture_output=True, timeout=60)
        version = (done.stdout + done.stderr).decode("utf-8", "replace").strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        version = f"version unknown ({exc})"
    return f"native {exe}: {version}"


def _docker_client(image: str) -> Any:
    """A docker SDK client that reached the engine and holds ``image`` (else a ToolchainError)."""
    try:
        import docker
        from docker.errors import DockerException, ImageNotFound
    except ImportError:
        raise ToolchainError("the docker Python SDK is not installed", hint="pip install 'hwquant[build]'") from None
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except DockerException as exc:
        raise ToolchainError(
            f"no Docker engine reachable ({exc})",
            hint=f"start Docker (or set DOCKER_HOST), or use --edgetpu-toolchain native with {EXECUTABLE} on PATH",
        ) from None
    try:
        client.images.get(image)
    except ImageNotFound:
        raise ToolchainError(
            f"Docker image {image!r} not found",
            hint=f"build it: {build_command(image)}  (or name another with --edgetpu-image or ${IMAGE_ENV})",
        ) from None
    except DockerException as exc:
        raise ToolchainError(f"Docker could not look up image {image!r}: {exc}") from None
    return client


def _run_docker(image: str, args: list[str], stage_in: Path, stage_out: Path, timeout: float) -> tuple[int, str]:
    import requests
    from docker.errors import DockerException

    client = _docker_client(image)
    uid = os.getuid()
    user = f"{uid}:{os.getgid()}" if uid != 0 else "65534:65534"
    if uid == 0:  # the unprivileged container user must be able to write /out and read /in
        os.chmod(stage_out, 0o777)
        os.chmod(stage_in, 0o755)
        for f in stage_in.iterdir():
            os.chmod(f, 0o644)
    container = None
    try:
        container = client.containers.run(
            image,
            command=args,
            entrypoint=[EXECUTABLE],
            detach=True,
            user=user,
            working_dir="/out",
            network_mode="none",
            network_disabled=True,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            volumes={str(stage_in): {"bind": "/in", "mode": "ro"}, str(stage_out): {"bind": "/out", "mode": "rw"}},
        )
        try:
            status = container.wait(timeout=timeout)
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
            container.kill()
            said = container.logs(stdout=True, stderr=True).decode(errors="replace")
            raise _timeout_error(timeout, said) from None
        console = container.logs(stdout=True, stderr=True).decode(errors="replace")
        return int(status.get("StatusCode", -1)), console
    except DockerException as exc:
        raise ToolchainError(
            f"Docker could not run {EXECUTABLE} in {image!r}: {exc}",
            hint=f"the image must have {EXECUTABLE} on PATH: {build_command(image)}",
        ) from None
    finally:
        if container is not None:
            try:
                container.remove(force=True)
            except DockerException:
                pass


def _run_native(exe: str, args: list[str], timeout: float) -> tuple[int, str]:
    """Run the native compiler in a session of its own, so a timeout or an interrupt stops the
    whole process group: the real compiler forks a "compilation child process". Its output is
    decoded with replacement (it is not always UTF-8)."""
    try:
        p = subprocess.Popen([exe, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    except OSError as exc:
        raise ToolchainError(f"cannot run {exe}: {exc.strerror or exc}") from None
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(p)
        out, _ = p.communicate()
        raise _timeout_error(timeout, out.decode("utf-8", "replace")) from None
    except BaseException:  # interrupted: the compiler and its children go too
        _kill_group(p)
        p.communicate()
        raise
    return p.returncode, out.decode("utf-8", "replace")


def _kill_group(p: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(p.pid, signal.SIGKILL)  # the session leader's pid is the group id
    except (ProcessLookupError, PermissionError):
        p.kill()


def _timeout_error(timeout: float, said: str) -> ToolchainError:
    last = " | ".join(line.strip() for line in said.strip().splitlines()[-3:]) or "nothing"
    return ToolchainError(
        f"{EXECUTABLE} did not finish within {timeout:g} s and was stopped; it had printed: {last}",
        hint="raise --edgetpu-compiler-timeout, or split the model with --edgetpu-num-segments",
    )


_HINTS = (
    ("Model not quantized", "the Edge TPU needs a fully int8 model: build with the int8-only recipe and real --data"),
    ("large activation tensors", "lower the input resolution, or split the model with --num-segments"),
    (
        "Didn't find op",
        (
            "the compiler's TFLite is older than this converter's op versions: replace that op or "
            "convert with an older TensorFlow"
        ),
    ),
    ("dynamic-sized tensors", "give the model a fixed batch size of 1"),
    ("Internal compiler error", "simplify the model or change --min-runtime-version; see g.co/coral/model-reqs"),
)


def _check(rc: int, log: CompilerLog, console: str, expected: list[str], out: Path) -> None:
    words = (
        log.message()
        if (log.failures or log.errors)
        else " | ".join(line.strip() for line in console.strip().splitlines()[-3:]) or "no output"
    )
    hint = next((h for key, h in _HINTS if key in console), "read edgetpu_compiler's message above")
    if log.outcome == "crashed" or rc < 0:
        what = log.crash or (f"killed by signal {-rc}" if rc < 0 else f"exit {rc}")
        raise ToolchainError(
            f"{EXECUTABLE} crashed ({what}); it printed: {words}",
            hint="a compiler bug, not a problem with your model as such: try another compiler "
            "version or --edgetpu-min-runtime-version, or simplify the model",
        )
    if rc != 0:
        raise ToolchainError(f"{EXECUTABLE} failed (exit {rc}): {words}", hint=hint)
    if log.outcome in ("failed", "incomplete"):
        raise ToolchainError(f"{EXECUTABLE} exited 0 but reported a failure: {words}", hint=hint)
    missing = [n for n in expected if not (out / n).is_file()]
    if missing:
        raise ToolchainError(f"{EXECUTABLE} wrote no {', '.join(missing)}; it printed: {words}", hint=hint)
