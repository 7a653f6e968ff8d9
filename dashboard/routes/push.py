"""惠企政策直达 (admins): campaigns waiting for review with their matches and exact message; approve, edit
the audience or discard; and what every push came to."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from dashboard.csrf import verify_csrf
from dashboard.deps import AdminStaff, DashboardState, StateDep
from knowledge.audience import Audience
from push.base import PushError
from push.campaigns import parse_audience_text

router = APIRouter(prefix="/push")

STATUS = {"pending": "待审核", "approved": "已批准", "discarded": "已放弃", "retired": "已被新版本替代"}
ORIGIN = {"front_matter": "文件声明", "proposed": "系统根据正文建议，请确认", "admin": "管理员修改"}


@router.get("")
async def push_page(request: Request, state: StateDep, user: AdminStaff) -> Response:
    await state.push.sync_from_knowledge()  # policies ingested since (the bot's push job does the same)
    outcomes = await state.push.outcomes()
    outcomes.sort(key=lambda o: (o.campaign.status != "pending", -(o.campaign.id or 0)))
    return state.templates.TemplateResponse(request, "push.html", {
        "user": user, "nav": "push", "flash": request.session.pop("flash", ""), "outcomes": outcomes,
        "status": STATUS, "outcome_days": state.settings.push.outcome_days,
    })


async def _detail(request: Request, state: DashboardState, user: Any, campaign_id: int, *, error: str = "",
                  audience_text: str | None = None, status: int = 200) -> Response:
    try:
        preview = await state.push.preview(campaign_id)
    except PushError as exc:
        return state.templates.TemplateResponse(request, "error.html", {"user": user, "title": "找不到",
                                                "message": exc.message}, status_code=404)
    (outcome,) = await state.push.outcomes(campaign_id)
    audience = preview.audience
    if audience_text is None:
        audience_text = "；".join(f"{label}={','.join(getattr(audience, dim))}"
                                 for dim, label in (("industries", "行业"), ("sizes", "规模"), ("districts", "区县"),
                                                    ("tags", "标签")))
    return state.templates.TemplateResponse(request, "push_detail.html", {
        "user": user, "nav": "push", "flash": request.session.pop("flash", ""), "p": preview, "o": outcome,
        "status": STATUS, "origin": ORIGIN, "error": error, "audience_text": audience_text,
    }, status_code=status)


@router.get("/{campaign_id}")
async def push_detail(request: Request, state: StateDep, user: AdminStaff, campaign_id: int) -> Response:
    return await _detail(request, state, user, campaign_id)


@router.post("/{campaign_id}/approve", dependencies=[Depends(verify_csrf)])
async def approve(request: Request, state: StateDep, user: AdminStaff, campaign_id: int) -> Response:
    try:
        campaign = await state.push.approve(campaign_id, by_tg_id=user.tg_user_id)
    except PushError as exc:
        return await _detail(request, state, user, campaign_id, error=exc.message, status=409)
    request.session["flash"] = f"已批准：{campaign.queued_count} 家企业将在工作时间内陆续收到。"
    return RedirectResponse(f"/push/{campaign_id}", status_code=303)


@router.post("/{campaign_id}/discard", dependencies=[Depends(verify_csrf)])
async def discard(request: Request, state: StateDep, user: AdminStaff, campaign_id: int) -> Response:
    try:
        await state.push.discard(campaign_id, by_tg_id=user.tg_user_id)
    except PushError as exc:
        return await _detail(request, state, user, campaign_id, error=exc.message, status=409)
    request.session["flash"] = "已放弃，不会发送。"
    return RedirectResponse(f"/push/{campaign_id}", status_code=303)


@router.post("/{campaign_id}/audience", dependencies=[Depends(verify_csrf)])
async def audience(request: Request, state: StateDep, user: AdminStaff, campaign_id: int,
                   text: Annotated[str, Form(max_length=2000)] = "") -> Response:
    try:
        parsed = parse_audience_text(text, list(state.settings.push.districts)) if text.strip("；; ") else Audience()
        await state.push.set_audience(campaign_id, parsed, by_tg_id=user.tg_user_id)
    except PushError as exc:
        return await _detail(request, state, user, campaign_id, error=exc.message, audience_text=text, status=400)
    request.session["flash"] = "已修改推送对象，请核对匹配结果与推送原文后再批准。"
    return RedirectResponse(f"/push/{campaign_id}", status_code=303)
