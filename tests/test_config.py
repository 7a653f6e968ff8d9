from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from core.config import load_settings


def test_env_overrides_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[telegram]\nbase_url = "http://from-file/bot"\nadmin_ids = [1, 2]\n', encoding="utf-8")
    monkeypatch.setenv("ZHITONG_TELEGRAM_BASE_URL", "http://127.0.0.1:9000/bot")
    s = load_settings(cfg, data_dir=tmp_path / "d")
    assert s.telegram.base_url == "http://127.0.0.1:9000/bot"
    assert s.telegram.admin_ids == [1, 2]
    assert s.database_url.endswith("/d/zhitong.db")


def test_bad_value_is_rejected(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text("[retrieval]\ndense_weight = 3\n", encoding="utf-8")
    with pytest.raises(ValidationError):
        load_settings(cfg, data_dir=tmp_path)


def test_repo_config_toml_is_valid(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    repo_cfg = Path(__file__).resolve().parent.parent / "config.toml"
    s = load_settings(repo_cfg, data_dir=tmp_path)
    assert s.embedder.kind == "use"
    assert s.desk.accept_within_hours > 0


def test_third_party_loggers_stay_at_warning_unless_debug_is_asked() -> None:
    import logging

    from cli import configure_logging

    configure_logging("INFO")
    assert logging.getLogger("apscheduler").getEffectiveLevel() == logging.WARNING
    assert logging.getLogger("apscheduler.executors.default").getEffectiveLevel() == logging.WARNING
    assert logging.getLogger("httpx").getEffectiveLevel() == logging.WARNING
    configure_logging("DEBUG")
    assert logging.getLogger("apscheduler").getEffectiveLevel() == logging.DEBUG
    assert logging.getLogger("httpx").getEffectiveLevel() == logging.WARNING  # URLs carry the bot token
    configure_logging("INFO")
