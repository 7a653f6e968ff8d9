"""Queue, ticket page and its actions, overdue board. Every action is one Desk call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from dashboard import queries
from dashboard.csrf import verify_csrf
from dashboard.deps import SessionDep, StateDep, TicketStaff
from desk import notices
from desk.errors import DeskError
from desk.models import Enterprise
from desk.overdue import accept_late, handle_late
from desk.states import TicketState

router = APIRouter()
# Every POST here needs the session's CSRF token; a refusal changes nothing.
actions = APIRouter(prefix="/tickets/{ticket_id}", dependencies=[Depends(verify_csrf)])

TextField = Annotated[str, Form(max_length=8000)]

STATE_CHOICES = [("", "全部未销号"), *((s.value, s.label) for s in TicketState), ("all", "全部（含已销号）")]
ACTION_AUDIT_LABELS = {
    "create": "提交工单",
    "claim": "认领受理",
    "start": "开始办理",
    "wait_enterprise": "请企业补充材料",
    "resume": "恢复办理",
    "escalate": "升级督办",
    "reassign": "领导交办",
    "add_department": "增加会办部门",
    "resolve": "办结",
    "rate": "企业评价",
    "reopen": "重新办理",
    "close": "销号",
    "accept_overdue": "接收超期",
    "resolve_overdue": "处置超期",
    "followup_done": "完成回访",
    "followup_closed": "回访随工单关闭",
    "waiting_reminder": "提醒企业补充材料",
    "waiting_giveup": "企业久未补充，请专员跟进",
    "accept_warn": "受理时限将到（提醒）",
    "resolve_warn": "办结时限将到（提醒）",
    "followup_warn": "回访时限将到（提醒）",
    "followup_overdue": "回访超期",
    "escalate_overdue": "超期自动升级督办",
    "rating_reminder": "提醒企业评价",
    "auto_close": "逾期未评价，自动销号",
    "rating_comment": "企业补充评价意见",
    "enterprise_register": "企业登记",
    "staff_add": "添加工作人员",
    "staff_remove": "停用工作人员",
    "note": "内部备注",
    "handover": "转给同事",
}
AUTHOR_LABELS = {"enterprise": "企业", "staff": "工作人员", "system": "系统", "note": "内部备注（仅工作人员可见）"}


def _flash(request: Request) -> str:
    value = request.session.pop("flash", "")
    return value if isinstance(value, str) else ""


@router.get("/queue")
async def queue(
    request: Request,
    state: StateDep,
    session: SessionDep,
    user: TicketStaff,
    f_state: Annotated[str, Query(alias="state", max_length=32)] = "",
    department: Annotated[str, Query(max_length=100)] = "",
    assignee: Annotated[str, Query(max_length=16)] = "",
    overdue: Annotated[str, Query(max_length=4)] = "",
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
) -> Response:
    valid_states = {value for value, _ in STATE_CHOICES}
    filters = queries.QueueFilters(
        state=f_state if f_state in valid_states else "",
        department=department.strip(),
        assignee=assignee.strip(),
        overdue=overdue in ("1", "on", "true"),
        page=page,
    )
    desk = state.desk
    result = await queries.queue_page(
        session,
        user,
        filters,
        now=state.clock.now(),
        calendar=desk.calendar,
        warn_fraction=desk.cfg.warn_at_fraction,
    )
    departments, people = await queries.filter_options(session, user)
    return state.templates.TemplateResponse(
        request,
        "queue.html",
        {
            "bulk_targets": await queries.bulk_targets(session, user),
            "user": user,
            "nav": "queue",
            "flash": _flash(request),
            "f": filters,
            "result": result,
            "state_choices": STATE_CHOICES,
            "departments": departments,
            "people": people,
        },
    )


@router.get("/tickets/{ticket_id}")
async def ticket_page(
    request: Request, ticket_id: int, state: StateDep, session: SessionDep, user: TicketStaff
) -> Response:
    desk = state.desk
    # The desk checks that this person may see the ticket (another department's id → 403 page).
    ticket = await desk.get_ticket(ticket_id, staff_tg_id=user.tg_user_id)
    messages = await desk.messages(ticket_id)
    audit = await desk.audit_log(ticket_id)
    ratings = await desk.ratings(ticket_id)
    # What the enterprise was (or will be) told, in the words the bot uses (desk.notices).
    outbox = [
        (n, notices.render(n.kind, n.audience, n.payload, desk.fmt, "telegram", legacy_text=n.text))
        for n in await queries.enterprise_outbox(session, ticket_id)
    ]
    enterprise = await session.get(Enterprise, ticket.enterprise_id) if ticket.enterprise_id else None
    return state.templates.TemplateResponse(
        request,
        "ticket.html",
        {
            "user": user,
            "nav": "queue",
            "flash": _flash(request),
            "t": ticket,
            # The overdue badges by the one rule (desk.overdue) the queue and the 督办 board use.
            "accept_late": accept_late(ticket, state.clock.now()),
            "handle_late": handle_late(ticket, state.clock.now()),
            "enterprise": enterprise,
            "time_left": queries.time_left(
                ticket, state.clock.now(), queries.WorkingSpan(desk.calendar), desk.cfg.warn_at_fraction
            ),
            "messages": messages,
            "audit": audit,
            "ratings": ratings,
            "followups": await queries.ticket_followups(session, ticket_id),
            "outbox": outbox,
            "audit_labels": ACTION_AUDIT_LABELS,
            "author_labels": AUTHOR_LABELS,
            "state_labels": {s.value: s.label for s in TicketState},
            "all_departments": await queries.known_departments(session),
            "assignable": await queries.assignable_staff(session) if user.is_leader else [],
            # A commissioner's 转给同事 picker, for the ticket they hold (or nobody holds yet): only colleagues
            # who may act on it.
            "colleagues": await desk.handover_targets(ticket_id, user.tg_user_id)
            if not user.is_leader and ticket.state not in ("closed", "resolved", "escalated")
            and ticket.assignee_tg_id in (None, user.tg_user_id) else [],
        },
    )


async def _act(request: Request, ticket_id: int, done: str, call: Callable[[], Awaitable[Any]]) -> Response:
    """Run one desk call; on success flash a note and go back to the ticket (post/redirect/get)."""
    await call()
    request.session["flash"] = done
    return RedirectResponse(f"/tickets/{ticket_id}", status_code=303)


@actions.post("/claim")
async def claim(request: Request, ticket_id: int, state: StateDep, user: TicketStaff) -> Response:
    return await _act(
        request, ticket_id, "已认领受理。", lambda: state.desk.claim(ticket_id, user.tg_user_id)
    )


@actions.post("/reply")
async def reply(
    request: Request, ticket_id: int, state: StateDep, user: TicketStaff, text: TextField
) -> Response:
    # Stored with an outbox row in the same transaction; the bot delivers it to the enterprise.
    return await _act(
        request,
        ticket_id,
        "回复已保存，将由机器人发送给企业。",
        lambda: state.desk.add_message(ticket_id, "staff", user.tg_user_id, text),
    )


@actions.post("/note")
async def add_note(
    request: Request, ticket_id: int, state: StateDep, user: TicketStaff, text: TextField
) -> Response:
    # Stored with the messages but never queued to the enterprise.
    return await _act(
        request, ticket_id, "内部备注已保存（仅工作人员可见，不会发给企业）。",
        lambda: state.desk.add_note(ticket_id, user.tg_user_id, text),
    )


@actions.post("/materials")
async def request_materials(
    request: Request, ticket_id: int, state: StateDep, user: TicketStaff, text: TextField
) -> Response:
    return await _act(
        request,
        ticket_id,
        "已请企业补充材料，办结计时暂停。",
        lambda: state.desk.wait_for_enterprise(ticket_id, user.tg_user_id, text),
    )


@actions.post("/resume")
async def resume(request: Request, ticket_id: int, state: StateDep, user: TicketStaff) -> Response:
    return await _act(
        request, ticket_id, "已恢复办理。", lambda: state.desk.resume(ticket_id, user.tg_user_id)
    )


@actions.post("/department")
async def add_department(
    request: Request,
    ticket_id: int,
    state: StateDep,
    user: TicketStaff,
    department: Annotated[str, Form(max_length=200)],
) -> Response:
    return await _act(
        request,
        ticket_id,
        "已增加会办部门。",
        lambda: state.desk.add_department(ticket_id, user.tg_user_id, department),
    )


@actions.post("/resolve")
async def resolve(
    request: Request, ticket_id: int, state: StateDep, user: TicketStaff, note: TextField
) -> Response:
    return await _act(
        request,
        ticket_id,
        "已办结，已请企业评价。",
        lambda: state.desk.resolve(ticket_id, user.tg_user_id, note),
    )


@actions.post("/escalate")
async def escalate(
    request: Request, ticket_id: int, state: StateDep, user: TicketStaff, reason: TextField
) -> Response:
    return await _act(
        request,
        ticket_id,
        "已升级，提请领导督办。",
        lambda: state.desk.escalate(ticket_id, user.tg_user_id, reason),
    )


@actions.post("/reassign")
async def reassign(
    request: Request,
    ticket_id: int,
    state: StateDep,
    user: TicketStaff,
    to_staff: Annotated[int, Form()],
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    # 领导交办: the desk refuses anyone but a leader.
    return await _act(
        request,
        ticket_id,
        "已交办。",
        lambda: state.desk.reassign(ticket_id, user.tg_user_id, to_staff, reason.strip()),
    )


@actions.post("/handover")
async def hand_over(
    request: Request,
    ticket_id: int,
    state: StateDep,
    user: TicketStaff,
    to_staff: Annotated[int, Form()],
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    # A commissioner hands a ticket to a colleague of the same department (the desk checks who may take it).
    return await _act(
        request, ticket_id, "已转给同事。",
        lambda: state.desk.hand_over(ticket_id, user.tg_user_id, to_staff, reason.strip()),
    )


@actions.post("/close")
async def close(
    request: Request, ticket_id: int, state: StateDep, user: TicketStaff, note: TextField
) -> Response:
    return await _act(
        request, ticket_id, "已对账销号。", lambda: state.desk.close(ticket_id, user.tg_user_id, note)
    )


router.include_router(actions)


MAX_BULK = 100


@router.post("/bulk", dependencies=[Depends(verify_csrf)])
async def bulk(
    request: Request,
    state: StateDep,
    user: TicketStaff,
    action: Annotated[str, Form(max_length=16)],
    ticket: Annotated[list[int], Form()] = [],  # noqa: B006 (FastAPI reads the default, never mutates it)
    to_staff: Annotated[int | None, Form()] = None,
) -> Response:
    """Claim, hand over (commissioners) or 交办 (leaders) several tickets at once: each is one desk call with
    the desk's own checks; what one refuses is listed and the others go ahead."""
    desk = state.desk
    if action not in ("claim", "handover") or (action == "handover" and to_staff is None):
        request.session["flash"] = "请选择要做的操作（认领或转交）及转交对象。"
        return RedirectResponse("/queue", status_code=303)
    ids = list(dict.fromkeys(ticket))[:MAX_BULK]
    if not ids:
        request.session["flash"] = "请先勾选工单。"
        return RedirectResponse("/queue", status_code=303)
    done: list[str] = []
    refused: list[str] = []
    for ticket_id in ids:
        try:
            if action == "claim":
                t = await desk.claim(ticket_id, user.tg_user_id)
            else:
                assert to_staff is not None
                t = await desk.hand_over(ticket_id, user.tg_user_id, to_staff)
            done.append(t.number or str(ticket_id))
        except DeskError as exc:
            refused.append(f"{ticket_id}：{exc.message}")
    what = "认领" if action == "claim" else ("交办" if user.is_leader else "转交")
    summary = f"已{what} {len(done)} 张工单" + (f"（{'、'.join(done)}）" if done else "") + "。"
    if refused:
        summary += f"{len(refused)} 张未能处理：" + "；".join(refused[:10])
    request.session["flash"] = summary
    return RedirectResponse("/queue", status_code=303)


@router.get("/followups")
async def followups(
    request: Request, state: StateDep, session: SessionDep, user: TicketStaff, done: int = 0
) -> Response:
    """回访 tasks on the tickets this person may act on, with their deadlines; done ones on request."""
    rows = await queries.followup_tasks(session, user, now=state.clock.now(), open_only=not done)
    return state.templates.TemplateResponse(
        request, "followups.html",
        {"user": user, "nav": "followups", "rows": rows, "done": bool(done), "flash": _flash(request)},
    )


@router.post("/followups/{followup_id}/done", dependencies=[Depends(verify_csrf)])
async def complete_followup(
    request: Request, followup_id: int, state: StateDep, user: TicketStaff, note: TextField,
    back: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Record the 回访 (the same desk call as 记录回访 in the staff topic); back to the list or the ticket."""
    await state.desk.complete_followup(followup_id, user.tg_user_id, note)
    request.session["flash"] = "回访记录已保存。"
    target = back if back.startswith("/tickets/") and back[len("/tickets/"):].isdigit() else "/followups"
    return RedirectResponse(target, status_code=303)


@router.get("/overdue")
async def overdue(request: Request, state: StateDep, session: SessionDep, user: TicketStaff) -> Response:
    desk = state.desk
    depts, rows = await queries.overdue_board(
        session, user, now=state.clock.now(), calendar=desk.calendar, warn_fraction=desk.cfg.warn_at_fraction
    )
    return state.templates.TemplateResponse(
        request, "overdue.html", {"user": user, "nav": "overdue", "depts": depts, "rows": rows}
    )
