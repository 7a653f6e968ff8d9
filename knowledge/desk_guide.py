"""The desk's own rules, as answerable text: questions about the 办不成事 desk are answered, not escalated.

"办不成事窗口受理哪些事？多久有回复？不满意怎么办？" asks about the desk; sending it to the desk
would make the owner file a ticket to learn how tickets work. The rules below are Zhitong's own
behaviour (states, deadlines from `[desk]` in config.toml, rating and reopening), so they hold in
every city; a city's own desk document (any ingested policy that names the desk) is preferred when
it answers the question better, and is cited then.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.config import DeskSettings
from knowledge.types import Record

GUIDE_TITLE = "政企直通车“办不成事”反映窗口服务说明"
GUIDE_FILE = "政企直通车服务说明"
# Words that mark a policy record as being about the desk (the city's own rules).
DESK_WORDS = ("办不成事", "反映窗口", "反映专窗", "服务专员")


def _hours(value: float) -> str:
    return f"{value:g}"


def guide_sections(desk: DeskSettings) -> list[tuple[str, str]]:
    """(heading, text) of each rule, with this deployment's deadlines."""
    accept = _hours(desk.accept_within_hours)
    return [
        (
            "能帮您做什么",
            "政企直通车回答企业“找谁办、怎么办”：哪个部门、哪个窗口负责，地址电话、办公时间、办理材料、"
            "办理时限、收费和政策依据，每条回答都注明来源。按正常渠道办不成的事，可以转“办不成事”反映窗口，"
            "由政务服务专员限时跟进。",
        ),
        (
            "受理范围",
            "“办不成事”反映窗口受理企业按正常渠道办不成、办不好、办得慢的事：符合条件却办不下来、"
            "来回跑多次仍办不成的事项；部门之间推诿、无人受理的事项；超过承诺时限仍未办结的事项；"
            "需要跨部门协调的疑难事项；对办事效率和服务态度的意见。也可以直接要求由工作人员人工协助。",
        ),
        (
            "不受理的情形",
            "已进入诉讼、仲裁、行政复议程序的事项，依法按原渠道处理；与政府职责无关的私人事务不在受理范围。"
            "普通的办事咨询可以直接提问，机器人会告诉您找哪个部门、怎么办。反映不收取任何费用。",
        ),
        (
            "怎么反映",
            "在机器人里点“转人工（办不成事）”按钮，或发送 /desk，按提示说明要办的事项、卡在哪里、已经找过哪些部门，"
            "确认后即生成工单并告诉您工单编号；照片和文件可以直接发给机器人作为材料。"
            "发送 /mytickets 可随时查看工单进度。",
        ),
        (
            "办理时限",
            f"工单提交后，服务专员在 {accept} 个工作小时内受理；受理后 {desk.resolve_within_days} 个工作日内办结"
            "（按法定工作日计算，节假日顺延）。临近时限会提醒承办人，超期的工单自动升级，由领导督办。"
            "每一步进展都会通过机器人通知您。",
        ),
        (
            "结果评价与不满意",
            f"办结后请对结果评价：满意、基本满意或不满意，可以附上意见。评价为不满意的，工单会重新打开继续办理，"
            f"并在 {desk.followup_within_days} 个工作日内回访；{desk.rating_within_days} 天内未评价的，按未评价办结。",
        ),
        (
            "服务专员",
            "政务服务专员由各部门安排，负责跟进企业反映的事项：认领工单、联系相关部门、需要时请您补充材料，"
            "办结后反馈结果。登记企业信息（/register）后，可以看到为您服务的专员。",
        ),
    ]


# Words people use when asking about each rule: matched, never shown.
_ASKED_WITH: dict[str, str] = {
    "能帮您做什么": "你能做什么 能干什么 功能 怎么用 帮我 机器人 直通车 是什么",
    "受理范围": "受理哪些事 管什么 什么事 范围 干什么的 作用 反映什么",
    "不受理的情形": "不受理 不管 官司 诉讼 仲裁 复议 收费 要钱 免费",
    "怎么反映": "怎么反映 提交 在哪 网上 入口 怎么找 流程 步骤 进度 查询",
    "办理时限": "多久 几天 多长时间 时限 期限 回复 答复 什么时候 超期 快",
    "结果评价与不满意": "评价 不满意 满意 重新办 打分 投诉结果 结果不好",
    "服务专员": "专员 谁负责 谁安排 联系专员 服务专员是谁",
}


def guide_records(desk: DeskSettings) -> list[Record]:
    """The rules as records the answer composer can quote and cite."""
    records = []
    for i, (heading, text) in enumerate(guide_sections(desk)):
        records.append(
            Record(
                id=f"desk-guide-{i}",
                kind="policy",
                title=GUIDE_TITLE,
                department="",
                text=f"{GUIDE_TITLE} › {heading}\n{text}\n{_ASKED_WITH.get(heading, '')}",
                citation=f"{GUIDE_FILE} › {heading}",
                source_file=GUIDE_FILE,
                section=heading,
                data={"quote": text},
            )
        )
    return records


def is_about_desk(record: Record) -> bool:
    """True for a city's own record about the desk: its rules document, or the department (section)
    whose duties name the desk — that card says where the desk is and when it is open."""
    if record.kind == "policy":
        head = f"{record.title} {record.section}"
        return any(word in head or word in record.text[:200] for word in DESK_WORDS[:3])
    return record.kind == "department" and any(word in record.text for word in DESK_WORDS[:3])


def desk_records(records: Sequence[Record]) -> list[Record]:
    return [r for r in records if is_about_desk(r)]
