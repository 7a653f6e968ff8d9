"""Knowledge page (admins): indexed files, upload → re-ingest with the change report, questions that
were marked 没用 or found nothing this week, and resolved tickets proposed as FAQ entries."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from dashboard import knowledge as kb
from dashboard.csrf import verify_csrf
from dashboard.deps import AdminStaff, DashboardState, SessionDep, StaffUser, StateDep
from dashboard.models import FaqDecision
from desk.errors import IllegalTransition, TicketNotFound
from desk.models import Ticket
from knowledge.currency import is_current

router = APIRouter(prefix="/knowledge")
WEEK = timedelta(days=7)


def _admin(state: DashboardState) -> kb.KnowledgeAdmin:
    admin = state.extra.get("kb_admin")
    if admin is None:
        admin = state.extra["kb_admin"] = kb.KnowledgeAdmin(state.settings)
    return admin  # type: ignore[no-any-return]


async def _page(
    request: Request,
    state: DashboardState,
    session: SessionDep,
    user: StaffUser,
    status: int = 200,
    **extra: Any,
) -> Response:

    since = state.clock.now() - WEEK
    today = state.clock.now().astimezone(state.desk.calendar.tz).date()
    sources = await kb.sources(session)
    context = {
        "user": user,
        "nav": "knowledge",
        "flash": request.session.pop("flash", ""),
        "sources": sources,
        "current": {s.id: is_current(s, today) for s in sources},
        "totals": await kb.record_totals(session),
        "last_ingest": max((s.ingested_at for s in sources), default=None),
        "downvoted": await kb.downvoted_questions(session, since),
        "unanswered": await kb.unanswered_questions(session, since),
        "proposals": await kb.faq_proposals(session),
        "extensions": "、".join(sorted(kb.supported_extensions())),
        "max_mb": state.settings.ingest.max_file_mb,
        "report": None,
        "upload_error": "",
        "today": today,
    }
    context.update(extra)
    return state.templates.TemplateResponse(request, "knowledge.html", context, status_code=status)


@router.get("")
async def knowledge_page(
    request: Request, state: StateDep, session: SessionDep, user: AdminStaff
) -> Response:
    return await _page(request, state, session, user)


@router.post("/upload", dependencies=[Depends(verify_csrf)])
async def upload(
    request: Request, state: StateDep, session: SessionDep, user: AdminStaff, file: UploadFile
) -> Response:
    limit = int(state.settings.ingest.max_file_mb * 1024 * 1024)
    data = await file.read(limit + 1)
    try:
        name = kb.check_upload(file.filename or "", len(data), state.settings)
    except kb.UploadRejected as exc:
        status = 413 if "过大" in str(exc) else 415 if "类型" in str(exc) else 400
        return await _page(
            request, state, session, user, status=status, upload_error=f"{exc} 知识库未做任何更改。"
        )
    report = await _admin(state).ingest_upload(name, data)
    status = 422 if report.failed else 200
    return await _page(
        request, state, session, user, status=status, report=report.summary_zh(), report_ok=report.ok
    )


async def _proposal(session: SessionDep, ticket_id: int) -> Ticket:
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        raise TicketNotFound(ticket_id)
    if await session.get(FaqDecision, ticket_id) is not None:
        raise IllegalTransition(f"工单 {ticket.number} 的常见问题建议已处理过。")
    if ticket.state not in ("resolved", "closed") or not ticket.resolution_note:
        raise IllegalTransition(f"工单 {ticket.number} 尚未办结，不能作为常见问题。")
    return ticket


@router.post("/faq/{ticket_id}/accept", dependencies=[Depends(verify_csrf)])
async def accept_faq(
    request: Request,
    ticket_id: int,
    state: StateDep,
    session: SessionDep,
    user: AdminStaff,
    question: Annotated[str, Form(min_length=2, max_length=500)],
    answer: Annotated[str, Form(min_length=2, max_length=8000)],
) -> Response:
    ticket = await _proposal(session, ticket_id)
    entry = kb.faq_entry(ticket, question, answer)
    path, report = await _admin(state).accept_faq(entry)
    if report.failed:
        return await _page(
            request, state, session, user, status=422, report=report.summary_zh(), report_ok=False
        )
    session.add(
        FaqDecision(
            ticket_id=ticket_id,
            accepted=True,
            decided_by=user.tg_user_id,
            decided_at=state.clock.now(),
            path=str(path.relative_to(state.settings.data_dir)),
        )
    )
    await session.commit()
    return await _page(
        request,
        state,
        session,
        user,
        report=report.summary_zh(),
        report_ok=True,
        flash=f"已采纳工单 {entry.number} 为常见问题，并已导入知识库。",
    )


@router.post("/faq/{ticket_id}/dismiss", dependencies=[Depends(verify_csrf)])
async def dismiss_faq(
    request: Request, ticket_id: int, state: StateDep, session: SessionDep, user: AdminStaff
) -> Response:
    ticket = await _proposal(session, ticket_id)
    session.add(
        FaqDecision(
            ticket_id=ticket_id, accepted=False, decided_by=user.tg_user_id, decided_at=state.clock.now()
        )
    )
    await session.commit()
    request.session["flash"] = f"已忽略工单 {ticket.number} 的常见问题建议。"
    return RedirectResponse("/knowledge", status_code=303)
