"""What in a message says the normal route failed or asks for a person (the desk's signals), and
whether a message reads as a question. Patterns, not question texts: each covers a family of phrasings.

Used by the answer composer (the desk reason it states), the intent classifier (as features) and the
bot (a message sent with a ticket open is answered only when it reads as a question).
"""

from __future__ import annotations

import re

# Expressions that say the normal route failed or ask for a person. Patterns, not question texts:
# each covers a family of phrasings (拖了三个月 / 拖了好久, 没人管 / 没人理 / 没人回复 ...).
_NUM = r"[\d一二三四五六七八九十两几半多好]+"
_SPAN = r"(个)?(多)?(天|日|周|星期|礼拜|月|年|小时)"
DESK_PATTERNS: tuple[tuple[str, str], ...] = (
    (
        rf"拖了?(很久|好久|太久|这么久|半天|{_NUM}{_SPAN})|一直拖|拖着|拖拖拉拉|拖延|"
        rf"(等|办|交|报|批|审)了?(很久|好久|太久|{_NUM}{_SPAN})(了)?.{{0,8}}(没|不|未)|"
        rf"{_SPAN}了.{{0,6}}(还|都|也|一直)(没|不|未)",
        "事项被拖延",
    ),
    (
        r"没(有)?人(管|理|回|处理|答复|接|来|受理|负责|问|联系|给)|无人(管|理|回应|处理|受理)|都不管|不管不问|"
        r"不理(人|睬)|爱答不理|(给|讨)(个)?说法",
        "反映没人处理",
    ),
    (
        r"推诿|推脱|推来推去|互相推|踢皮球|扯皮|让我找.{0,8}又让我找|两头跑|来回跑|"
        # "去几次窗口？" asks; "跑了四次" complains: the 了 makes the difference.
        rf"(跑|问|打|催|找|去|来)了(好|很)?({_NUM})(次|趟|遍|回)",
        "部门之间推诿或多次往返",
    ),
    (
        r"转人工|找人工|人工(客服|服务|坐席)|真人|找个人|找领导|领导(出面|过问|解决)|答非所问|"
        r"有人(能|可以)帮我|帮我(催|协调|反映)",
        "希望人工协助",
    ),
    (
        r"办不成|办不了|办不下来|办不好|办不通|没办成|不给(我)?办|不予(受理|办理)|拒绝(受理|办理)|被拒|"
        r"卡住|卡在|卡了|被卡|被退回|退回了?{0}次|反复(退回|补正|补材料)|每次(都说|理由)|"
        r"(走|转|转到|提交到|反映到|找)(一下)?[“\"]?办不成事".replace("{0}", _NUM),
        "正常渠道办不成",
    ),
    (r"投诉|不作为|刁难|吃拿卡要|乱收费|态度(很|太|特别|非常)?(差|恶劣|不好)", "投诉反映"),
    (
        r"没(有)?(回复|回音|下文|消息|进展|结果|动静|说法)|石沉大海|杳无音信|超期|超时|逾期未|过了(办理)?时限|"
        r"超过(办理)?时限|一直(没|不|未)(批|办|给|回|处理)|说好.{0,12}(没|还没|不|未)",
        "超期未办结",
    ),
)
# The desk's own name is not a complaint: "办不成事窗口是干嘛的" asks about it (the pattern above
# still catches "想走办不成事窗口").
DESK_NAME = re.compile(r"(?<![走转到找])办不成事(反映)?(窗口|专窗|专员)")
DESK_RE = [(re.compile(p), why) for p, why in DESK_PATTERNS]


# With a ticket open, a message is answered instead of relayed only when it reads as a question and the
# knowledge base answers it well ("公司注销要什么材料"); replies to the commissioner ("材料明天补上")
# are relayed as before.
_QUESTION_MARK = re.compile(r"[?？]|怎么|如何|哪里|哪个|哪些|在哪|什么|多少|几天|多久|能不能|可以吗|是否|吗[。！!]?$")


def reads_as_question(text: str) -> bool:
    return bool(_QUESTION_MARK.search(text))


def strip_desk_expressions(question: str) -> str:
    """The question without its complaint expressions: they say nothing about *what* is needed."""
    for pattern, _ in DESK_RE:
        question = pattern.sub(" ", question)
    return question


def desk_reason(question: str) -> str:
    """Why the question goes to the desk because the user says the normal route failed, else ""."""
    question = DESK_NAME.sub("办事窗口", question)
    reasons = [why for pattern, why in DESK_RE if pattern.search(question)]
    return "、".join(dict.fromkeys(reasons))


__all__ = ["DESK_NAME", "DESK_PATTERNS", "DESK_RE", "desk_reason", "reads_as_question", "strip_desk_expressions"]
