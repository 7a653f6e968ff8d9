"""`zhitong desk …`, `zhitong staff …`, `zhitong enterprise add` and `zhitong report`: the 办不成事 desk
from a terminal, for staff without Telegram. Every command calls the same Desk service as the bot.

Staff commands act as the staff member given by `--as TG_ID` (or $ZHITONG_STAFF_ID): the same role and
department checks apply as in Telegram.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from cli import settings_from
from desk import notices
from desk.errors import DeskError
from desk.states import TicketState

T = TypeVar("T")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

desk_app = typer.Typer(help="办不成事反映窗口：工单查看与办理。", no_args_is_help=True)
staff_app = typer.Typer(help="工作人员配置（专员 / 领导 / 管理员）。", no_args_is_help=True)
enterprise_app = typer.Typer(help="企业登记。", no_args_is_help=True)

AsStaff = Annotated[int, typer.Option("--as", envvar="ZHITONG_STAFF_ID", help="以哪位工作人员（Telegram 用户 ID）身份操作")]
Ref = Annotated[str, typer.Argument(help="工单号（BC-20261122-0007）或数字 ID")]


def _run(ctx: typer.Context, work: Callable[[Any], Awaitable[T]]) -> T:
    """Open the Desk, run `work(desk)`, close; a DeskError becomes a red Chinese line and exit code 1."""
    # imported when the command runs, so `zhitong --help` stays fast (see cli/__init__.py)
    from desk.service import Desk

    settings = settings_from(ctx)

    async def main() -> T:
        desk = await Desk.open(settings)
        try:
            return await work(desk)
        finally:
            await desk.aclose()

    try:
        return asyncio.run(main())
    except DeskError as exc:
        err.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from exc


def _when(desk: Any, value: datetime | None) -> str:
    return str(desk.fmt(value)) if value else "—"


def _print_ticket(desk: Any, t: Any) -> None:
    overdue = "、".join(x for x, flag in (("接收超期", t.accept_overdue), ("处置超期", t.resolve_overdue)) if flag)
    lines = [
        f"[bold]{t.number}[/bold]（#{t.id}）「{t.title}」 状态：[bold]{t.state_label}[/bold]" + (f" [red]{overdue}[/red]" if overdue else ""),
        f"部门：{t.department or '未指定'}" + (f"，会办：{'、'.join(t.co_departments)}" if t.co_departments else "")
        + f"；事项：{t.service_item or '—'}；卡点：{t.reason}",
        f"企业：{t.enterprise_name or t.requester_name or '—'}（TG {t.requester_tg_id or '—'}）；承办：{t.assignee_name or '待认领'}",
        f"提交：{_when(desk, t.created_at)}；受理时限：{_when(desk, t.accept_due_at)}；受理：{_when(desk, t.accepted_at)}；"
        f"办结时限：{_when(desk, t.resolve_due_at)}" + ("（已暂停，待企业补充）" if t.paused_at else ""),
    ]
    if t.resolution_note:
        lines.append(f"办理结果（第{t.resolution_round}次）：{t.resolution_note}")
    if t.state is TicketState.CLOSED:
        lines.append(f"销号：{_when(desk, t.closed_at)}（{ {'rated': '已评价', 'unrated': '未评价', 'manual': '人工销号'}.get(t.close_reason, t.close_reason)}）")
    if t.description:
        lines.append(f"描述：{t.description}")
    for line in lines:
        out.print(line)


# ------------------------------------------------------------------ desk
@desk_app.command("list")
def list_cmd(
    ctx: typer.Context,
    as_staff: AsStaff,
    state: Annotated[list[str] | None, typer.Option("--state", help="只看这些状态，可重复：new/assigned/in_progress/…")] = None,
    mine: Annotated[bool, typer.Option("--mine", help="只看我承办的")] = False,
    all_: Annotated[bool, typer.Option("--all", help="包括已销号")] = False,
) -> None:
    """列出我能看到的工单（领导看全部）。"""
    # imported when the command runs, so `zhitong --help` stays fast (see cli/__init__.py)
    from desk.states import OPEN_STATES, TicketState

    try:
        states = [TicketState(s).value for s in state] if state else (None if all_ else [s.value for s in OPEN_STATES])
    except ValueError as exc:
        err.print(f"[red]未知状态：{exc}。可选：{' / '.join(s.value for s in TicketState)}[/red]")
        raise typer.Exit(2) from exc

    async def work(desk: Any) -> None:
        tickets = await desk.list_tickets(as_staff, states=states, mine=mine)
        table = Table(title=f"工单（{len(tickets)}）")
        table.add_column("工单号", no_wrap=True)
        for column in ("标题", "部门", "状态", "承办", "时限", "超期"):
            table.add_column(column)
        for t in tickets:
            due = t.accept_due_at if t.accepted_at is None else t.resolve_due_at
            flags = "、".join(x for x, f in (("接收", t.accept_overdue), ("处置", t.resolve_overdue)) if f)
            table.add_row(t.number, t.title, t.department, t.state_label, t.assignee_name or "待认领", _when(desk, due), flags)
        out.print(table)

    _run(ctx, work)


@desk_app.command("show")
def show_cmd(ctx: typer.Context, ref: Ref, as_staff: AsStaff) -> None:
    """查看工单详情、对话和审计记录。"""

    async def work(desk: Any) -> None:
        t = await desk.get_ticket(ref, staff_tg_id=as_staff)
        _print_ticket(desk, t)
        out.print("\n[bold]对话[/bold]")
        who = {"enterprise": "企业", "staff": "专员", "system": "系统"}
        for m in await desk.messages(t.id):
            out.print(f"  {_when(desk, m.created_at)} {who.get(m.author_kind, m.author_kind)}：{m.text}")
        out.print("\n[bold]审计记录[/bold]")
        for a in await desk.audit_log(t.id):
            move = f"{a.from_state}→{a.to_state}" if a.from_state != a.to_state else ""
            out.print(f"  {_when(desk, a.created_at)} {a.actor_name or a.actor_kind} {a.action} {move} {a.reason}")
        for fu in await desk.followups(t.id):
            status = f"已完成：{fu.note}" if fu.done_at else ("[red]已超期[/red]" if fu.overdue else "待回访")
            out.print(f"  回访任务 #{fu.id} 时限 {_when(desk, fu.due_at)} {status}")

    _run(ctx, work)


@desk_app.command("claim")
def claim_cmd(ctx: typer.Context, ref: Ref, as_staff: AsStaff) -> None:
    """认领（受理）工单。"""

    async def work(desk: Any) -> tuple[Any, str]:
        t = await desk.claim(ref, as_staff)
        return t, desk.fmt(t.resolve_due_at)

    t, due = _run(ctx, work)
    out.print(f"[green]已受理 {t.number}，办结时限 {due}。[/green]")


@desk_app.command("reply")
def reply_cmd(ctx: typer.Context, ref: Ref, text: Annotated[str, typer.Argument(help="回复企业的内容")], as_staff: AsStaff) -> None:
    """通过机器人回复企业。"""
    _run(ctx, lambda desk: desk.add_message(ref, "staff", as_staff, text))
    out.print("[green]已记录，将通过机器人发送给企业。[/green]")


@desk_app.command("wait")
def wait_cmd(ctx: typer.Context, ref: Ref, reason: Annotated[str, typer.Argument(help="需要企业补充的材料")], as_staff: AsStaff) -> None:
    """请企业补充材料（办理时限暂停）。"""
    t = _run(ctx, lambda desk: desk.wait_for_enterprise(ref, as_staff, reason))
    out.print(f"[green]{t.number} 已转为「{t.state_label}」，时限暂停。[/green]")


@desk_app.command("resume")
def resume_cmd(ctx: typer.Context, ref: Ref, as_staff: AsStaff) -> None:
    """恢复办理（时限继续计算）。"""
    t = _run(ctx, lambda desk: desk.resume(ref, as_staff))
    out.print(f"[green]{t.number} 已恢复办理。[/green]")


@desk_app.command("start")
def start_cmd(ctx: typer.Context, ref: Ref, as_staff: AsStaff) -> None:
    """标记为办理中。"""
    t = _run(ctx, lambda desk: desk.start(ref, as_staff))
    out.print(f"[green]{t.number}：{t.state_label}[/green]")


@desk_app.command("resolve")
def resolve_cmd(
    ctx: typer.Context, ref: Ref, as_staff: AsStaff, note: Annotated[str, typer.Option("--note", help="办理结果说明（必填）")] = ""
) -> None:
    """办结，并请企业评价。"""
    t = _run(ctx, lambda desk: desk.resolve(ref, as_staff, note))
    out.print(f"[green]{t.number} 已办结，等待企业评价。[/green]")


@desk_app.command("escalate")
def escalate_cmd(
    ctx: typer.Context, ref: Ref, as_staff: AsStaff, reason: Annotated[str, typer.Option("--reason", help="升级原因（必填）")] = ""
) -> None:
    """提请领导督办（领导领办）。"""
    t = _run(ctx, lambda desk: desk.escalate(ref, as_staff, reason))
    out.print(f"[green]{t.number} 已升级督办。[/green]")


@desk_app.command("reassign")
def reassign_cmd(
    ctx: typer.Context, ref: Ref, as_staff: AsStaff, to: Annotated[int, typer.Option("--to", help="交办给（Telegram 用户 ID）")],
    reason: Annotated[str, typer.Option("--reason")] = "",
) -> None:
    """领导交办（改派）工单。"""
    t = _run(ctx, lambda desk: desk.reassign(ref, as_staff, to, reason))
    out.print(f"[green]{t.number} 已交办给 {t.assignee_name}。[/green]")


@desk_app.command("cohandle")
def cohandle_cmd(ctx: typer.Context, ref: Ref, department: Annotated[str, typer.Argument(help="会办部门")], as_staff: AsStaff) -> None:
    """增加会办部门（多部门会办）。"""
    t = _run(ctx, lambda desk: desk.add_department(ref, as_staff, department))
    out.print(f"[green]{t.number} 会办部门：{'、'.join(t.co_departments)}[/green]")


@desk_app.command("close")
def close_cmd(
    ctx: typer.Context, ref: Ref, as_staff: AsStaff, note: Annotated[str, typer.Option("--note", help="销号说明（必填）")] = ""
) -> None:
    """对账销号（须已办结并有办理结果）。"""
    t = _run(ctx, lambda desk: desk.close(ref, as_staff, note))
    out.print(f"[green]{t.number} 已销号。[/green]")


@desk_app.command("rate")
def rate_cmd(
    ctx: typer.Context,
    ref: Ref,
    score: Annotated[str, typer.Argument(help="满意 / 基本满意 / 不满意")],
    enterprise: Annotated[int, typer.Option("--enterprise", help="提交工单的企业用户（Telegram 用户 ID）")],
    comment: Annotated[str, typer.Option("--comment")] = "",
) -> None:
    """代企业录入评价（例如电话回访时）。"""
    t = _run(ctx, lambda desk: desk.rate(ref, enterprise, score, comment))
    out.print(f"[green]{t.number}：{t.state_label}[/green]")


@desk_app.command("followup-done")
def followup_done_cmd(
    ctx: typer.Context, followup_id: Annotated[int, typer.Argument(help="回访任务编号")], as_staff: AsStaff,
    note: Annotated[str, typer.Option("--note", help="回访记录（必填）")] = "",
) -> None:
    """登记回访已完成。"""
    _run(ctx, lambda desk: desk.complete_followup(followup_id, as_staff, note))
    out.print(f"[green]回访任务 #{followup_id} 已完成。[/green]")


@desk_app.command("open")
def open_cmd(
    ctx: typer.Context,
    title: Annotated[str, typer.Option("--title", help="问题标题")],
    department: Annotated[str, typer.Option("--department", help="办理部门")] = "",
    reason: Annotated[str, typer.Option("--reason", help="卡点：材料/政策/跨部门/超时/态度/其他")] = "其他",
    description: Annotated[str, typer.Option("--description")] = "",
    requester: Annotated[int | None, typer.Option("--requester", help="企业用户 Telegram ID（电话来件可不填）")] = None,
    name: Annotated[str, typer.Option("--name", help="企业或来电人名称")] = "",
) -> None:
    """登记一件工单（例如电话、窗口来件）。"""
    # imported when the command runs, so `zhitong --help` stays fast (see cli/__init__.py)
    from desk.models import TicketCreate

    data = TicketCreate(title=title, department=department, reason=reason, description=description, requester_tg_id=requester, requester_name=name)
    t = _run(ctx, lambda desk: desk.create_ticket(data))
    out.print(f"[green]已登记 {t.number}（#{t.id}），承办：{t.assignee_name or '待认领'}。[/green]")


@desk_app.command("tick")
def tick_cmd(ctx: typer.Context) -> None:
    """运行一次时限检查：到期提醒、超期升级、评价提醒、未评价销号、待企业补充的提醒与跟进。"""
    result = _run(ctx, lambda desk: desk.run_due())
    out.print(
        f"提醒 {result.warned}，接收超期 {result.accept_overdue}，处置超期 {result.resolve_overdue}，"
        f"评价提醒 {result.rating_reminders}，未评价销号 {result.auto_closed}，"
        f"回访提醒 {result.followups_warned}，回访超期 {result.followups_overdue}，"
        f"待补充提醒 {result.waiting_reminders}，待补充跟进 {result.waiting_giveups}"
    )


@desk_app.command("outbox")
def outbox_cmd(ctx: typer.Context, limit: Annotated[int, typer.Option("--limit")] = 50) -> None:
    """查看待发送的通知（机器人未投递的）。"""

    async def work(desk: Any) -> None:
        rows = await desk.pending_notifications(limit)
        table = Table(title=f"待发送通知（{len(rows)}）")
        for column in ("#", "工单", "对象", "接收人", "类型", "尝试", "内容"):
            table.add_column(column)
        for n in rows:
            said = notices.render(n.kind, n.audience, n.payload, desk.fmt, "plain", legacy_text=n.text)
            table.add_row(str(n.id), n.ticket_number, n.audience, str(n.recipient_tg_id or "—"), n.kind, str(n.attempts), said[:60])
        out.print(table)

    _run(ctx, work)


@desk_app.command("demo", hidden=True)
def demo_cmd(
    ctx: typer.Context,
    month: Annotated[str, typer.Option("--month")] = "2026-11",
    tickets: Annotated[int, typer.Option("--tickets", min=1, max=500, help="工单数（另有4件月末未办结）")] = 36,
    yes: Annotated[bool, typer.Option("--yes", help="确认向当前数据库写入演示数据")] = False,
) -> None:
    """向当前数据库写入一个月的演示工单（用于演示月通报）。"""
    if not yes:
        err.print("[red]这会向当前数据库写入演示数据；确认请加 --yes（建议配合 --data-dir 使用临时目录）。[/red]")
        raise typer.Exit(2)
    # imported when the command runs, so `zhitong --help` stays fast (see cli/__init__.py)
    from core.clock import FakeClock
    from desk.demo import seed_demo_month
    from desk.report import parse_month

    async def work(desk: Any) -> Any:
        start, _ = parse_month(month, desk.calendar.tz)
        desk.clock = FakeClock(start)
        return await seed_demo_month(desk, desk.clock, month, n=tickets)

    result = _run(ctx, work)
    out.print(f"[green]已写入 {result.tickets} 件演示工单（{result.month}）。[/green]")


# ------------------------------------------------------------------ staff
@staff_app.command("add")
def staff_add(
    ctx: typer.Context,
    tg_user_id: Annotated[int, typer.Argument(help="Telegram 用户 ID")],
    name: Annotated[str, typer.Argument(help="姓名")],
    role: Annotated[str, typer.Option("--role", help="commissioner（专员）/ leader（领导）/ admin（管理员）")] = "commissioner",
    dept: Annotated[list[str] | None, typer.Option("--dept", help="负责的部门，可重复")] = None,
) -> None:
    """添加或更新工作人员（本地操作员执行）。"""
    s = _run(ctx, lambda desk: desk.add_staff(tg_user_id, name, role, dept or []))
    out.print(f"[green]已配置 {s.name}（{s.tg_user_id}）{s.role} {'、'.join(s.departments)}[/green]")


@staff_app.command("list")
def staff_list(ctx: typer.Context) -> None:
    """列出工作人员。"""
    rows = _run(ctx, lambda desk: desk.list_staff())
    table = Table(title=f"工作人员（{len(rows)}）")
    for column in ("Telegram ID", "姓名", "角色", "负责部门"):
        table.add_column(column)
    labels = {"commissioner": "专员", "leader": "领导", "admin": "管理员"}
    for s in rows:
        table.add_row(str(s.tg_user_id), s.name, labels.get(s.role, s.role), "、".join(s.departments))
    out.print(table)


@staff_app.command("remove")
def staff_remove(ctx: typer.Context, tg_user_id: Annotated[int, typer.Argument(help="Telegram 用户 ID")]) -> None:
    """停用工作人员（保留历史记录）。"""
    s = _run(ctx, lambda desk: desk.remove_staff(tg_user_id))
    out.print(f"[green]已停用 {s.name}（{s.tg_user_id}）。[/green]")


# ------------------------------------------------------------------ enterprise
@enterprise_app.command("add")
def enterprise_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="企业名称")],
    code: Annotated[str, typer.Option("--code", help="统一社会信用代码（18位）")],
    tg: Annotated[int | None, typer.Option("--tg", help="联系人 Telegram 用户 ID")] = None,
    industry: Annotated[str, typer.Option("--industry")] = "",
    contact: Annotated[str, typer.Option("--contact", help="联系人")] = "",
    phone: Annotated[str, typer.Option("--phone")] = "",
    commissioner: Annotated[int | None, typer.Option("--commissioner", help="专属服务专员 Telegram ID")] = None,
) -> None:
    """登记企业（校验统一社会信用代码）。"""
    # imported when the command runs, so `zhitong --help` stays fast (see cli/__init__.py)
    from desk.models import EnterpriseCreate

    data = EnterpriseCreate(
        name=name, credit_code=code, tg_user_id=tg, industry=industry, contact_name=contact, contact_phone=phone,
        commissioner_tg_id=commissioner,
    )
    e = _run(ctx, lambda desk: desk.register_enterprise(data))
    out.print(f"[green]已登记 {e.name}（{e.credit_code}）。[/green]")


# ------------------------------------------------------------------ report
def report(
    ctx: typer.Context,
    month: Annotated[str, typer.Option("--month", help="月份 YYYY-MM，例如 2026-11")],
    out_dir: Annotated[Path | None, typer.Option("--out", help="xlsx 与 PNG 输出目录（默认 <data_dir>/reports）")] = None,
) -> None:
    """办不成事月通报：终端表格 + xlsx + PNG 图表。"""
    # imported when the command runs, so `zhitong --help` stays fast (see cli/__init__.py)
    from desk.report import render_tables, write_chart, write_xlsx
    from push.report import build_report
    from push.service import PushService

    settings = settings_from(ctx)
    result = _run(ctx, lambda desk: build_report(desk, PushService(desk.sessions, settings, desk.clock, desk.calendar),
                                                  month))
    # The table is ~100 columns wide; piped output (80 columns by default) would truncate headers.
    wide = Console(highlight=False, width=max(out.width, 110))
    for table in render_tables(result):
        wide.print(table)
    target = out_dir or settings.data_dir / "reports"
    xlsx = write_xlsx(result, target / f"desk-report-{result.month}.xlsx")
    png = write_chart(result, target / f"desk-report-{result.month}.png")
    out.print(f"已生成：{xlsx}\n已生成：{png}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(desk_app, name="desk")
    app.add_typer(staff_app, name="staff")
    app.add_typer(enterprise_app, name="enterprise")
    app.command("report")(report)
