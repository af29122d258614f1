"""Helpers the tests share: tiny model factories (models, models_search, ethosu_models), single-op model
generation (opgen), TOML writers (tomlgen), the Edge TPU compiler stand-in (edgetpu_standin) and the HTML
report pages opened in headless Chromium (html_pages)."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# Real third-party output (compiler logs ...) next to the checkout, never copied into the repository.
SHARED_FIXTURES = REPO_ROOT.parent / "shared" / "fixtures"
