"""`zhitong push list | preview ID | audience ID TEXT | approve ID | discard ID | stats [ID]`: 惠企政策直达 from a
terminal, for the local administrator. The same PushService as the bot and the dashboard; `list` first
opens campaigns for policies ingested since (as the bot's push job does)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from cli import settings_from

T = TypeVar("T")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

push_app = typer.Typer(help="惠企政策直达：审核并推送新政策给适用的企业。", no_args_is_help=True)
CampaignId = Annotated[int, typer.Argument(help="政策推送编号（zhitong push list 中的 #）")]

STATUS = {"pending": "待审核", "approved": "已批准", "discarded": "已放弃", "retired": "已被新版本替代"}
ORIGIN = {"front_matter": "文件声明", "proposed": "系统建议（待确认）", "admin": "管理员修改"}


def _run(ctx: typer.Context, work: Callable[[Any], Awaitable[T]]) -> T:
    """Open a PushService on the configured database, run `work(service)`, close; errors in red, exit 1."""
    # imported when the command runs, so `zhitong --help` stays fast (see cli/__init__.py)
    from core.db import init_db, make_async_engine, make_sessionmaker
    from push.base import PushError
    from push.service import PushService

    settings = settings_from(ctx)

    async def main() -> T:
        engine = make_async_engine(settings.database_url, database=settings.database)
        try:
            await init_db(engine)
            return await work(PushService(make_sessionmaker(engine), settings))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except PushError as exc:
        err.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from exc


@push_app.command("list")
def list_cmd(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option("--status", help="只看 pending/approved/discarded/retired")] = None,
) -> None:
    """列出政策推送（先为新入库的政策生成待审核推送）。"""
    async def work(service: Any) -> list[Any]:
        await service.sync_from_knowledge()
        return list(await service.list_campaigns(status))

    campaigns = _run(ctx, work)
    if not campaigns:
        out.print("没有政策推送。入库带有补贴、减免等内容的政策文件后会生成待审核推送。")
        return
    for c in campaigns:  # lines, not a table: Chinese titles are too wide for a terminal's columns
        out.print(f"#{c.id}《{c.title or c.policy_name}》 {c.department or '未注明部门'} [bold]{STATUS.get(c.status, c.status)}[/bold]"
                  f" 推送对象：{ORIGIN.get(c.audience_origin, c.audience_origin)}" + (f" 已排队 {c.queued_count} 家"
                  if c.status == "approved" else ""))


@push_app.command("preview")
def preview_cmd(ctx: typer.Context, campaign_id: CampaignId) -> None:
    """查看推送对象、匹配的企业数与原因，以及推送原文。"""
    preview = _run(ctx, lambda service: service.preview(campaign_id))
    c, r = preview.campaign, preview.recipients
    out.print(f"[bold]#{c.id}《{c.title or c.policy_name}》[/bold]（{c.department or '未注明部门'}）"
              f" 状态：{STATUS.get(c.status, c.status)}")
    out.print(f"推送对象（{ORIGIN.get(c.audience_origin, c.audience_origin)}）：{preview.audience.describe()}")
    if c.unknown_terms:
        out.print(f"[yellow]未识别的名称（不会匹配任何企业）：{'、'.join(c.unknown_terms)}[/yellow]")
    if c.evidence:
        out.print("建议依据：" + "；".join(f"{value}←{'、'.join(words)}" for value, words in c.evidence.items()))
    out.print(f"匹配的已订阅企业：{len(r.matched)} 家；匹配但未订阅：{r.not_subscribed} 家；匹配但无法送达：{r.unreachable} 家")
    for reason, n in r.reasons.most_common(10):
        out.print(f"  {reason}：{n} 家")
    out.print("\n推送原文：")
    out.print(preview.sample)


@push_app.command("audience")
def audience_cmd(
    ctx: typer.Context,
    campaign_id: CampaignId,
    text: Annotated[str, typer.Argument(help="例如 \"行业=住宿和餐饮业；规模=小型,微型；区县=；标签=\"；空字符串表示全部企业")],
) -> None:
    """修改待审核推送的推送对象。"""
    # imported when the command runs, so `zhitong --help` stays fast (see cli/__init__.py)
    from knowledge.audience import Audience
    from push.campaigns import parse_audience_text

    async def work(service: Any) -> Any:
        audience = parse_audience_text(text, list(service.cfg.districts)) if text.strip() else Audience()
        return await service.set_audience(campaign_id, audience, by_tg_id=None)

    campaign = _run(ctx, work)
    out.print(f"已修改 #{campaign.id} 的推送对象；用 zhitong push preview {campaign.id} 查看后再批准。")


@push_app.command("approve")
def approve_cmd(ctx: typer.Context, campaign_id: CampaignId) -> None:
    """批准推送：匹配且已订阅的企业会在工作时间内陆续收到（由运行中的机器人发送）。"""
    campaign = _run(ctx, lambda service: service.approve(campaign_id, by_tg_id=None))
    out.print(f"已批准 #{campaign.id}：{campaign.queued_count} 家企业排队待发送。")


@push_app.command("discard")
def discard_cmd(ctx: typer.Context, campaign_id: CampaignId) -> None:
    """放弃推送（不会发送）。"""
    campaign = _run(ctx, lambda service: service.discard(campaign_id, by_tg_id=None))
    out.print(f"已放弃 #{campaign.id}。")


@push_app.command("stats")
def stats_cmd(ctx: typer.Context, campaign_id: Annotated[int | None, typer.Argument(help="只看这一个推送")] = None) -> None:
    """推送效果：已发送、失败、无法送达、详细了解、不适用（及原因）、已申报、退订、之后的工单。"""
    outcomes = _run(ctx, lambda service: service.outcomes(campaign_id))
    settings_days = settings_from(ctx).push.outcome_days
    if not outcomes:
        out.print("没有政策推送。")
        return
    for o in outcomes:
        c = o.campaign
        out.print(f"#{c.id}《{c.title or c.policy_name}》 [bold]{STATUS.get(c.status, c.status)}[/bold]："
                  f"已发送 {o.sent}，待发送 {o.waiting}，失败 {o.status['failed']}，无法送达 {o.status['unreachable']}，"
                  f"提醒 {o.reminders_sent}；详细了解 {o.responses['details']}，不适用 {o.responses['not_applicable']}，"
                  f"已申报 {o.responses['applied']}，退订 {o.responses['unsubscribed']}；"
                  f"推送后 {settings_days} 天内的工单 {o.tickets}")
        if o.reasons:
            reasons = "、".join(f"{reason} {n}" for reason, n in o.reasons.most_common())
            out.print(f"#{o.campaign.id} 不适用原因：{reasons}")
        if o.campaign.status == "approved" and o.campaign.queued_count == 0:
            out.print(f"[yellow]#{o.campaign.id} 没有匹配到任何已订阅企业[/yellow]")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(push_app, name="push")
