"""The Desk service: every act on a ticket, its audit row and its outbox rows in one transaction.

Callers (bot handlers, CLI, dashboard, tests) identify people by Telegram user id; the Desk checks
roles and departments itself, raises a DeskError with a Chinese message on bad input, and returns
pydantic `*Public` models, never live ORM rows.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import Clock, SystemClock
from desk.actors import SYSTEM_ACTOR, Actor
from desk.credit_code import normalize_credit_code
from desk.errors import (
    AlreadyClaimed,
    ConcurrentUpdate,
    DeskError,
    EnterpriseNotFound,
    IllegalTransition,
    InvalidInput,
    NotStaff,
    PermissionDenied,
    StaffNotFound,
    TicketNotFound,
)
from desk.models import (
    AuditEntry,
    Enterprise,
    EnterpriseCreate,
    EnterprisePublic,
    FollowUp,
    Notification,
    NotificationPublic,
    Rating,
    Staff,
    StaffPublic,
    Ticket,
    TicketCreate,
    TicketMessage,
    TicketPublic,
)
from desk.scheduler import TickResult, run_due
from desk.states import (
    CLAIMABLE_STATES,
    Audience,
    AuthorKind,
    RatingScore,
    Reason,
    StaffRole,
    TicketState,
    check_transition,
)
from desk.visibility import may_act, may_act_clause, staff_scope
from desk.workcalendar import WorkCalendar
from knowledge.departments import resolve_department
from knowledge.models import KbDepartment

if TYPE_CHECKING:
    from core.config import Settings

log = logging.getLogger(__name__)

MAX_TEXT = 4000
SYSTEM = "system"

_SCORE_ALIASES = {
    "满意": RatingScore.SATISFIED,
    "satisfied": RatingScore.SATISFIED,
    "3": RatingScore.SATISFIED,
    "基本满意": RatingScore.BASICALLY,
    "basically": RatingScore.BASICALLY,
    "2": RatingScore.BASICALLY,
    "不满意": RatingScore.UNSATISFIED,
    "unsatisfied": RatingScore.UNSATISFIED,
    "1": RatingScore.UNSATISFIED,
}


P = ParamSpec("P")
R = TypeVar("R")


def retry_on_conflict(
    fn: Callable[Concatenate[Desk, P], Awaitable[R]],
) -> Callable[Concatenate[Desk, P], Awaitable[R]]:
    """Re-run a whole unit of work (fresh read, fresh checks) when it lost an optimistic-lock race.

    Losing to an unrelated change (a scheduler warning, a message) should not bounce a person's action;
    losing to a conflicting one surfaces on the retry as the proper domain error (e.g. already resolved).
    """

    @functools.wraps(fn)
    async def wrapper(self: Desk, *args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(3):
            try:
                return await fn(self, *args, **kwargs)
            except AlreadyClaimed:
                raise
            except ConcurrentUpdate:
                if attempt == 2:
                    raise
                await asyncio.sleep(0.02 * (attempt + 1))
        raise AssertionError("unreachable")

    return wrapper




def parse_ticket_ref(ref: int | str) -> tuple[str, int | str]:
    """('id', 12) for '12' / 12, ('number', 'BC-20261122-0012') for a human number."""
    if isinstance(ref, int):
        return "id", ref
    text = str(ref).strip().upper()
    if text.isdigit():
        return "id", int(text)
    if text.startswith("#") and text[1:].isdigit():
        return "id", int(text[1:])
    return "number", text


class Desk:
    """The 办不成事 desk. Build once per process: `Desk(sessionmaker, settings, clock)`."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        clock: Clock | None = None,
        calendar: WorkCalendar | None = None,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.cfg = settings.desk
        self.clock: Clock = clock or SystemClock()
        self.calendar = calendar or WorkCalendar.from_settings(settings)
        self._engine: AsyncEngine | None = None

    @classmethod
    async def open(cls, settings: Settings, clock: Clock | None = None) -> Desk:
        """Engine + tables + Desk from settings (CLI and scripts); call `aclose()` when done."""
        from core.db import init_db, make_async_engine, make_sessionmaker

        engine = make_async_engine(settings.database_url, echo=settings.database.echo, database=settings.database)
        await init_db(engine)
        desk = cls(make_sessionmaker(engine), settings, clock)
        desk._engine = engine
        return desk

    async def aclose(self) -> None:
        """Dispose the engine made by `open()` (no-op for an injected sessionmaker)."""
        if self._engine is not None:
            await self._engine.dispose()

    # ================================================================ plumbing
    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[AsyncSession]:
        """One unit of work; a lost optimistic-lock race becomes ConcurrentUpdate (nothing changed)."""
        try:
            async with self.sessions() as session, session.begin():
                yield session
        except (StaleDataError, IntegrityError) as exc:
            # IntegrityError here means a unique row (rating of a round, credit code…) was written by a
            # concurrent request between our read and our write: same outcome as a lost version race.
            # The exception's text carries the statement's parameters (names, phones, credit codes):
            # log what kind of conflict it was, never the row.
            statement = " ".join(str(getattr(exc, "statement", "") or "").split()[:3])
            log.info("concurrent update: %s (%s)", type(exc).__name__, statement)
            raise ConcurrentUpdate() from exc

    @asynccontextmanager
    async def _staff_ticket_tx(self, ref: int | str, staff_tg_id: int) -> AsyncIterator[tuple[AsyncSession, Actor, Ticket]]:
        """One unit of work by a staff member on a ticket they may act on: (session, actor, ticket).

        Checked in this order, so the error says the first thing wrong: not staff, no such ticket, not theirs.
        """
        async with self._tx() as s:
            actor = await self._staff_actor(s, staff_tg_id)
            t = await self._ticket(s, ref)
            await self._require_act(s, actor, t)
            yield s, actor, t

    def now(self) -> datetime:
        return self.clock.now()

    def fmt(self, when: datetime | None) -> str:
        """Local wall time for Chinese messages."""
        return when.astimezone(self.calendar.tz).strftime("%Y-%m-%d %H:%M") if when else "—"

    async def _ticket(self, s: AsyncSession, ref: int | str) -> Ticket:
        kind, value = parse_ticket_ref(ref)
        stmt = select(Ticket).where(Ticket.id == value) if kind == "id" else select(Ticket).where(Ticket.number == value)
        ticket = (await s.exec(stmt)).first()
        if ticket is None:
            raise TicketNotFound(ref)
        return ticket

    async def _staff_by_tg(self, s: AsyncSession, tg_id: int | None) -> Staff:
        staff = None
        if tg_id is not None:
            staff = (await s.exec(select(Staff).where(Staff.tg_user_id == tg_id))).first()
        if staff is None or not staff.active:
            raise NotStaff(tg_id)
        return staff

    async def _staff_actor(self, s: AsyncSession, tg_id: int | None) -> Actor:
        staff = await self._staff_by_tg(s, tg_id)
        return Actor(AuthorKind.STAFF, staff.tg_user_id, staff.name, staff)

    async def _can_act(self, s: AsyncSession, staff: Staff, t: Ticket) -> bool:
        """The desk's permission check: desk.visibility.may_act (the SQL listings use its clause form)."""
        ent = await s.get(Enterprise, t.enterprise_id) if t.enterprise_id is not None else None
        return may_act(staff_scope(staff), t, ent.commissioner_id if ent is not None else None)

    async def _require_act(self, s: AsyncSession, actor: Actor, t: Ticket) -> None:
        assert actor.staff is not None
        if not await self._can_act(s, actor.staff, t):
            raise PermissionDenied(f"您（{actor.name}）不负责「{t.department or '未指定部门'}」，无权处理工单 {t.number}。")

    @staticmethod
    def _require_owner(t: Ticket, tg_id: int | None) -> None:
        if tg_id is None or t.requester_tg_id != tg_id:
            raise PermissionDenied(f"工单 {t.number} 不是您提交的，无法查看或操作。")

    def _audit(
        self, s: AsyncSession, t: Ticket | None, actor: Actor, action: str, from_state: str = "", to_state: str = "", reason: str = ""
    ) -> None:
        s.add(
            AuditEntry(
                ticket_id=t.id if t else None,
                actor_kind=actor.kind,
                actor_tg_id=actor.tg_id,
                actor_name=actor.name[:64],
                action=action,
                from_state=from_state,
                to_state=to_state,
                reason=reason,
                created_at=self.now(),
            )
        )

    def _transition(self, s: AsyncSession, t: Ticket, target: TicketState, actor: Actor, action: str, reason: str = "") -> None:
        """Check and apply a state change, with its audit row."""
        current = t.state
        check_transition(current, target)
        t.state = target.value
        t.updated_at = self.now()
        self._audit(s, t, actor, action, current, target.value, reason)

    async def _notify(self, s: AsyncSession, t: Ticket, audience: Audience, kind: str, **facts: Any) -> None:
        """Queue an outbox row of facts (kind + payload); the wording per channel is desk.notices'.

        Recipients: the requester, the assignee, or the leaders (the bot decides the chat). Every row
        carries the ticket's number, title and department; datetimes are stored as ISO timestamps.
        """
        recipient: int | None = None
        if audience == Audience.ENTERPRISE:
            recipient = t.requester_tg_id
        elif audience == Audience.STAFF and t.assignee_id is not None:
            assignee = await s.get(Staff, t.assignee_id)
            recipient = assignee.tg_user_id if assignee else None
        payload = {"number": t.number, "title": t.title, "department": t.department}
        payload.update({k: v.isoformat() if isinstance(v, datetime) else v for k, v in facts.items()})
        s.add(
            Notification(
                ticket_id=t.id, audience=audience.value, recipient_tg_id=recipient, kind=kind, payload=payload,
                created_at=self.now(),
            )
        )

    def _text(self, value: str | None, what: str, max_len: int = MAX_TEXT, required: bool = True) -> str:
        text = (value or "").strip()
        if required and not text:
            raise InvalidInput(f"{what}不能为空。")
        if len(text) > max_len:
            raise InvalidInput(f"{what}过长（{len(text)} 字，最多 {max_len} 字）。")
        return text

    async def _public(self, s: AsyncSession, t: Ticket) -> TicketPublic:
        assignee = await s.get(Staff, t.assignee_id) if t.assignee_id else None
        ent = await s.get(Enterprise, t.enterprise_id) if t.enterprise_id else None
        data = t.model_dump()
        data.update(
            state_label=TicketState(t.state).label,
            assignee_name=assignee.name if assignee else "",
            assignee_tg_id=assignee.tg_user_id if assignee else None,
            enterprise_name=ent.name if ent else "",
            number=t.number or "",
            co_departments=list(t.co_departments),
        )
        return TicketPublic.model_validate(data)

    def _set_resolve_clock(self, t: Ticket, start: datetime, seconds: float | None = None) -> None:
        """Start (or restart after a pause) the resolve deadline and its warning point."""
        total = self.cfg.resolve_within_days * self.calendar.day_seconds
        remaining = total if seconds is None else seconds
        t.resolve_due_at = self.calendar.add_working_seconds(start, remaining)
        lead = (1 - self.cfg.warn_at_fraction) * total  # warn this much working time before the deadline
        t.resolve_warn_at = self.calendar.add_working_seconds(start, max(0.0, remaining - lead))

    # ================================================================ staff & enterprises
    async def _admin_actor(self, s: AsyncSession, by_tg_id: int | None) -> Actor:
        """None = the local operator (CLI); else an admin from telegram.admin_ids or a staff admin."""
        if by_tg_id is None:
            return SYSTEM_ACTOR
        if by_tg_id in self.settings.telegram.admin_ids:
            return Actor(AuthorKind.STAFF, by_tg_id, f"管理员{by_tg_id}")
        staff = (await s.exec(select(Staff).where(Staff.tg_user_id == by_tg_id))).first()
        if staff is None or not staff.active or staff.role != StaffRole.ADMIN:
            raise PermissionDenied("只有管理员可以配置工作人员。")
        return Actor(AuthorKind.STAFF, staff.tg_user_id, staff.name, staff)

    async def add_staff(
        self, tg_user_id: int, name: str, role: str = "commissioner", departments: Iterable[str] = (), *, by_tg_id: int | None = None
    ) -> StaffPublic:
        """Create or update a staff member (by_tg_id must be an admin; None = local operator/CLI)."""
        name = self._text(name, "姓名", 64)
        try:
            role_value = StaffRole(role)
        except ValueError as exc:
            raise InvalidInput(f"角色「{role}」无效，可选：commissioner（专员）/ leader（领导）/ admin（管理员）。") from exc
        depts = sorted({d.strip() for d in departments if d and d.strip()})
        async with self._tx() as s:
            actor = await self._admin_actor(s, by_tg_id)
            depts = await self._canonical_departments(s, depts, "部门")
            staff = (await s.exec(select(Staff).where(Staff.tg_user_id == tg_user_id))).first()
            if staff is None:
                staff = Staff(tg_user_id=tg_user_id, name=name, role=role_value.value, departments=depts, created_at=self.now())
                s.add(staff)
            else:
                staff.name, staff.role, staff.departments, staff.active = name, role_value.value, depts, True
            self._audit(s, None, actor, "staff_add", reason=f"{name}({tg_user_id}) {role_value.label} {'、'.join(depts)}")
            await s.flush()
            return StaffPublic.model_validate(staff.model_dump())

    async def _canonical_departments(self, s: AsyncSession, names: Iterable[str], what: str) -> list[str]:
        """Names as staff type them (市场监管局) → the directory's canonical departments, through the alias
        table retrieval uses; an unknown name is refused with the close ones. Without a directory
        (nothing ingested yet) names are kept as given."""
        names = list(names)
        rows = (await s.exec(select(KbDepartment))).all()
        if not rows or not names:
            return sorted(set(names))
        directory = {row.name: list(row.aliases or []) for row in rows}
        out: list[str] = []
        for name in names:
            canonical, close = resolve_department(name, directory)
            if canonical is None:
                hint = f"相近的部门：{'、'.join(close)}。" if close else "请使用服务联络簿中的部门全称或别名。"
                raise InvalidInput(f"{what}「{name}」不在服务联络簿中。{hint}")
            out.append(canonical)
        return sorted(set(out))

    async def _ticket_department(self, s: AsyncSession, name: str) -> str:
        """A new ticket's department in the directory's canonical name when it resolves (an alias, a name
        without the city prefix), so the commissioners covering it can take it; otherwise as given: an
        enterprise's ticket is never refused for its department's name (it waits in the pool and the
        leaders are told)."""
        if not name:
            return ""
        rows = (await s.exec(select(KbDepartment))).all()
        canonical, _close = resolve_department(name, {row.name: list(row.aliases or []) for row in rows})
        return canonical or name

    async def remove_staff(self, tg_user_id: int, *, by_tg_id: int | None = None) -> StaffPublic:
        """Deactivate a staff member (rows stay for the audit trail)."""
        async with self._tx() as s:
            actor = await self._admin_actor(s, by_tg_id)
            staff = (await s.exec(select(Staff).where(Staff.tg_user_id == tg_user_id))).first()
            if staff is None or not staff.active:
                raise StaffNotFound(f"没有 Telegram 用户 {tg_user_id} 这位工作人员。")
            staff.active = False
            self._audit(s, None, actor, "staff_remove", reason=f"{staff.name}({tg_user_id})")
            return StaffPublic.model_validate(staff.model_dump())

    async def list_staff(self, include_inactive: bool = False) -> list[StaffPublic]:
        """All staff, ordered by role then name."""
        async with self.sessions() as s:
            stmt = select(Staff).order_by(Staff.role, Staff.name)
            if not include_inactive:
                stmt = stmt.where(Staff.active == True)  # noqa: E712
            return [StaffPublic.model_validate(x.model_dump()) for x in (await s.exec(stmt)).all()]

    async def handover_targets(self, ref: int | str, leader_tg_id: int) -> list[StaffPublic]:
        """Whom a leader's 交办 picker offers for this ticket: the commissioners who cover its department
        or a co-handling department, then the other leaders; never admins, the asker or the current
        assignee. (The dashboard lists everyone, with departments, for the rarer cross-department case.)"""
        async with self.sessions() as s:
            actor = await self._staff_actor(s, leader_tg_id)
            if not actor.is_leader:
                raise PermissionDenied("只有领导可以交办（改派）工单；如需其他部门协办，请点「升级」请领导协调。")
            t = await self._ticket(s, ref)
            wanted = {t.department, *t.co_departments} - {""}
            rows = (await s.exec(select(Staff).where(Staff.active == True).order_by(Staff.name))).all()  # noqa: E712
            others = [x for x in rows if x.tg_user_id != leader_tg_id and x.id != t.assignee_id]
            chosen = [x for x in others
                      if x.role == StaffRole.COMMISSIONER and wanted.intersection(x.departments or [])]
            chosen += [x for x in others if x.role == StaffRole.LEADER]
            return [StaffPublic.model_validate(x.model_dump()) for x in chosen]

    async def get_staff(self, tg_user_id: int) -> StaffPublic | None:
        """The active staff member with this Telegram id, or None (use for role checks)."""
        async with self.sessions() as s:
            staff = (await s.exec(select(Staff).where(Staff.tg_user_id == tg_user_id))).first()
            return StaffPublic.model_validate(staff.model_dump()) if staff and staff.active else None

    async def register_enterprise(self, data: EnterpriseCreate) -> EnterprisePublic:
        """Register (or update, by credit code) an enterprise; the credit code is checked (GB 32100-2015).

        Two registrations of one credit code at once: the loser re-reads and updates the winner's row."""
        try:
            return await self._register_enterprise(data)
        except ConcurrentUpdate as exc:
            raise ConcurrentUpdate("企业登记信息刚被同时提交，请稍后再试一次。") from exc

    @retry_on_conflict
    async def _register_enterprise(self, data: EnterpriseCreate) -> EnterprisePublic:
        code = normalize_credit_code(data.credit_code)
        name = self._text(data.name, "企业名称", 200)
        async with self._tx() as s:
            commissioner_id = None
            if data.commissioner_tg_id is not None:
                commissioner = await self._staff_by_tg(s, data.commissioner_tg_id)
                commissioner_id = commissioner.id
            ent = (await s.exec(select(Enterprise).where(Enterprise.credit_code == code))).first()
            if data.tg_user_id is not None:
                other = (await s.exec(select(Enterprise).where(Enterprise.tg_user_id == data.tg_user_id))).first()
                if other is not None and (ent is None or other.id != ent.id):
                    raise InvalidInput(f"该 Telegram 用户已登记为「{other.name}」的联系人。")
            fields = data.model_dump(exclude={"commissioner_tg_id", "credit_code", "name"})
            if ent is None:
                ent = Enterprise(**fields, name=name, credit_code=code, commissioner_id=commissioner_id, created_at=self.now())
                s.add(ent)
            else:
                for key, value in fields.items():
                    setattr(ent, key, value)
                ent.name = name
                if commissioner_id is not None:
                    ent.commissioner_id = commissioner_id
            self._audit(s, None, SYSTEM_ACTOR, "enterprise_register", reason=f"{name} {code}")
            await s.flush()
            return EnterprisePublic.model_validate(ent.model_dump())

    async def get_enterprise_by_tg(self, tg_user_id: int) -> EnterprisePublic | None:
        """The enterprise whose contact has this Telegram id, if registered."""
        async with self.sessions() as s:
            ent = (await s.exec(select(Enterprise).where(Enterprise.tg_user_id == tg_user_id))).first()
            return EnterprisePublic.model_validate(ent.model_dump()) if ent else None

    # ================================================================ tickets: creation & queries
    async def _route(self, s: AsyncSession, ent: Enterprise | None, department: str) -> Staff | None:
        """The enterprise's own commissioner, else a commissioner covering the department (least loaded), else pool."""
        if ent is not None and ent.commissioner_id is not None:
            own = await s.get(Staff, ent.commissioner_id)
            if own is not None and own.active:
                return own
        staff = (
            await s.exec(select(Staff).where(Staff.active == True, Staff.role == StaffRole.COMMISSIONER.value))  # noqa: E712
        ).all()
        covering = [x for x in staff if department and department in x.departments]
        if not covering:
            return None
        load_rows = (
            await s.exec(
                select(Ticket.assignee_id, func.count())
                .where(col(Ticket.assignee_id).in_([x.id for x in covering]), Ticket.state != TicketState.CLOSED.value)
                .group_by(col(Ticket.assignee_id))
            )
        ).all()
        load = dict(load_rows)
        return min(covering, key=lambda x: (load.get(x.id, 0), x.id))

    async def create_ticket(self, data: TicketCreate) -> TicketPublic:
        """Open a ticket (state new), route it, start the acceptance clock; committed before anyone is told."""
        title = self._text(data.title, "问题标题", 200)
        description = self._text(data.description, "问题描述", MAX_TEXT, required=False)
        try:
            reason = Reason(data.reason or Reason.OTHER.value)
        except ValueError as exc:
            raise InvalidInput(f"卡点原因「{data.reason}」无效，可选：{'、'.join(r.value for r in Reason)}。") from exc
        now = self.now()
        async with self._tx() as s:
            ent = None
            if data.enterprise_id is not None:
                ent = await s.get(Enterprise, data.enterprise_id)
                if ent is None:
                    raise EnterpriseNotFound(f"找不到编号为 {data.enterprise_id} 的企业。")
            elif data.requester_tg_id is not None:
                ent = (await s.exec(select(Enterprise).where(Enterprise.tg_user_id == data.requester_tg_id))).first()
            department = await self._ticket_department(s, data.department.strip())
            assignee = await self._route(s, ent, department)
            t = Ticket(
                title=title,
                description=description,
                department=department,
                service_item=data.service_item.strip(),
                reason=reason.value,
                transcript=data.transcript[:20000],
                enterprise_id=ent.id if ent else None,
                requester_tg_id=data.requester_tg_id if data.requester_tg_id is not None else (ent.tg_user_id if ent else None),
                requester_name=(data.requester_name or (ent.name if ent else ""))[:200],
                assignee_id=assignee.id if assignee else None,
                created_at=now,
                updated_at=now,
                accept_due_at=self.calendar.add_working_hours(now, self.cfg.accept_within_hours),
                accept_warn_at=self.calendar.add_working_hours(now, self.cfg.accept_within_hours * self.cfg.warn_at_fraction),
            )
            s.add(t)
            await s.flush()
            t.number = f"BC-{now.astimezone(self.calendar.tz):%Y%m%d}-{t.id:04d}"
            routed = f"建议由 {assignee.name} 受理" if assignee else "进入待认领池"
            self._audit(s, t, Actor(AuthorKind.ENTERPRISE, t.requester_tg_id, t.requester_name), "create", "", t.state, routed)
            if description:
                s.add(TicketMessage(ticket_id=t.id, author_kind=AuthorKind.ENTERPRISE, author_tg_id=t.requester_tg_id, text=description, created_at=now))  # type: ignore[arg-type]
            await self._notify(s, t, Audience.ENTERPRISE, "created", accept_due_at=t.accept_due_at,
                               resolve_within_days=self.cfg.resolve_within_days)
            await self._notify(s, t, Audience.STAFF, "new_ticket", reason=reason.value,
                               assignee_name=assignee.name if assignee else "", accept_due_at=t.accept_due_at)
            if assignee is None:
                # Nobody covers this department: the leaders must hand it to someone before its clock runs out.
                await self._notify(s, t, Audience.LEADERS, "unrouted", accept_due_at=t.accept_due_at)
            await s.flush()
            return await self._public(s, t)

    async def get_ticket(self, ref: int | str, *, staff_tg_id: int | None = None, enterprise_tg_id: int | None = None) -> TicketPublic:
        """One ticket; with staff_tg_id/enterprise_tg_id the viewer's right to see it is checked."""
        async with self.sessions() as s:
            t = await self._ticket(s, ref)
            if staff_tg_id is not None:
                staff = await self._staff_by_tg(s, staff_tg_id)
                if staff.role != StaffRole.ADMIN and not await self._can_act(s, staff, t):
                    raise PermissionDenied(f"您无权查看工单 {t.number}。")
            elif enterprise_tg_id is not None:
                self._require_owner(t, enterprise_tg_id)
            return await self._public(s, t)

    async def list_tickets(
        self, staff_tg_id: int, *, states: Iterable[str] | None = None, mine: bool = False, limit: int = 100
    ) -> list[TicketPublic]:
        """Tickets the staff member may see (leaders/admins: all), newest first."""
        async with self.sessions() as s:
            staff = await self._staff_by_tg(s, staff_tg_id)
            stmt = select(Ticket).order_by(col(Ticket.id).desc()).limit(limit)
            if staff.role != StaffRole.ADMIN:  # admins see every ticket (they act on none)
                stmt = stmt.where(may_act_clause(staff_scope(staff)))
            if states:
                stmt = stmt.where(col(Ticket.state).in_([TicketState(x).value for x in states]))
            if mine:
                stmt = stmt.where(Ticket.assignee_id == staff.id)
            tickets = (await s.exec(stmt)).all()
            await self._preload(s, tickets)
            return [await self._public(s, t) for t in tickets]

    @staticmethod
    async def _preload(s: AsyncSession, tickets: Iterable[Ticket]) -> None:
        # Load the staff and enterprises these tickets refer to in two queries, so that the per-ticket
        # permission checks and _public() find them in the session's identity map (no N+1 round trips).
        tickets = list(tickets)
        staff_ids = {t.assignee_id for t in tickets if t.assignee_id is not None}
        ent_ids = {t.enterprise_id for t in tickets if t.enterprise_id is not None}
        if staff_ids:
            (await s.exec(select(Staff).where(col(Staff.id).in_(staff_ids)))).all()
        if ent_ids:
            (await s.exec(select(Enterprise).where(col(Enterprise.id).in_(ent_ids)))).all()

    async def list_enterprise_tickets(self, tg_user_id: int, limit: int = 20) -> list[TicketPublic]:
        """The tickets this Telegram user submitted, newest first."""
        async with self.sessions() as s:
            stmt = select(Ticket).where(Ticket.requester_tg_id == tg_user_id).order_by(col(Ticket.id).desc()).limit(limit)
            tickets = (await s.exec(stmt)).all()
            await self._preload(s, tickets)
            return [await self._public(s, t) for t in tickets]

    async def open_ticket_for_enterprise(self, tg_user_id: int) -> TicketPublic | None:
        """The requester's most recent ticket that is not closed (where free text is relayed), or None."""
        async with self.sessions() as s:
            stmt = (
                select(Ticket)
                .where(Ticket.requester_tg_id == tg_user_id, Ticket.state != TicketState.CLOSED.value)
                .order_by(col(Ticket.id).desc())
            )
            t = (await s.exec(stmt)).first()
            return await self._public(s, t) if t else None

    async def ticket_by_staff_thread(self, chat_id: int, thread_id: int) -> TicketPublic | None:
        """The ticket mirrored in this staff chat thread/topic, or None."""
        async with self.sessions() as s:
            stmt = select(Ticket).where(Ticket.staff_chat_id == chat_id, Ticket.staff_thread_id == thread_id)
            t = (await s.exec(stmt)).first()
            return await self._public(s, t) if t else None

    @retry_on_conflict
    async def set_staff_thread(self, ticket_id: int | str, chat_id: int, thread_id: int | None) -> TicketPublic:
        """Remember where the bot mirrors this ticket for staff (forum topic / reply thread)."""
        async with self._tx() as s:
            t = await self._ticket(s, ticket_id)
            # Bot bookkeeping, not a change of the case: a plain UPDATE that leaves `version` alone, so it
            # never makes a concurrent claim or reply lose its optimistic-lock race.
            await s.exec(  # type: ignore[call-overload]
                update(Ticket)
                .where(col(Ticket.id) == t.id)
                .values(staff_chat_id=chat_id, staff_thread_id=thread_id)
                .execution_options(synchronize_session=False)
            )
            await s.refresh(t)
            return await self._public(s, t)

    async def messages(self, ref: int | str) -> list[TicketMessage]:
        """The ticket's conversation, oldest first."""
        async with self.sessions() as s:
            t = await self._ticket(s, ref)
            stmt = select(TicketMessage).where(TicketMessage.ticket_id == t.id).order_by(col(TicketMessage.id))
            return list((await s.exec(stmt)).all())

    async def audit_log(self, ref: int | str | None = None) -> list[AuditEntry]:
        """Audit entries of one ticket (or all, when ref is None), oldest first."""
        async with self.sessions() as s:
            stmt = select(AuditEntry).order_by(col(AuditEntry.id))
            if ref is not None:
                t = await self._ticket(s, ref)
                stmt = stmt.where(AuditEntry.ticket_id == t.id)
            return list((await s.exec(stmt)).all())

    async def ratings(self, ref: int | str) -> list[Rating]:
        """Ratings of a ticket, one per resolution round."""
        async with self.sessions() as s:
            t = await self._ticket(s, ref)
            return list((await s.exec(select(Rating).where(Rating.ticket_id == t.id).order_by(col(Rating.id)))).all())

    async def followups(self, ref: int | str | None = None, *, open_only: bool = False) -> list[FollowUp]:
        """回访 tasks (of one ticket, or all)."""
        async with self.sessions() as s:
            stmt = select(FollowUp).order_by(col(FollowUp.id))
            if ref is not None:
                t = await self._ticket(s, ref)
                stmt = stmt.where(FollowUp.ticket_id == t.id)
            if open_only:
                stmt = stmt.where(col(FollowUp.done_at).is_(None))
            return list((await s.exec(stmt)).all())

    # ================================================================ lifecycle
    @retry_on_conflict
    async def claim(self, ref: int | str, staff_tg_id: int) -> TicketPublic:
        """Accept (受理) a ticket: a conditional UPDATE makes exactly one of concurrent claimers win."""
        now = self.now()
        async with self._staff_ticket_tx(ref, staff_tg_id) as (s, actor, t):
            if t.state not in CLAIMABLE_STATES:
                if t.state == TicketState.ASSIGNED and t.accepted_at is not None:
                    raise AlreadyClaimed(t.number or str(t.id))
                raise IllegalTransition(f"工单 {t.number} 当前状态为「{TicketState(t.state).label}」，不能认领。")
            for _attempt in range(3):
                previous_state, seen_version = t.state, t.version
                values: dict[str, Any] = {"state": TicketState.ASSIGNED.value, "assignee_id": actor.staff.id, "updated_at": now}  # type: ignore[union-attr]
                first_accept = t.accepted_at is None
                if first_accept:
                    values["accepted_at"] = now
                    if t.accept_due_at is not None and now > t.accept_due_at and not t.accept_overdue:
                        values["accept_overdue"] = True
                # The race is decided here, in the database: only a row still in the state and version we
                # read is updated; a second claimer (other session, other process) matches nothing.
                result = await s.exec(  # type: ignore[call-overload]
                    update(Ticket)
                    .where(
                        col(Ticket.id) == t.id,
                        col(Ticket.version) == seen_version,
                        col(Ticket.state).in_([x.value for x in CLAIMABLE_STATES]),
                    )
                    .values(version=seen_version + 1, **values)
                    .execution_options(synchronize_session=False)
                )
                await s.refresh(t)
                if result.rowcount == 1:
                    break
                # Lost: if someone claimed it, say so; if only an unrelated change (a scheduler warning)
                # bumped the version while it is still claimable, try again on the fresh row.
                if t.state not in CLAIMABLE_STATES:
                    raise AlreadyClaimed(t.number or str(t.id))
            else:
                raise ConcurrentUpdate()
            if values.get("accept_overdue"):
                self._audit(s, t, SYSTEM_ACTOR, "accept_overdue", reason=f"受理时限 {self.fmt(t.accept_due_at)}，实际 {self.fmt(now)}")
            if first_accept:
                self._set_resolve_clock(t, now)
            self._audit(s, t, actor, "claim", previous_state, t.state, f"{actor.name} 受理")
            await self._notify(s, t, Audience.ENTERPRISE, "claimed", staff_name=self._shown_name(actor),
                               resolve_due_at=t.resolve_due_at)
            await self._notify(s, t, Audience.STAFF, "claimed", actor_name=actor.name, resolve_due_at=t.resolve_due_at)
            return await self._public(s, t)

    def _shown_name(self, actor: Actor) -> str:
        """The staff member's name as the enterprise may see it (telegram.show_staff_names), else ""."""
        return actor.name if self.settings.telegram.show_staff_names else ""

    @retry_on_conflict
    async def start(self, ref: int | str, staff_tg_id: int, note: str = "") -> TicketPublic:
        """Mark an accepted ticket as being worked on (assigned/reopened/escalated → in_progress)."""
        async with self._staff_ticket_tx(ref, staff_tg_id) as (s, actor, t):
            if t.accepted_at is None:
                raise IllegalTransition(f"工单 {t.number} 尚未受理，请先认领。")
            self._transition(s, t, TicketState.IN_PROGRESS, actor, "start", note)
            return await self._public(s, t)

    @retry_on_conflict
    async def wait_for_enterprise(self, ref: int | str, staff_tg_id: int, reason: str) -> TicketPublic:
        """Ask the enterprise for materials; the resolve clock pauses until it answers or staff resume."""
        reason = self._text(reason, "需要企业补充的内容", 1000)
        now = self.now()
        async with self._staff_ticket_tx(ref, staff_tg_id) as (s, actor, t):
            self._transition(s, t, TicketState.WAITING_ENTERPRISE, actor, "wait_enterprise", reason)
            t.paused_at = now
            t.resolve_remaining_s = (
                self.calendar.working_seconds_between(now, t.resolve_due_at) if t.resolve_due_at else None
            )
            await self._notify(s, t, Audience.ENTERPRISE, "need_materials", asked=reason)
            return await self._public(s, t)

    async def _resume(self, s: AsyncSession, t: Ticket, actor: Actor, reason: str) -> None:
        now = self.now()
        self._transition(s, t, TicketState.IN_PROGRESS, actor, "resume", reason)
        if t.resolve_remaining_s is not None and not t.resolve_overdue:
            self._set_resolve_clock(t, now, t.resolve_remaining_s)
        t.paused_at, t.resolve_remaining_s = None, None

    @retry_on_conflict
    async def resume(self, ref: int | str, staff_tg_id: int, reason: str = "") -> TicketPublic:
        """Restart the resolve clock after waiting_enterprise (the deadline moves by the paused time)."""
        async with self._staff_ticket_tx(ref, staff_tg_id) as (s, actor, t):
            await self._resume(s, t, actor, reason or "恢复办理")
            await self._notify(s, t, Audience.ENTERPRISE, "resumed", resolve_due_at=t.resolve_due_at)
            return await self._public(s, t)

    async def _escalate(self, s: AsyncSession, t: Ticket, actor: Actor, action: str, reason: str,
                        **facts: Any) -> None:
        """`reason` is the audit's; `facts` tell the leaders why (`note`, or `overdue` and `due_at`)."""
        if t.paused_at is not None:
            # Escalating a ticket that waits for the enterprise restarts its clock: a leader now owns it.
            if t.resolve_remaining_s is not None and not t.resolve_overdue:
                self._set_resolve_clock(t, self.now(), t.resolve_remaining_s)
            t.paused_at, t.resolve_remaining_s = None, None
        if t.state != TicketState.ESCALATED:
            self._transition(s, t, TicketState.ESCALATED, actor, action, reason)
        else:
            self._audit(s, t, actor, action, t.state, t.state, reason)
        t.escalated_at = self.now()
        t.escalation_count += 1
        await self._notify(s, t, Audience.LEADERS, action, **(facts or {"note": reason}))

    @retry_on_conflict
    async def escalate(self, ref: int | str, actor_tg_id: int, reason: str, *, by_enterprise: bool = False) -> TicketPublic:
        """Ask for a leader (领导领办): by a staff member who may act, or by the requesting enterprise."""
        reason = self._text(reason, "升级原因", 1000)
        async with self._tx() as s:
            t = await self._ticket(s, ref)
            if by_enterprise:
                self._require_owner(t, actor_tg_id)
                actor = Actor(AuthorKind.ENTERPRISE, actor_tg_id, t.requester_name)
            else:
                actor = await self._staff_actor(s, actor_tg_id)
                await self._require_act(s, actor, t)
            check_transition(t.state, TicketState.ESCALATED)
            await self._escalate(s, t, actor, "escalate", reason)
            await self._notify(s, t, Audience.ENTERPRISE, "escalated")
            return await self._public(s, t)

    @retry_on_conflict
    async def reassign(self, ref: int | str, leader_tg_id: int, to_staff_tg_id: int, reason: str = "") -> TicketPublic:
        """A leader hands a ticket to someone (领导交办); an escalated ticket goes back to assigned."""
        async with self._tx() as s:
            actor = await self._staff_actor(s, leader_tg_id)
            if not actor.is_leader:
                raise PermissionDenied("只有领导可以交办（改派）工单。")
            target = await self._staff_by_tg(s, to_staff_tg_id)
            t = await self._ticket(s, ref)
            if t.state in (TicketState.CLOSED, TicketState.RESOLVED):
                raise IllegalTransition(f"工单 {t.number} 当前状态为「{TicketState(t.state).label}」，不能改派。")
            if target.role == StaffRole.ADMIN:
                # An admin cannot open tickets: handed one, it would sit with its clock running.
                raise InvalidInput(f"{target.name} 是管理员，不办理工单；请交办给服务专员或领导。")
            t.assignee_id = target.id
            why = reason or "领导交办"
            if t.state in (TicketState.ESCALATED, TicketState.NEW):
                self._transition(s, t, TicketState.ASSIGNED, actor, "reassign", why)
                if t.accepted_at is None:
                    t.accepted_at = self.now()
                    self._set_resolve_clock(t, self.now())
            else:
                self._audit(s, t, actor, "reassign", t.state, t.state, why)
            await self._notify(s, t, Audience.STAFF, "reassigned", actor_name=actor.name, target_name=target.name,
                               note=reason)
            return await self._public(s, t)

    @retry_on_conflict
    async def add_department(self, ref: int | str, staff_tg_id: int, department: str) -> TicketPublic:
        """Bring in a co-handling department (多部门会办)."""
        department = self._text(department, "会办部门", 100)
        async with self._staff_ticket_tx(ref, staff_tg_id) as (s, actor, t):
            if t.state == TicketState.CLOSED:
                raise IllegalTransition(f"工单 {t.number} 已销号。")
            (department,) = await self._canonical_departments(s, [department], "会办部门")
            if department != t.department and department not in t.co_departments:
                t.co_departments = [*t.co_departments, department]
                t.updated_at = self.now()
                self._audit(s, t, actor, "add_department", t.state, t.state, department)
                await self._notify(s, t, Audience.STAFF, "co_department", co_department=department)
            return await self._public(s, t)

    @retry_on_conflict
    async def resolve(self, ref: int | str, staff_tg_id: int, note: str) -> TicketPublic:
        """Record the result (办结, a note is required) and ask the enterprise to rate it."""
        note = self._text(note, "办理结果说明", MAX_TEXT)
        now = self.now()
        async with self._staff_ticket_tx(ref, staff_tg_id) as (s, actor, t):
            if t.accepted_at is None:
                raise IllegalTransition(f"工单 {t.number} 尚未受理，请先认领。")
            self._transition(s, t, TicketState.RESOLVED, actor, "resolve", note)
            self._mark_resolve_overdue_if_late(s, t, now)
            t.resolved_at = now
            t.first_resolved_at = t.first_resolved_at or now
            t.resolution_note = note
            t.resolution_round += 1
            t.paused_at, t.resolve_remaining_s = None, None
            t.rating_due_at = self.calendar.add_working_days(now, self.cfg.rating_within_days)
            t.rating_remind_at = self.calendar.add_working_days(now, self.cfg.rating_reminder_after_days)
            t.rating_reminded = False
            s.add(TicketMessage(ticket_id=t.id, author_kind=AuthorKind.STAFF, author_tg_id=actor.tg_id, text=f"办理结果：{note}", created_at=now))  # type: ignore[arg-type]
            await self._notify(s, t, Audience.ENTERPRISE, "rate_request", note=note, rating_due_at=t.rating_due_at)
            return await self._public(s, t)

    def _mark_resolve_overdue_if_late(self, s: AsyncSession, t: Ticket, now: datetime) -> None:
        # Counted even when the scheduler never ran (e.g. bot down): the deadline is in the row.
        if t.resolve_due_at is not None and now > t.resolve_due_at and not t.resolve_overdue and t.paused_at is None:
            t.resolve_overdue = True
            self._audit(s, t, SYSTEM_ACTOR, "resolve_overdue", reason=f"办结时限 {self.fmt(t.resolve_due_at)}")

    @retry_on_conflict
    async def rate(self, ref: int | str, enterprise_tg_id: int, score: str, comment: str = "") -> TicketPublic:
        """The requester rates a resolved ticket: 满意/基本满意 close it, 不满意 reopens it with a 回访 task."""
        try:
            value = _SCORE_ALIASES[str(score).strip().lower()]
        except KeyError as exc:
            raise InvalidInput(f"评价「{score}」无效，请选择：满意 / 基本满意 / 不满意。") from exc
        comment = self._text(comment, "评价意见", 1000, required=False)
        now = self.now()
        async with self._tx() as s:
            t = await self._ticket(s, ref)
            self._require_owner(t, enterprise_tg_id)
            if t.state != TicketState.RESOLVED:
                raise IllegalTransition(f"工单 {t.number} 当前状态为「{TicketState(t.state).label}」，暂不能评价。")
            actor = Actor(AuthorKind.ENTERPRISE, enterprise_tg_id, t.requester_name)
            s.add(Rating(ticket_id=t.id, round=t.resolution_round, score=value.value, comment=comment, rater_tg_id=enterprise_tg_id, created_at=now))  # type: ignore[arg-type]
            self._audit(s, t, actor, "rate", t.state, t.state, f"{value.value} {comment}".strip())
            if value == RatingScore.UNSATISFIED:
                self._transition(s, t, TicketState.REOPENED, actor, "reopen", comment or "企业不满意")
                t.rating_due_at = t.rating_remind_at = None
                t.resolve_warned = False
                t.resolve_escalated_at = None
                self._set_resolve_clock(t, now)
                fu = FollowUp(
                    ticket_id=t.id,  # type: ignore[arg-type]
                    assignee_id=t.assignee_id,
                    created_at=now,
                    due_at=self.calendar.add_working_days(now, self.cfg.followup_within_days),
                    warn_at=self.calendar.add_working_days(now, self.cfg.followup_within_days * self.cfg.warn_at_fraction),
                )
                s.add(fu)
                await self._notify(s, t, Audience.ENTERPRISE, "reopened", followup_due_at=fu.due_at)
                await self._notify(s, t, Audience.STAFF, "followup", comment=comment, followup_due_at=fu.due_at,
                                   resolve_due_at=t.resolve_due_at)
            else:
                self._transition(s, t, TicketState.CLOSED, actor, "close", f"企业评价{value.value}，对账销号")
                t.closed_at, t.close_reason = now, "rated"
                await self.close_followups(s, t, actor, f"企业评价{value.value}")
                await self._notify(s, t, Audience.ENTERPRISE, "closed")
                await self._notify(s, t, Audience.STAFF, "rated", score=value.value)
            return await self._public(s, t)

    @retry_on_conflict
    async def add_rating_comment(self, ref: int | str, enterprise_tg_id: int, comment: str) -> TicketPublic:
        """The requester's comment on their latest rating, sent after the buttons; a 不满意 one also reaches the commissioner."""
        comment = self._text(comment, "评价意见", MAX_TEXT)
        now = self.now()
        async with self._tx() as s:
            t = await self._ticket(s, ref)
            self._require_owner(t, enterprise_tg_id)
            stmt = select(Rating).where(Rating.ticket_id == t.id).order_by(col(Rating.id).desc())
            rating = (await s.exec(stmt)).first()
            if rating is None:
                raise IllegalTransition(f"工单 {t.number} 还没有评价。")
            if rating.comment:
                raise IllegalTransition(f"工单 {t.number} 的这次评价已有意见。")
            rating.comment = comment
            actor = Actor(AuthorKind.ENTERPRISE, enterprise_tg_id, t.requester_name)
            self._audit(s, t, actor, "rating_comment", t.state, t.state, f"{rating.score} {comment}")
            if rating.score == RatingScore.UNSATISFIED.value and t.state != TicketState.CLOSED:
                # What is still unresolved: to the commissioner like any enterprise message (one notification).
                await self._notify(s, t, Audience.STAFF, "enterprise_message", text=comment, unhappy=True)
                s.add(TicketMessage(ticket_id=t.id, author_kind=AuthorKind.ENTERPRISE.value, author_tg_id=enterprise_tg_id, text=comment, created_at=now))  # type: ignore[arg-type]
            t.updated_at = now
            return await self._public(s, t)

    @retry_on_conflict
    async def close(self, ref: int | str, staff_tg_id: int, note: str) -> TicketPublic:
        """对账销号 by staff: only a resolved ticket with a resolution note, and a closing note is required."""
        note = self._text(note, "销号说明", MAX_TEXT)
        async with self._staff_ticket_tx(ref, staff_tg_id) as (s, actor, t):
            if not t.resolution_note:
                raise IllegalTransition(f"工单 {t.number} 没有办理结果说明，不能销号。")
            self._transition(s, t, TicketState.CLOSED, actor, "close", note)
            t.closed_at, t.close_reason, t.close_note = self.now(), "manual", note
            await self.close_followups(s, t, actor, "对账销号")
            await self._notify(s, t, Audience.ENTERPRISE, "closed", note=note)
            return await self._public(s, t)

    async def close_followups(self, s: AsyncSession, t: Ticket, actor: Actor, why: str) -> int:
        """Close the ticket's open 回访 tasks with it: a closed ticket has nobody left to call back, and a
        task left open would later send leaders a false 督办 notice. Audited; returns how many."""
        stmt = select(FollowUp).where(FollowUp.ticket_id == t.id, col(FollowUp.done_at).is_(None))
        open_tasks = list((await s.exec(stmt)).all())
        for fu in open_tasks:
            fu.done_at, fu.note = self.now(), f"工单销号（{why}），回访任务随之关闭"
            s.add(fu)
        if open_tasks:
            self._audit(s, t, actor, "followup_closed", t.state, t.state, f"随工单销号关闭 {len(open_tasks)} 个回访任务")
        return len(open_tasks)

    @retry_on_conflict
    async def complete_followup(self, followup_id: int, staff_tg_id: int, note: str) -> FollowUp:
        """Record that the 回访 happened."""
        note = self._text(note, "回访记录", MAX_TEXT)
        async with self._tx() as s:
            actor = await self._staff_actor(s, staff_tg_id)
            fu = await s.get(FollowUp, followup_id)
            if fu is None:
                raise InvalidInput(f"找不到回访任务 {followup_id}。")
            t = await self._ticket(s, fu.ticket_id)
            await self._require_act(s, actor, t)
            if fu.done_at is not None:
                raise IllegalTransition(f"回访任务 {followup_id} 已完成。")
            fu.done_at, fu.note = self.now(), note
            self._audit(s, t, actor, "followup_done", t.state, t.state, note)
            return fu

    # ================================================================ messages
    @retry_on_conflict
    async def add_message(self, ticket_id: int | str, author_kind: str, author_tg_id: int | None, text: str) -> TicketMessage:
        """Store a message and queue it to the other side (staff → enterprise, enterprise → staff)."""
        text = self._text(text, "消息内容", MAX_TEXT)
        try:
            kind = AuthorKind(author_kind)
        except ValueError as exc:
            raise InvalidInput(f"未知的消息作者类型：{author_kind}") from exc
        now = self.now()
        async with self._tx() as s:
            t = await self._ticket(s, ticket_id)
            if t.state == TicketState.CLOSED:
                raise IllegalTransition(f"工单 {t.number} 已销号，如有新问题请重新反映。")
            if kind == AuthorKind.ENTERPRISE:
                self._require_owner(t, author_tg_id)
                if t.state == TicketState.WAITING_ENTERPRISE:
                    await self._resume(s, t, Actor(kind, author_tg_id, t.requester_name), "企业已补充材料")
                await self._notify(s, t, Audience.STAFF, "enterprise_message", text=text)
            elif kind == AuthorKind.STAFF:
                actor = await self._staff_actor(s, author_tg_id)
                await self._require_act(s, actor, t)
                if t.accepted_at is None:
                    raise IllegalTransition(f"工单 {t.number} 尚未受理，请先认领后再回复企业。")
                if t.state in (TicketState.ASSIGNED, TicketState.REOPENED):
                    self._transition(s, t, TicketState.IN_PROGRESS, actor, "start", "首次答复企业")
                await self._notify(s, t, Audience.ENTERPRISE, "staff_message", staff_name=self._shown_name(actor),
                                   text=text)
            msg = TicketMessage(ticket_id=t.id, author_kind=kind.value, author_tg_id=author_tg_id, text=text, created_at=now)  # type: ignore[arg-type]
            s.add(msg)
            t.updated_at = now
            await s.flush()
            return msg

    # ================================================================ outbox
    async def pending_notifications(self, limit: int = 50, max_attempts: int = 10) -> list[NotificationPublic]:
        """Undelivered outbox rows, oldest first (rows that failed max_attempts times are left for humans)."""
        async with self.sessions() as s:
            stmt = (
                select(Notification, Ticket)
                .join(Ticket, col(Notification.ticket_id) == col(Ticket.id), isouter=True)
                .where(col(Notification.sent_at).is_(None), Notification.attempts < max_attempts)
                .order_by(col(Notification.id))
                .limit(limit)
            )
            out = []
            for n, t in (await s.exec(stmt)).all():
                data = n.model_dump()
                if t is not None:
                    data.update(ticket_number=t.number or "", staff_chat_id=t.staff_chat_id, staff_thread_id=t.staff_thread_id)
                out.append(NotificationPublic.model_validate(data))
            return out

    async def mark_notification_sent(self, notification_id: int) -> None:
        """The bot delivered it."""
        async with self._tx() as s:
            n = await s.get(Notification, notification_id)
            if n is None:
                raise InvalidInput(f"找不到通知 {notification_id}。")
            n.sent_at = self.now()
            n.attempts += 1

    async def mark_notification_failed(self, notification_id: int, error: str) -> None:
        """Delivery failed; it stays pending and will be retried."""
        async with self._tx() as s:
            n = await s.get(Notification, notification_id)
            if n is None:
                raise InvalidInput(f"找不到通知 {notification_id}。")
            n.attempts += 1
            n.last_error = error[:2000]

    # ================================================================ scheduler
    async def run_due(self, now: datetime | None = None) -> TickResult:
        """One scheduler tick: warn, escalate, remind, auto-close (see desk.scheduler)."""
        return await run_due(self, now)


__all__ = ["SYSTEM_ACTOR", "Actor", "Desk", "DeskError", "parse_ticket_ref"]
