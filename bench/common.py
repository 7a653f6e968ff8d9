"""Helpers shared by the benchmark scripts (not tests: they print figures)."""

from __future__ import annotations

import os
import resource
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample"

# Benchmarks never download anything.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(REPO))


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else 0.0


def fresh_data_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


# Settings a bench run overrides (`--set retrieval.dense_weight=0.2`), applied by settings_for.
OVERRIDES: dict[str, dict[str, str]] = {}


def parse_overrides(pairs: list[str]) -> None:
    """Record `section.key=value` overrides for every settings_for call of this run."""
    for pair in pairs:
        key, _, value = pair.partition("=")
        section, _, name = key.partition(".")
        if not name or not value:
            raise SystemExit(f"--set expects section.key=value, got {pair!r}")
        OVERRIDES.setdefault(section, {})[name] = value


def settings_for(data_dir: Path):  # type: ignore[no-untyped-def]
    """Settings for a benchmark data dir, ignoring the developer's config.toml and environment
    (only the run's --set overrides apply)."""
    for key in list(os.environ):
        if key.startswith("ZHITONG_"):
            del os.environ[key]
    os.environ["ZHITONG_CONFIG"] = str(data_dir / "absent-config.toml")
    from core.config import load_settings

    return load_settings(data_dir=data_dir, **{k: dict(v) for k, v in OVERRIDES.items()})
