"""The knowledge generation: a counter in the relational store that every changing ingest bumps, so
running bots notice ingests made by other processes. Real SQLite, real Chroma, real packaged embedder."""

from __future__ import annotations

from pathlib import Path

from bot.config import Settings
from bot.db import init_db_sync, make_sync_engine, sync_session
from ingest.pipeline import ingest_paths
from knowledge.models import read_generation
from knowledge.service import KnowledgeService
from knowledge.store import VectorStore
from tests.ingest.test_pipeline import SERVICES, make_city


def stored_generation(settings: Settings) -> int:
    engine = make_sync_engine(settings.database_url)
    try:
        init_db_sync(engine)
        with sync_session(engine) as session:
            return read_generation(session)
    finally:
        engine.dispose()


def test_generation_counts_changes_and_ignores_no_op_ingests(settings: Settings, store: VectorStore,
                                                              tmp_path: Path) -> None:
    city = make_city(tmp_path / "city")
    assert stored_generation(settings) == 0  # nothing ingested yet

    ingest_paths(settings, [city], store=store)
    first = stored_generation(settings)
    assert first > 0

    report = ingest_paths(settings, [city], store=store)  # same files: nothing to do
    assert len(report.skipped) == 4 and not report.changed
    assert stored_generation(settings) == first

    services = city / "directory" / "services.csv"
    services.write_bytes(SERVICES.replace("10个工作日,开饭店", "5个工作日,开饭店").encode("gbk"))
    report = ingest_paths(settings, [city], store=store)
    assert report.changed == ["services.csv"]
    changed = stored_generation(settings)
    assert changed > first

    (city / "policies" / "房租.txt").unlink()
    report = ingest_paths(settings, [city], store=store)
    assert report.removed == ["房租.txt"]
    removed = stored_generation(settings)
    assert removed > changed


def test_a_failed_file_leaves_the_generation_alone(settings: Settings, store: VectorStore, tmp_path: Path) -> None:
    city = make_city(tmp_path / "city")
    ingest_paths(settings, [city], store=store)
    before = stored_generation(settings)
    broken = city / "policies" / "空白.txt"
    broken.write_text("   \n", encoding="utf-8")
    report = ingest_paths(settings, [broken], store=store)
    assert [name for name, _ in report.failed] == ["空白.txt"]
    assert stored_generation(settings) == before


def test_the_service_remembers_the_generation_it_loaded(settings: Settings, store: VectorStore,
                                                        tmp_path: Path) -> None:
    city = make_city(tmp_path / "city")
    ingest_paths(settings, [city], store=store)
    service = KnowledgeService.open(settings, store=store)
    try:
        loaded = service.loaded_generation
        assert loaded is not None and loaded == service.stored_generation() > 0
        assert service.stats()["generation"] == loaded

        # Another process ingests (here: the pipeline called directly, as the CLI does).
        (city / "policies" / "新政.md").write_text(
            "# 示范市直通车试点通知\n\n一、试点内容\n直通车试点企业可享受专员上门服务。\n", encoding="utf-8")
        ingest_paths(settings, [city], store=store)
        assert service.stored_generation() > loaded
        assert service.loaded_generation == loaded  # not reloaded yet: still the old index

        service.reload()
        assert service.loaded_generation == service.stored_generation()
        assert any(h.record.source_file == "新政.md" for h in service.ask("直通车试点企业可享受什么服务").hits)
    finally:
        service.close()
