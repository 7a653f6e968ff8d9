"""Desk routing patterns and the card composer (no LLM)."""

from __future__ import annotations

import pytest

from knowledge.answer import compose
from knowledge.cards import policy_passage, service_card
from knowledge.desk_signals import desk_reason, strip_desk_expressions
from knowledge.retriever import RetrievalResult
from knowledge.types import Hit, Record

ROUTED = [
    "我的环评拖了三个月没人管",
    "营业执照的事拖了很久了",
    "两个部门互相推诿",
    "窗口之间踢皮球",
    "转人工",
    "我要找人工客服",
    "正常途径办不成，怎么办",
    "我要投诉窗口工作人员",
    "交上去没人理",
    "审批卡住了",
    "材料交了二十天了还没有回复",
    "已经跑了五趟了",
    "申请被退回三次了",
    "我想走办不成事窗口",
    "说好一周办完，现在还没办",
]
NOT_ROUTED = [
    "开饭店要办什么证",
    "办不成事窗口在哪里",
    "劳动局管不管拖欠工资",
    "需要去几次窗口",
    "营业执照办理要几天",
    "投资项目备案怎么办",
]


@pytest.mark.parametrize("question", ROUTED)
def test_complaints_and_requests_for_a_person_route(question: str) -> None:
    assert desk_reason(question), question


@pytest.mark.parametrize("question", NOT_ROUTED)
def test_ordinary_questions_do_not_route(question: str) -> None:
    assert desk_reason(question) == "", question


def test_complaint_words_are_stripped_for_search() -> None:
    stripped = strip_desk_expressions("我的环评拖了三个月没人管")
    assert "环评" in stripped and "没人管" not in stripped


SERVICE = Record(
    id="s" * 32,
    kind="service",
    title="食品经营许可证核发",
    department="示范市市场监督管理局",
    text="食品经营许可证核发",
    citation="services.xlsx › 食品经营许可证核发",
    data={
        "window": "A区3楼12号窗口",
        "materials": "申请书；营业执照",
        "time_limit": "10个工作日",
        "fee": "无",
    },
)
POLICY = Record(
    id="p" * 32,
    kind="policy",
    title="示范市稳岗补贴实施办法",
    department="示范市人力资源和社会保障局",
    text="二、补贴标准\n中小微企业按60%返还。大型企业按30%返还。资金直接拨付。",
    citation="稳岗.md › 二、补贴标准",
    section="二、补贴标准",
    data={"quote": "中小微企业按60%返还。大型企业按30%返还。资金直接拨付。"},
)


def test_service_card_has_only_the_fields_the_record_has() -> None:
    lines = service_card(SERVICE)
    text = "\n".join(lines)
    assert "事项：食品经营许可证核发" in text and "时限：10个工作日" in text
    assert "收费" not in text  # "无" is a placeholder, not a fact
    for absent in ("电话", "流程", "依据", "线上入口"):
        assert absent not in text


def test_policy_is_quoted_with_citation() -> None:
    lines = policy_passage(POLICY, "大型企业返还多少")
    assert "30%" in lines[1] and "「稳岗.md › 二、补贴标准」" in lines[1]


def test_compose_answer_routed_answer_and_sources() -> None:
    result = RetrievalResult(
        [Hit(SERVICE, 0.9), Hit(POLICY, 0.5)], confidence=0.8, coverage=0.7, dense_top=0.6
    )
    text = compose(
        "开饭店要什么证", result, route_to_desk=False, reason="", department="示范市市场监督管理局"
    )
    assert text.startswith("事项：食品经营许可证核发")
    assert "其他相关" in text and "示范市稳岗补贴实施办法" in text
    assert text.rstrip().endswith("来源：「services.xlsx › 食品经营许可证核发」")
    routed = compose(
        "许可证拖了三个月", result, route_to_desk=True, reason="事项被拖延", department="示范市市场监督管理局"
    )
    assert "办不成事" in routed and "服务专员" in routed and "示范市市场监督管理局" in routed
    nothing = RetrievalResult([Hit(SERVICE, 0.1)], confidence=0.01, coverage=0.0, dense_top=0.1)
    weak = compose("火星移民", nothing, route_to_desk=True, reason="", department="")
    assert "没有找到" in weak and "其他相关" not in weak and "食品经营许可证核发" not in weak


def test_amount_questions_also_quote_the_policy() -> None:
    result = RetrievalResult(
        [Hit(SERVICE, 0.9), Hit(POLICY, 0.6)], confidence=0.8, coverage=0.7, dense_top=0.6
    )
    text = compose("补贴标准是多少", result, route_to_desk=False, reason="", department="")
    assert "相关政策：《示范市稳岗补贴实施办法》" in text and "60%" in text
    assert "「稳岗.md › 二、补贴标准」" in text.splitlines()[-1]
    plain = compose("去哪个窗口", result, route_to_desk=False, reason="", department="")
    assert "相关政策" not in plain


def _policy(section: str, text: str, department: str = "示范市人力资源和社会保障局") -> Record:
    return Record(id=section, kind="policy", title="稳岗返还办法", department=department, text=text,
                  citation=f"稳岗.md › {section}", source_file="稳岗.md", section=section, data={"quote": text})


def test_a_policy_question_leads_with_the_section_that_answers_it() -> None:
    from knowledge.answer import lead_record

    overview = _policy("一、支持对象", "参保企业上年度未裁员的，可享受稳岗返还。")
    how = _policy("三、申领方式", "企业登录网上经办系统提交申请，人社部门审核后直接拨付。")
    materials = _policy("四、申报材料", "申请表、营业执照复印件、银行账户信息。")
    hits = [Hit(overview, 1.0), Hit(materials, 0.8), Hit(how, 0.7)]
    assert lead_record(hits, "稳岗返还怎么申请？") is how
    assert lead_record(hits, "稳岗返还要交什么材料") is materials
    assert lead_record(hits, "哪些企业可以享受稳岗返还") is overview  # 条件 → the section already leading


def test_a_where_question_leads_with_the_service_card_not_a_guide_passage() -> None:
    from knowledge.answer import lead_record

    guide = _policy("二、需要办理的事项", "营业执照由市场监管局办理。", department="示范市市场监督管理局")
    card = Record(id="s1", kind="service", title="个体工商户设立登记", department="示范市市场监督管理局",
                  text="个体工商户设立登记", citation="services.xlsx › 个体工商户设立登记")
    hits = [Hit(guide, 1.0), Hit(card, 0.9)]
    assert lead_record(hits, "营业执照在哪办") is card
    assert lead_record(hits, "开餐饮店有什么补贴政策") is guide  # a policy question keeps the passage


def test_the_bot_does_not_list_the_sources_twice() -> None:
    from handlers import render
    from knowledge.answer import Answer

    record = _policy("三、申领方式", "企业登录网上经办系统提交申请。")
    answer = Answer("怎么申请", "《稳岗返还办法》\n“企业登录网上经办系统提交申请。”\n\n来源：「稳岗.md › 三、申领方式」",
                    False, hits=[Hit(record, 1.0), Hit(_policy("一、支持对象", "x"), 0.5)])
    text = "\n".join(render.answer_messages(answer))
    assert text.count("来源") == 1 and "依据" not in text
