"""Dependencies shared by the routes: the app's services, a DB session, the signed-in staff member."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import Clock
from core.config import Settings
from dashboard.models import StaffCredential
from dashboard.throttle import HashPool, SignInThrottle
from desk.models import Staff
from desk.states import StaffRole

if TYPE_CHECKING:
    from desk.service import Desk
    from push.service import PushService

SESSION_USER = "uid"
SESSION_GENERATION = "gen"
SESSION_ISSUED = "iat"


@dataclass
class DashboardState:
    """Everything the routes need, built once by create_app and kept on app.state.dash."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    desk: Desk
    push: PushService
    templates: Jinja2Templates
    signin_throttle: SignInThrottle
    hashes: HashPool
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StaffUser:
    """The signed-in staff member, as the routes see them (not the table row)."""

    id: int
    tg_user_id: int
    name: str
    role: StaffRole
    departments: tuple[str, ...]

    @property
    def role_label(self) -> str:
        return self.role.label

    @property
    def is_leader(self) -> bool:
        return self.role is StaffRole.LEADER

    @property
    def is_admin(self) -> bool:
        return self.role is StaffRole.ADMIN

    @property
    def sees_tickets(self) -> bool:
        return self.role in (StaffRole.COMMISSIONER, StaffRole.LEADER)


class LoginRequired(Exception):
    """No valid signed-in session: the handler redirects to the sign-in page."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


class Forbidden(Exception):
    """The signed-in role may not see this page; the message is Chinese."""

    def __init__(self, message: str = "您的角色无权访问此页面。") -> None:
        super().__init__(message)
        self.message = message


def get_state(request: Request) -> DashboardState:
    state: DashboardState = request.app.state.dash
    return state


StateDep = Annotated[DashboardState, Depends(get_state)]


async def get_session(state: StateDep) -> AsyncIterator[AsyncSession]:
    async with state.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def load_staff_user(session: AsyncSession, tg_user_id: int) -> tuple[StaffUser, StaffCredential] | None:
    """The active staff member with this Telegram id and their credential, or None."""
    staff = (await session.exec(select(Staff).where(Staff.tg_user_id == tg_user_id))).first()
    if staff is None or not staff.active or staff.id is None:
        return None
    cred = await session.get(StaffCredential, tg_user_id)
    if cred is None:
        return None
    try:
        role = StaffRole(staff.role)
    except ValueError:
        return None
    user = StaffUser(staff.id, staff.tg_user_id, staff.name, role, tuple(staff.departments or ()))
    return user, cred


async def current_staff(request: Request, state: StateDep, session: SessionDep) -> StaffUser:
    """The signed-in staff member; LoginRequired when the cookie is absent, forged, expired or stale."""
    uid = request.session.get(SESSION_USER)
    if not isinstance(uid, int):
        raise LoginRequired()
    # The cookie's own expiry slides with every response (Starlette re-signs it); the sign-in itself
    # lasts at most session_max_age_s, however active the browser is.
    issued = request.session.get(SESSION_ISSUED)
    age = state.clock.now().timestamp() - issued if isinstance(issued, int | float) else None
    if age is None or age > state.settings.dashboard.session_max_age_s:
        request.session.clear()
        raise LoginRequired("stale")
    found = await load_staff_user(session, uid)
    # A password change bumps the generation, and a deactivated staff member has no row: either way
    # cookies issued before are no longer honoured.
    if found is None or found[1].generation != request.session.get(SESSION_GENERATION):
        request.session.clear()
        raise LoginRequired("stale")
    user = found[0]
    request.state.user = user
    return user


CurrentStaff = Annotated[StaffUser, Depends(current_staff)]


async def ticket_staff(user: CurrentStaff) -> StaffUser:
    """Commissioners and leaders: the ticket pages."""
    if not user.sees_tickets:
        raise Forbidden("工单页面仅限服务专员和领导使用。")
    return user


async def leader_staff(user: CurrentStaff) -> StaffUser:
    if not user.is_leader:
        raise Forbidden("月度通报仅限领导查看。")
    return user


async def admin_staff(user: CurrentStaff) -> StaffUser:
    if not user.is_admin:
        raise Forbidden("知识库管理页面仅限管理员使用。")
    return user


TicketStaff = Annotated[StaffUser, Depends(ticket_staff)]
LeaderStaff = Annotated[StaffUser, Depends(leader_staff)]
AdminStaff = Annotated[StaffUser, Depends(admin_staff)]
