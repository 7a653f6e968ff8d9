"""Shared fixtures: isolated settings per test (own data dir, no config.toml from the cwd)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import Settings, load_settings

REPO_ROOT = Path(__file__).resolve().parent.parent
GUANGDONG_DIR = REPO_ROOT / "data" / "guangdong"  # real directory, MIT (see its LICENSE-source.txt)
SAMPLE_DIR = REPO_ROOT / "data" / "sample"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Keep developer environment variables and the repo's config.toml out of tests."""
    import os

    for key in list(os.environ):
        if key.startswith("ZHITONG_"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("ZHITONG_CONFIG", str(tmp_path / "absent-config.toml"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    yield


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "var")
