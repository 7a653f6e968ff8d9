"""Domain errors of the desk. Each carries a Chinese message fit to show to the person who caused it."""

from __future__ import annotations


class DeskError(Exception):
    """Base class: `str(exc)` is the Chinese message for the user; nothing was changed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TicketNotFound(DeskError):
    def __init__(self, ref: object) -> None:
        super().__init__(f"找不到工单 {ref}，请核对工单编号。")


class IllegalTransition(DeskError):
    pass


class PermissionDenied(DeskError):
    pass


class NotStaff(PermissionDenied):
    def __init__(self, tg_user_id: int | None) -> None:
        super().__init__(f"用户 {tg_user_id} 不是已登记的工作人员，无权执行此操作。")


class StaffNotFound(DeskError):
    pass


class EnterpriseNotFound(DeskError):
    pass


class InvalidInput(DeskError):
    pass


class InvalidCreditCode(InvalidInput):
    pass


class ConcurrentUpdate(DeskError):
    def __init__(self, message: str = "该工单刚被他人处理，请刷新后重试。") -> None:
        super().__init__(message)


class AlreadyClaimed(ConcurrentUpdate):
    def __init__(self, number: str) -> None:
        DeskError.__init__(self, f"工单 {number} 已被其他专员认领。")
