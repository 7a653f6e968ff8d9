"""KnowledgeService end to end on the fixture KB: real SQLite, real Chroma, real USE."""

from __future__ import annotations

import threading

from sqlmodel import select

from core.db import make_sync_engine, sync_session
from knowledge.answer import EMPTY_PROMPT
from knowledge.models import KbRecord, KbSource
from knowledge.service import MAX_QUESTION_CHARS, KnowledgeService, truncate_question
from knowledge.types import Record
from tests.knowledge.kbfixture import rid


def test_service_question_gets_a_cited_card(shared_service: KnowledgeService) -> None:
    service = shared_service
    answer = service.ask("开饭店要办什么证？找哪个部门？")
    assert not answer.route_to_desk
    assert answer.hits[0].record.title == "食品经营许可证核发"
    assert "办理部门：示范市市场监督管理局" in answer.text
    assert "材料：" in answer.text and "来源：「services.csv › 第2行 食品经营许可证核发」" in answer.text
    assert answer.latency_ms > 0


def test_alias_question_gets_the_department_card(shared_service: KnowledgeService) -> None:
    service = shared_service
    answer = service.ask("工商局在哪里？电话多少")
    assert answer.hits[0].record.kind == "department"
    assert "部门：示范市市场监督管理局" in answer.text
    assert "0740-81233001" in answer.text and "市民大道88号" in answer.text


def test_complaint_routes_and_still_names_the_department(shared_service: KnowledgeService) -> None:
    service = shared_service
    answer = service.ask("我的环评拖了三个月没人管")
    assert answer.route_to_desk and "拖延" in answer.reason
    assert answer.department == "示范市生态环境局"
    assert "办不成事" in answer.text and "示范市生态环境局" in answer.text


def test_out_of_scope_is_declined_without_desk_or_citations(shared_service: KnowledgeService) -> None:
    service = shared_service
    answer = service.ask("帮我订一张去北京的高铁票")
    assert answer.intent == "decline" and not answer.route_to_desk
    assert answer.hits == [] and "来源" not in answer.text and "办不成事" not in answer.text
    assert "例如" in answer.text  # says what the bot can do instead


def test_emoji_and_empty_questions_get_a_prompt(shared_service: KnowledgeService) -> None:
    service = shared_service
    for question in ("😀😀😀", "", "   ", "？？！！"):
        answer = service.ask(question)
        assert answer.text == EMPTY_PROMPT and not answer.route_to_desk and answer.hits == []


def test_five_thousand_characters_are_truncated_not_refused(shared_service: KnowledgeService) -> None:
    service = shared_service
    question = "我想开饭店，请问要办什么证。" + "我们的情况比较复杂，" * 500
    assert len(question) > 5000
    answer = service.ask(question)
    assert f"共 {len(question)} 字" in answer.text
    assert answer.hits and answer.hits[0].record.title == "食品经营许可证核发"
    assert answer.latency_ms < 5000
    # A complaint at the end of a long story is still seen.
    assert service.ask("开饭店的事情。" + "情况是这样的，" * 800 + "已经拖了三个月没人管").route_to_desk


def test_truncate_question_cuts_at_a_sentence_end() -> None:
    text = "第一句话。" * 100
    cut = truncate_question(text)
    assert len(cut) <= MAX_QUESTION_CHARS and cut.endswith("。")
    assert truncate_question("短问题") == "短问题"


def test_to_json_is_the_ask_contract(shared_service: KnowledgeService) -> None:
    service = shared_service
    data = service.ask("领发票要带什么").to_json()
    assert set(data) == {"question", "answer", "intent", "route_to_desk", "matches", "latency_ms"}
    assert data["intent"] == "answer" and data["route_to_desk"] is False
    assert data["matches"] and set(data["matches"][0]) == {"kind", "title", "department", "score", "source"}
    scores = [m["score"] for m in data["matches"]]
    assert scores == sorted(scores, reverse=True)
    assert data["matches"][0]["department"] == "示范市税务局"


def test_reload_picks_up_new_records_and_concurrent_asks(service: KnowledgeService) -> None:
    record = Record(
        id=rid("new", "service"),
        kind="service",
        title="烟草专卖零售许可证核发",
        department="示范市市场监督管理局",
        text="烟草专卖零售许可证核发 卖烟 便利店",
        citation="new.csv › 烟草专卖零售许可证核发",
    )
    service.store.upsert([record])
    engine = make_sync_engine(service.settings.database_url)
    with sync_session(engine) as session:
        source = KbSource(path="/fixture/new.csv", name="new.csv", kind="directory", sha256="n" * 64)
        session.add(source)
        session.flush()
        session.add(
            KbRecord(
                id=record.id,
                source_id=source.id or 0,
                kind="service",
                title=record.title,
                department=record.department,
                citation=record.citation,
                text=record.text,
            )
        )
        session.commit()
        assert session.exec(select(KbRecord).where(KbRecord.id == record.id)).one()
    engine.dispose()
    assert service.ask("便利店卖烟要办什么证").hits[0].record.id != record.id
    service.reload()
    assert service.ask("便利店卖烟要办什么证").hits[0].record.id == record.id

    errors: list[BaseException] = []

    def worker(question: str) -> None:
        try:
            for _ in range(5):
                assert service.ask(question).hits
        except BaseException as exc:  # noqa: BLE001 - collected for the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(q,)) for q in ("领发票", "开饭店", "环评", "卖烟")]
    threads.append(threading.Thread(target=service.reload))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_stats(shared_service: KnowledgeService) -> None:
    service = shared_service
    stats = service.stats()
    assert stats["per_kind"] == {"department": 5, "service": 7, "policy": 2}
    assert stats["files"] == 5 and stats["vectors"] == 16 and stats["embedder"] == "use-multilingual-v3"


def test_empty_knowledge_base_says_so(settings, store) -> None:  # type: ignore[no-untyped-def]
    service = KnowledgeService.open(settings, store=store)
    answer = service.ask("开饭店要办什么证")
    assert answer.route_to_desk and "还没有导入" in answer.text


def test_ask_many_answers_each_exactly_like_ask(shared_service: KnowledgeService) -> None:
    from knowledge.embedder import UniversalSentenceEncoderEmbedder

    questions = [
        "开饭店要办什么证？找哪个部门？",
        "",  # nothing to search for
        "😀😀",
        "我的环评拖了三个月没人管",  # to the desk, searched without the complaint words
        "税务局电话是多少",
        "稳岗补贴怎么申请" + "，具体情况是这样的" * 60,  # long: searched on its beginning
        "开饭店要办什么证？找哪个部门？",  # the same question twice in one batch
    ]
    batch = shared_service.ask_many(questions)
    assert len(batch) == len(questions)
    for question, got in zip(questions, batch, strict=True):
        want = shared_service.ask(question)
        assert (got.question, got.text, got.route_to_desk, got.reason) == (
            want.question, want.text, want.route_to_desk, want.reason)
        assert [h.record.id for h in got.hits] == [h.record.id for h in want.hits]
    assert batch[1].hits == [] and batch[3].route_to_desk and "较长" in batch[5].text
    # Batched query vectors are the one-by-one ones (the reason the answers agree).
    embedder = UniversalSentenceEncoderEmbedder()
    texts = ["开饭店要办什么证", "税务局电话", "稳岗补贴"]
    together = embedder.embed_queries(texts)
    for row, text in zip(together, texts, strict=True):
        assert float(row @ embedder.embed_query(text)) > 0.9999


def test_three_outcomes(shared_service: KnowledgeService) -> None:
    service = shared_service
    for chatter in ("你好", "谢谢", "今天天气怎么样", "帮我推荐一只股票"):
        answer = service.ask(chatter)
        assert answer.intent == "decline" and not answer.route_to_desk and answer.hits == [], chatter
    complaint = service.ask("补贴的钱到现在一分没见着，电话永远占线")
    assert complaint.intent == "desk" and complaint.route_to_desk
    person = service.ask("能不能找个工作人员跟我当面说")
    assert person.intent == "desk" and person.route_to_desk
    question = service.ask("营业执照丢了怎么补办")  # trouble words, still a question
    assert question.intent == "answer" and not question.route_to_desk


def test_questions_about_the_desk_are_answered_from_its_rules(shared_service: KnowledgeService) -> None:
    service = shared_service
    answer = service.ask("办不成事窗口反映以后多久能有结果？")
    assert answer.intent == "answer" and not answer.route_to_desk
    assert "工作日" in answer.text and "来源：" in answer.text
    assert any(h.record.source_file == "政企直通车服务说明" for h in answer.hits)
    unhappy = service.ask("对办不成事窗口的处理结果不满意怎么办")
    assert unhappy.intent == "answer" and "不满意" in unhappy.text


def test_a_homophone_typo_finds_the_item_and_says_so(shared_service: KnowledgeService) -> None:
    service = shared_service
    right = service.ask("营业执照怎么办")
    typo = service.ask("营业职照怎么办")
    assert "“营业职照”按“营业执照”理解" in typo.text
    assert typo.hits[0].record.id == right.hits[0].record.id
