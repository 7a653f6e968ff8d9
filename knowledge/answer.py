"""Answers from retrieved records: the composer, what an answer leads with, decline and desk texts.

Without an LLM (the default) every sentence of an answer is either a fixed Chinese phrase or copied
from a record: a service card lists only the fields the record has, a policy answer quotes the
passage (knowledge.cards renders them). The optional LLM (knowledge.llm_rewrite) may only rephrase
the same sources. Policy text is data, never instructions.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from knowledge.cards import (
    best_passage,
    brief,
    cite,
    clip,
    department_card,
    field_value,
    policy_passage,
    record_lines,
)
from knowledge.retriever import RetrievalResult
from knowledge.types import Hit, Record

log = logging.getLogger(__name__)

DESK_OFFER = "可转“办不成事”反映窗口，由服务专员跟进。"
EMPTY_PROMPT = "请用文字描述您要咨询的事项，例如：“开饭店要办什么证？找哪个部门？”"
# With a ticket open, a message is answered instead of relayed only when it reads as a question
# (knowledge.desk_signals) and the knowledge base answers it at least this well.
NEW_QUESTION_CONFIDENCE = 0.45

# Questions about amounts, ratios, conditions or policy content.
_DETAIL_QUESTION = re.compile(
    r"多少|几个|几成|比例|标准|额度|上限|最高|最多|最低|金额|多少钱|补贴|补助|奖励|奖补|减免|贴息|返还|条件|政策|资格|能不能享受"
)

@dataclass(slots=True)
class Answer:
    """What `KnowledgeService.ask` returns; `to_json` is the `ask --json` contract of DESIGN.md."""

    question: str
    text: str
    route_to_desk: bool
    reason: str = ""
    hits: list[Hit] = field(default_factory=list)
    latency_ms: float = 0.0
    confidence: float = 0.0
    department: str = ""  # the best department when one is clear (for the desk), else ""
    # "answer" | "desk" | "decline" (DESIGN.md); route_to_desk is true exactly when it is "desk".
    intent: str = "answer"

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.text,
            "intent": self.intent,
            "route_to_desk": self.route_to_desk,
            "matches": [
                {
                    "kind": h.record.kind,
                    "title": h.record.title,
                    "department": h.record.department,
                    "score": round(float(h.score), 4),
                    "source": h.record.citation or h.record.source_file,
                }
                for h in self.hits
            ],
            "latency_ms": round(self.latency_ms, 1),
        }


# Decline: a friendly line that says what the bot is for, and two questions it can answer.
DECLINE_EXAMPLES = "例如：“开饭店要办什么证？找哪个部门？”“招了新员工，社保登记怎么办？”"
_GREETING = re.compile(r"^\s*(你好|您好|嗨|哈喽|hello|hi|在吗|在不在|早上好|下午好|晚上好|喂)[呀啊吗呢!！。~～,，\s]*$", re.I)
_THANKS = re.compile(r"谢谢|感谢|多谢|辛苦了|thank", re.I)
_BYE = re.compile(r"再见|拜拜|bye", re.I)


def decline_text(question: str) -> str:
    """The reply to a message that is not a government matter: no desk offer, no citations."""
    if _GREETING.match(question):
        opening = "您好！我是政企直通车。"
    elif _THANKS.search(question):
        opening = "不客气！"
    elif _BYE.search(question):
        opening = "再见，有需要随时找我。"
    else:
        opening = "抱歉，这个问题不在我的服务范围内。"
    return (
        f"{opening}我专门解答企业办事“找谁办、怎么办”：哪个部门负责、在哪里办、要带什么材料、多久办好、"
        f"有什么政策。{DECLINE_EXAMPLES}"
    )


def meta_text(question: str, records: Sequence[Record], *, note: str = "") -> str:
    """The answer to a question about the desk or the bot: the matching rules, quoted and cited."""
    lines = [note] if note else []
    lines.append("关于“办不成事”反映窗口：")
    for record in records:
        if record.kind == "department":  # the department that runs the desk: where and when
            lines.extend(department_card(record, question))
            continue
        body = field_value(record.data, ("quote",)) or record.text
        body = re.sub(r"(?m)^\s*#{1,6}\s*", "", body)
        quote = best_passage(body, question, limit=320) or clip(body, 320)
        lines.append(f"{quote} {cite(record)}")
    lines.append("")
    lines.append("来源：" + "；".join(dict.fromkeys(cite(r) for r in records)))
    return "\n".join(lines)


def answers_a_new_question(answer: Answer) -> bool:
    """True when the knowledge core answered this message well enough to treat it as a new consultation."""
    return answer.intent == "answer" and answer.confidence >= NEW_QUESTION_CONFIDENCE


# What a policy question asks about → words of the section heading that answers it.
_ASPECTS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = (
    (re.compile(r"怎么申请|如何申请|怎么申报|如何申报|怎么领|怎样领|怎么办理|申领|去哪申请|在哪申请|哪里申请|怎么兑现"),
     ("申领", "申报方式", "申请方式", "申报程序", "办理流程", "申报流程", "申请程序", "兑现方式", "申报", "办理程序")),
    (re.compile(r"材料|带什么|准备什么|提交什么|要啥"), ("材料",)),
    (re.compile(r"条件|资格|哪些企业|什么企业|谁能|能不能享受|符合"), ("条件", "对象", "范围")),
    (re.compile(r"多少|标准|金额|额度|比例|最高|上限"), ("标准", "金额", "额度", "内容")),
    (re.compile(r"什么时候|截止|期限|时间|几月"), ("时间", "期限", "截止")),
)


def lead_record(hits: Sequence[Hit], question: str) -> Record:
    """The record an answer leads with: usually the best match, but

    - a question about how/where to get something done, answered best by a guide's passage, leads with
      the service card of that department when one is among the best three (the card has the window,
      materials and time limit; the passage stays among the related items);
    - a policy question leads with the passage of the same document whose heading answers what is
      asked (申领方式 for "怎么申请", 申报材料 for "要什么材料"), when one is among the matches.
    """
    top = hits[0].record
    if top.kind != "policy":
        return top
    if not _POLICY_WORDS.search(question):
        service = next(
            (h.record for h in hits[1:3] if h.record.kind == "service" and h.record.department == top.department), None
        )
        if service is not None:
            return service
    for pattern, headings in _ASPECTS:
        if not pattern.search(question):
            continue
        same_document = [top] + [
            h.record for h in hits[1:6] if h.record.kind == "policy" and h.record.source_file == top.source_file
        ]
        for word in headings:  # most specific heading first: 申领方式 before a bare 申报
            for record in same_document:
                if word in record.section:
                    return record
        break
    return top


_POLICY_WORDS = re.compile(
    r"政策|补贴|补助|奖励|奖补|减免|优惠|扶持|资助|贴息|退税|免征|返还|措施|办法|通知|细则|文件|申报|多少钱|标准|额度"
)


def best_department(result: RetrievalResult, min_confidence: float) -> str:
    """The department to point to: one the question names, else the top match's if it is good enough."""
    if len(result.mentioned) == 1:
        return result.mentioned[0]
    if result.hits and result.confidence >= min_confidence * 0.6:
        return result.hits[0].record.department
    return ""


def compose(
    question: str,
    result: RetrievalResult,
    *,
    route_to_desk: bool,
    reason: str,
    department: str,
    department_record: Record | None = None,
    note: str = "",
) -> str:
    """The Chinese answer, from the best matches only; every answer ends with its sources.

    `department_record` is the department's own card (from the index), used when the answer points
    to a department that is not itself among the hits.
    """
    lines: list[str] = []
    if note:
        lines.append(note)
    cited: list[Record] = []
    hits = result.hits

    def card_for(dept: str) -> Record | None:
        if department_record is not None and department_record.department == dept:
            return department_record
        return next(
            (h.record for h in hits if h.record.kind == "department" and h.record.department == dept), None
        )

    if route_to_desk:
        if reason:
            lines.append(f"了解到您的情况（{reason}）。{DESK_OFFER}")
        else:
            lines.append(f"抱歉，服务联络簿和政策文件中没有找到与您的问题足够匹配的内容。{DESK_OFFER}")
        if department:
            lines.append("")
            lines.append(f"与您的问题相关的部门：{department}")
            dept_record = card_for(department)
            if dept_record is not None:
                lines.extend(department_card(dept_record, question)[1:])
                cited.append(dept_record)
            item = next((h.record for h in hits if h.record.department == department), None)
            if item is not None and item.kind != "department" and reason:
                label = "事项" if item.kind == "service" else "政策"
                lines.append(f"相关{label}：{item.title}")
                cited.append(item)
    elif hits:
        top = lead_record(hits, question)
        lines.extend(record_lines(top, question))
        cited.append(top)
        # A service card without contact details gets its department's card (a cited source too).
        if top.kind == "service" and not any(line.startswith(("电话", "窗口")) for line in lines):
            dept_record = card_for(top.department)
            if dept_record is not None:
                lines.extend(f"部门{line}" for line in department_card(dept_record, question)[1:])
                cited.append(dept_record)
        # Amounts, ratios and conditions live in policy text more often than in directory cards:
        # when the question asks for them, quote the best policy match too.
        if top.kind != "policy" and _DETAIL_QUESTION.search(question):
            policy = next((h.record for h in hits[1:4] if h.record.kind == "policy"), None)
            if policy is not None:
                lines.append("")
                lines.append("相关政策：" + policy_passage(policy, question)[0])
                lines.append(policy_passage(policy, question)[1])
                cited.append(policy)
    # When nothing matched well, unrelated "related" items would only mislead.
    weak = route_to_desk and not department
    # Overlapping chunks of one section look identical in a one-line summary: list each once.
    briefs = [] if weak else list(dict.fromkeys(brief(h) for h in hits if h.record not in cited))[:3]
    if briefs:
        lines.append("")
        lines.append("其他相关：")
        lines.extend(briefs)
    if cited:
        lines.append("")
        lines.append("来源：" + "；".join(dict.fromkeys(cite(r) for r in cited)))
    return "\n".join(lines).strip()
