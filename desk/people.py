"""Staff and enterprises on the desk: who works it, in which departments, and who is registered."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from desk.actors import SYSTEM_ACTOR, Actor
from desk.credit_code import normalize_credit_code
from desk.errors import (
    ConcurrentUpdate,
    InvalidInput,
    PermissionDenied,
    StaffNotFound,
)
from desk.models import (
    Enterprise,
    EnterpriseCreate,
    EnterprisePublic,
    Staff,
    StaffPublic,
)
from desk.states import (
    AuthorKind,
    StaffRole,
    TicketState,
)
from desk.visibility import colleague_may_take, staff_scope

if TYPE_CHECKING:
    pass

from desk.base import (
    DeskBase,
    retry_on_conflict,
)


class StaffAndEnterprises(DeskBase):
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

    async def handover_targets(self, ref: int | str, staff_tg_id: int) -> list[StaffPublic]:
        """Whom the 转派 picker offers for this ticket — only people who may act on it; never admins, the
        asker or the current assignee.

        A leader (领导交办): the commissioners who cover its department or a co-handling department, then the
        other leaders (the dashboard lists everyone, with departments, for the rarer cross-department case).
        A commissioner (handover to a colleague): the other commissioners who share a department of the
        ticket with them. An escalated ticket is the leaders' to hand on."""
        async with self.sessions() as s:
            actor = await self._staff_actor(s, staff_tg_id)
            t = await self._ticket(s, ref)
            if not actor.is_leader:
                await self._require_act(s, actor, t)
                if t.state == TicketState.ESCALATED:
                    raise PermissionDenied(f"工单 {t.number} 已升级督办，只有领导可以交办（改派）。")
            rows = (await s.exec(select(Staff).where(Staff.active == True).order_by(Staff.name))).all()  # noqa: E712
            others = [x for x in rows if x.tg_user_id != staff_tg_id and x.id != t.assignee_id]
            if actor.is_leader:
                wanted = {t.department, *t.co_departments} - {""}
                chosen = [x for x in others
                          if x.role == StaffRole.COMMISSIONER and wanted.intersection(x.departments or [])]
                chosen += [x for x in others if x.role == StaffRole.LEADER]
            else:
                assert actor.staff is not None
                giver = staff_scope(actor.staff)
                chosen = [x for x in others if colleague_may_take(giver, staff_scope(x), t)]
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
