"""Who does something on the desk: a staff member, the enterprise, or the system (the scheduler)."""

from __future__ import annotations

from dataclasses import dataclass

from desk.models import Staff
from desk.states import AuthorKind, StaffRole


@dataclass(frozen=True)
class Actor:
    """Who does something: a staff member, the enterprise, or the system (scheduler)."""

    kind: str  # AuthorKind value
    tg_id: int | None
    name: str
    staff: Staff | None = None

    @property
    def is_leader(self) -> bool:
        return self.staff is not None and self.staff.role == StaffRole.LEADER


SYSTEM_ACTOR = Actor(AuthorKind.SYSTEM, None, "系统")
