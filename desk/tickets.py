"""Tickets on the desk: creation and routing, and every way of reading them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from desk.actors import Actor
from desk.errors import (
    ConcurrentUpdate,
    EnterpriseNotFound,
    InvalidInput,
    PermissionDenied,
)
from desk.models import (
    AuditEntry,
    Enterprise,
    FollowUp,
    Rating,
    Staff,
    Ticket,
    TicketCreate,
    TicketMessage,
    TicketPublic,
)
from desk.states import (
    Audience,
    AuthorKind,
    Reason,
    StaffRole,
    TicketState,
)
from desk.visibility import may_act_clause, staff_scope

if TYPE_CHECKING:
    pass

from desk.base import (
    MAX_TEXT,
    DeskBase,
    retry_on_conflict,
)


class TicketRecords(DeskBase):
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
        """Open a ticket (state new), route it, start the acceptance clock; committed before anyone is told.

        With ``request_key``, asking again for the same request returns the ticket it already made (nobody
        is told twice), also when two workers ask at the same moment."""
        if data.request_key and (made := await self._ticket_of_request(data.request_key)) is not None:
            return made
        try:
            return await self._create_ticket(data)
        except ConcurrentUpdate:
            if data.request_key and (made := await self._ticket_of_request(data.request_key)) is not None:
                return made
            raise

    async def _ticket_of_request(self, request_key: str) -> TicketPublic | None:
        async with self.sessions() as s:
            t = (await s.exec(select(Ticket).where(Ticket.request_key == request_key))).first()
            return await self._public(s, t) if t is not None else None

    async def _create_ticket(self, data: TicketCreate) -> TicketPublic:
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
                request_key=data.request_key or None,
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
