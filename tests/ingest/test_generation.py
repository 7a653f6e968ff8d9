"""The knowledge generation: a counter in the relational store that every changing ingest bumps, so
running bots notice ingests made by other processes. Real SQLite, real Chroma, real packaged embedder."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest

from core.config import Settings, load_settings
from core.db import init_db_sync, make_sync_engine, sync_session
from ingest.pipeline import ingest_paths
from knowledge.embedder import Embedder
from knowledge.models import read_generation
from knowledge.service import KnowledgeService
from knowledge.store import VectorStore
from tests.auxil.postgres import throwaway_database
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
            "# 示范市外贸稳链试点通知\n\n一、试点内容\n稳链试点企业可享受出口信保补贴。\n", encoding="utf-8")
        ingest_paths(settings, [city], store=store)
        assert service.stored_generation() > loaded
        assert service.loaded_generation == loaded  # not reloaded yet: still the old index

        service.reload()
        assert service.loaded_generation == service.stored_generation()
        assert any(h.record.source_file == "新政.md" for h in service.ask("稳链试点企业可享受什么补贴").hits)
    finally:
        service.close()


def test_a_new_day_makes_the_index_stale(settings: Settings, store: VectorStore, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A policy that takes effect tomorrow is cited from tomorrow on, without any ingest."""
    city = make_city(tmp_path / "city")
    service_today = KnowledgeService.open(settings, store=store)
    tomorrow = service_today.today() + timedelta(days=1)
    service_today.close()
    (city / "policies" / "明日施行.md").write_text(
        f"---\ntitle: 示范市外贸稳链试点通知\neffective: {tomorrow.isoformat()}\n---\n"
        "# 示范市外贸稳链试点通知\n\n一、试点内容\n稳链试点企业可享受出口信保补贴。\n", encoding="utf-8")
    ingest_paths(settings, [city], store=store)
    service = KnowledgeService.open(settings, store=store)
    try:
        question = "稳链试点企业可享受什么补贴"
        assert not any(h.record.source_file == "明日施行.md" for h in service.ask(question).hits)
        assert not service.is_stale()

        monkeypatch.setattr(service, "today", lambda: tomorrow)  # midnight passes
        assert service.is_stale()
        service.reload()
        assert not service.is_stale()
        assert service.ask(question).hits[0].record.source_file == "明日施行.md"
    finally:
        service.close()


def test_concurrent_ingests_on_postgresql_are_both_counted(tmp_path: Path, embedder: Embedder) -> None:
    """Scale-out: two hosts (own data dirs, so no shared lock file) ingest into one PostgreSQL at once.

    Both race to create the counter row and both bump it; neither ingest fails and neither bump is lost.
    """
    with throwaway_database("zt_kbgen") as url:
        hosts = [load_settings(data_dir=tmp_path / f"host{i}", database={"url": url}) for i in (1, 2)]
        engine = make_sync_engine(hosts[0].database_url)
        try:
            init_db_sync(engine)  # the tables exist (any earlier start created them); the counter row not yet
            files = []
            for i, settings in enumerate(hosts, start=1):
                path = tmp_path / f"policy{i}" / f"通知{i}.md"
                path.parent.mkdir()
                path.write_text(f"# 示范市第{i}号通知\n\n一、内容\n第{i}号通知的内容。\n", encoding="utf-8")
                files.append((settings, path))
            with ThreadPoolExecutor(max_workers=2) as pool:
                reports = list(pool.map(
                    lambda job: ingest_paths(job[0], [job[1]], store=VectorStore(job[0], embedder)),
                    files))
            assert [r.added for r in reports] == [["通知1.md"], ["通知2.md"]]
            with sync_session(engine) as session:
                assert read_generation(session) == 2
        finally:
            engine.dispose()
