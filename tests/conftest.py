"""Shared pytest fixtures: repository paths, third-party fixtures, and tiny models built once per session."""

from __future__ import annotations

import os

# Before anything imports TensorFlow: keep its C++ log noise out of test output.
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
os.environ.setdefault("HWQUANT_VALIDATE_REPORTS", "1")  # every report.json written is checked against its schema

import signal
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT, SHARED_FIXTURES, models

# A runner that starts the suite in the background of a non-interactive shell (`.ci/run &`, nohup) hands us
# SIGINT ignored, and an ignored signal stays ignored in every process we start: hwquant then rightly leaves
# it alone, and the Ctrl-C tests would test nothing. Catching it here gives our children the default a
# terminal gives, as in an interactive run.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    """The CLI caches builds by default: tests get a cache of their own, never the user's."""
    path = tmp_path_factory.mktemp("hwquant-cache")
    old = os.environ.get("HWQUANT_CACHE_DIR")
    os.environ["HWQUANT_CACHE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("HWQUANT_CACHE_DIR", None)
    else:
        os.environ["HWQUANT_CACHE_DIR"] = old


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    """../shared/fixtures: real third-party output (compiler logs ...), never copied into the repo."""
    path = SHARED_FIXTURES
    if not path.is_dir():
        pytest.skip(f"shared fixtures not found at {path}")
    return path


@pytest.fixture(scope="session")
def digits_dir(repo_root) -> Path:
    """examples/digits with model.keras, calibration.npz and eval.npz (made by make_example.py)."""
    path = repo_root / "examples" / "digits"
    missing = [n for n in ("model.keras", "calibration.npz", "eval.npz") if not (path / n).is_file()]
    if missing:
        pytest.skip(f"examples/digits lacks {', '.join(missing)}; run examples/digits/make_example.py")
    return path


@pytest.fixture(scope="session")
def digits_model(digits_dir) -> Path:
    return digits_dir / "model.keras"


# Tiny models, built on first use and shared by the whole session. Tests must not modify them.
@pytest.fixture(scope="session")
def keras_model(tmp_path_factory) -> Path:
    return models.keras_cnn(tmp_path_factory.mktemp("keras_cnn"), fmt="keras")


@pytest.fixture(scope="session")
def h5_model(tmp_path_factory) -> Path:
    return models.keras_cnn(tmp_path_factory.mktemp("keras_h5"), fmt="h5")


@pytest.fixture(scope="session")
def static_keras_model(tmp_path_factory) -> Path:
    return models.keras_cnn(tmp_path_factory.mktemp("keras_static"), fmt="keras", batch_size=1)


@pytest.fixture(scope="session")
def tflite_models(static_keras_model, tmp_path_factory) -> models.ConvertedModels:
    """static_keras_model converted by the bare TFLiteConverter, per recipe on first use: tflite_models["int8-io"]."""
    return models.ConvertedModels(static_keras_model, tmp_path_factory.mktemp("tflite_models"))


@pytest.fixture(scope="session")
def keras_export_savedmodel(tmp_path_factory) -> Path:
    return models.keras_export_savedmodel(tmp_path_factory.mktemp("keras_export") / "saved_model")


@pytest.fixture(scope="session")
def single_signature_savedmodel(tmp_path_factory) -> Path:
    return models.single_signature_savedmodel(tmp_path_factory.mktemp("single_sig") / "saved_model")


@pytest.fixture(scope="session")
def two_signature_savedmodel(tmp_path_factory) -> Path:
    return models.two_signature_savedmodel(tmp_path_factory.mktemp("two_sig") / "saved_model")


@pytest.fixture(scope="session")
def tf1_savedmodel(tmp_path_factory) -> Path:
    """TF1 SavedModel with Adam slot variables and a train signature: TF2 converter fails, TF1 converts."""
    return models.tf1_savedmodel_with_slots(tmp_path_factory.mktemp("tf1_slots") / "saved_model")


@pytest.fixture(scope="session")
def tf1_unliftable_savedmodel(tmp_path_factory) -> Path:
    """TF1 SavedModel that the TF2 loader rejects in from_saved_model itself."""
    return models.tf1_savedmodel_unliftable(tmp_path_factory.mktemp("tf1_unliftable") / "saved_model")
