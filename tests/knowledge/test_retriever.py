"""Hybrid fusion, alias resolution, validity filtering and trusted ids.

Fusion-logic tests use a deterministic fake embedder; the rest runs the real USE model.
"""

from __future__ import annotations

from core.config import RetrievalSettings, Settings
from knowledge.departments import department_names
from knowledge.retriever import HybridRetriever, KnowledgeIndex, _min_max
from knowledge.service import KnowledgeService
from knowledge.store import VectorStore
from knowledge.types import Record
from tests.knowledge.conftest import HashEmbedder


def _record(i: int, title: str, dept: str, kind: str = "service", text: str = "") -> Record:
    return Record(
        id=f"r{i:031d}", kind=kind, title=title, department=dept, text=text or title, citation=f"x › {title}"
    )  # type: ignore[arg-type]


RECORDS = [
    _record(0, "增值税发票申领", "示范市税务局"),
    _record(1, "食品经营许可证核发", "示范市市场监督管理局", text="食品经营许可 开饭店 餐馆"),
    _record(2, "排污许可证核发", "示范市生态环境局"),
    _record(3, "示范市市场监督管理局", "示范市市场监督管理局", kind="department", text="地址 电话"),
]
DEPARTMENTS = {"示范市税务局": ["国税局"], "示范市市场监督管理局": ["工商局"], "示范市生态环境局": ["环保局"]}


def test_min_max_normalisation() -> None:
    assert _min_max({}) == {}
    assert _min_max({1: 5.0}) == {1: 1.0}
    assert _min_max({1: 2.0, 2: 4.0, 3: 3.0}) == {1: 0.0, 2: 1.0, 3: 0.5}


def test_department_names_variants() -> None:
    names = department_names("示范市市场监督管理局", ["工商局"])
    assert {"示范市市场监督管理局", "市场监督管理局", "工商局"} <= names
    names = department_names("中共广东省委宣传部（广东省新闻出版局、广东省版权局）", [])
    assert {"广东省新闻出版局", "广东省版权局", "中共广东省委宣传部"} <= names


def test_modes_and_weights_decide_the_order(settings: Settings, hash_embedder: HashEmbedder) -> None:
    store = VectorStore(settings, hash_embedder)
    store.upsert(RECORDS)
    index = KnowledgeIndex(RECORDS, DEPARTMENTS)
    words_only = HybridRetriever(index, store, hash_embedder, RetrievalSettings(dense_weight=0.3, char_weight=0.0))
    lexical = words_only.search("发票申领", mode="lexical")
    assert [h.record.id for h in lexical.hits] == [RECORDS[0].id]  # only positive BM25 scores
    assert lexical.hits[0].dense > 0  # the dense score is still reported
    retriever = HybridRetriever(index, store, hash_embedder, RetrievalSettings(dense_weight=0.3))
    with_chars = retriever.search("发票申领", mode="lexical")
    # The character view also matches records sharing single characters, ranked below the right one.
    assert with_chars.hits[0].record.id == RECORDS[0].id and len(with_chars.hits) >= len(lexical.hits)
    dense = retriever.search("发票申领", mode="dense")
    assert len(dense.hits) == 4  # every vector is a candidate
    assert dense.hits[0].record.id == RECORDS[0].id
    hybrid = retriever.search("发票申领")
    assert hybrid.hits[0].record.id == RECORDS[0].id
    assert hybrid.hits[0].score >= hybrid.hits[-1].score
    assert 0.0 <= hybrid.confidence <= 1.0


def test_alias_boosts_the_named_department(settings: Settings, hash_embedder: HashEmbedder) -> None:
    store = VectorStore(settings, hash_embedder)
    store.upsert(RECORDS)
    index = KnowledgeIndex(RECORDS, DEPARTMENTS)
    mentioned, canonical = index.mentioned_departments("工商局在哪里")
    assert mentioned == ["示范市市场监督管理局"] and "示范市市场监督管理局" in canonical
    retriever = HybridRetriever(index, store, hash_embedder, RetrievalSettings())
    result = retriever.search("工商局在哪里")
    assert result.mentioned == ["示范市市场监督管理局"]
    assert result.hits[0].record.department == "示范市市场监督管理局"
    assert result.hits[0].record.kind == "department"  # "在哪里" asks for contact details


def test_untrusted_vectors_are_ignored(settings: Settings, hash_embedder: HashEmbedder) -> None:
    """A vector whose record is not in kb_record (interrupted ingest) is never returned."""
    store = VectorStore(settings, hash_embedder)
    store.upsert(RECORDS + [_record(9, "孤儿记录 发票申领", "示范市税务局")])
    index = KnowledgeIndex(RECORDS, DEPARTMENTS)
    retriever = HybridRetriever(index, store, hash_embedder, RetrievalSettings())
    ids = {h.record.id for h in retriever.search("孤儿记录 发票申领", mode="dense").hits}
    assert f"r{9:031d}" not in ids


def test_expired_and_superseded_policies_are_not_current(shared_service: KnowledgeService) -> None:
    service = shared_service
    stats = service.stats()
    assert stats["not_current"] == 2
    result = service.ask("稳岗补贴按失业保险费的多少比例返还")
    cited = {h.record.source_file for h in result.hits}
    assert "稳岗补贴实施办法.md" in cited
    assert "旧版稳岗补贴办法.md" not in cited and "过期的房租减免通知.md" not in cited
    assert "60%" in result.text and "50%" not in result.text


def test_real_hybrid_ranks_colloquial_questions(shared_service: KnowledgeService) -> None:
    service = shared_service
    cases = {
        "开饭店要办什么证": "示范市市场监督管理局",
        "领发票带什么": "示范市税务局",
        "员工社保开户去哪": "示范市人力资源和社会保障局",
        "建厂要做环评吗": "示范市生态环境局",
        "国税局电话多少": "示范市税务局",
    }
    for question, department in cases.items():
        answer = service.ask(question)
        assert answer.hits[0].record.department == department, question
        assert not answer.route_to_desk, question


def test_generic_old_names_resolve_when_the_directory_has_no_aliases() -> None:
    records = [
        _record(0, "企业设立登记", "广东省市场监督管理局"),
        _record(1, "出口退税备案", "国家税务总局广东省税务局"),
    ]
    index = KnowledgeIndex(records, {"广东省市场监督管理局": [], "国家税务总局广东省税务局": []})
    assert index.mentioned_departments("工商局在哪")[0] == ["广东省市场监督管理局"]
    assert index.mentioned_departments("国税局电话")[0] == ["国家税务总局广东省税务局"]
    assert index.mentioned_departments("环保局在哪")[0] == []  # no such department: nothing invented
    # The directory's own alias wins over the generic one.
    own = KnowledgeIndex(records, {"广东省市场监督管理局": [], "国家税务总局广东省税务局": ["工商局"]})
    assert own.mentioned_departments("工商局在哪")[0] == ["国家税务总局广东省税务局"]


def _many_records(n: int, distinct: int) -> list[Record]:
    """n records sharing `distinct` texts: the same matter listed by many offices, as real directories
    do (Guangdong lists one service under dozens of departments). Equal vectors are where an
    approximate index's answer depends on how it was built."""
    import random

    rng = random.Random(3)
    words = ["营业执照", "食品经营", "排污许可", "发票", "社保", "公积金", "消防", "施工许可", "税务登记", "出口退税", "稳岗补贴", "招聘", "注销", "变更", "备案", "年检"]
    texts = [" ".join(rng.sample(words, 4)) for _ in range(distinct)]
    return [_record(i, f"事项{i}", "示范市税务局", text=texts[i % distinct]) for i in range(n)]


def test_dense_scores_are_exact_whatever_order_the_store_was_built_in(tmp_path, hash_embedder: HashEmbedder) -> None:  # type: ignore[no-untyped-def]
    """Two clean ingests of one corpus (vectors written in different orders and batches) rank every
    question identically, down to the last candidate's score, and each dense score is the exact cosine."""
    from core.config import load_settings

    records = _many_records(3000, distinct=60)
    retrievers = []
    for name, order, batch in (("a", records, 3000), ("b", list(reversed(records)), 97)):
        store = VectorStore(load_settings(tmp_path / "absent.toml", data_dir=tmp_path / name), hash_embedder)
        for start in range(0, len(order), batch):
            store.upsert(order[start : start + batch])
        retrievers.append(HybridRetriever(KnowledgeIndex(records, DEPARTMENTS), store, hash_embedder, RetrievalSettings()))
    matrix = hash_embedder.embed_documents([r.text for r in records])
    for question in ("发票 社保 注销", "食品经营 变更", "消防 施工许可 备案", "出口退税"):
        first, second = (r.search(question, k=40) for r in retrievers)
        assert [(h.record.id, h.score, h.dense) for h in first.hits] == [
            (h.record.id, h.score, h.dense) for h in second.hits
        ]
        exact = matrix @ hash_embedder.embed_query(question)
        nearest = sorted(range(len(records)), key=lambda i: (-exact[i], i))[:40]
        dense = retrievers[0]._dense(hash_embedder.embed_query(question), 40)
        assert list(dense) == nearest  # the exact nearest, ties in record order
        assert all(abs(dense[pos] - exact[pos]) < 1e-5 for pos in nearest)


def test_records_without_a_stored_vector_never_rank_as_near(settings: Settings, hash_embedder: HashEmbedder) -> None:
    store = VectorStore(settings, hash_embedder)
    store.upsert(RECORDS[:2])  # the last two records' vectors were never written (an interrupted ingest)
    retriever = HybridRetriever(KnowledgeIndex(RECORDS, DEPARTMENTS), store, hash_embedder, RetrievalSettings())
    assert set(retriever._dense(hash_embedder.embed_query("排污许可证核发"), 10)) == {0, 1}
