"""Sign-in, sign-out and the landing redirect."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from dashboard.auth import LockoutPolicy, SignInOutcome, authenticate, end_sessions
from dashboard.csrf import csrf_token, verify_csrf
from dashboard.deps import (
    SESSION_GENERATION,
    SESSION_ISSUED,
    SESSION_USER,
    CurrentStaff,
    SessionDep,
    StateDep,
    load_staff_user,
)
from dashboard.throttle import BUSY_MESSAGE, RETRY_AFTER_S, SignInBusy

router = APIRouter()

NOTES = {
    "expired": "登录已失效（会话过期或无效），请重新登录。",
    "signedout": "您已安全退出。",
}


def safe_next(target: str | None) -> str:
    """Only same-site paths may be redirected to after sign-in (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _login_page(request: Request, state: StateDep, status: int = 200, **context: object) -> Response:
    base: dict[str, object] = {"user": None, "note": "", "error": "", "next": "/", "tg_user_id": ""}
    base.update(context)
    return state.templates.TemplateResponse(request, "login.html", base, status_code=status)


@router.get("/login")
async def login_form(request: Request, state: StateDep, next: str = "/", note: str = "") -> Response:
    csrf_token(request)  # make sure the form carries a token bound to this browser
    return _login_page(request, state, next=safe_next(next), note=NOTES.get(note, ""))


@router.post("/login", dependencies=[Depends(verify_csrf)])
async def login(
    request: Request,
    state: StateDep,
    session: SessionDep,
    tg_user_id: Annotated[str, Form(max_length=32)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form(max_length=2048)] = "/",
) -> Response:
    uid = int(tg_user_id.strip()) if tg_user_id.strip().lstrip("-").isdigit() else None
    dash = state.settings.dashboard
    # Behind nginx, uvicorn's proxy_headers put the forwarded client address here. The request rate
    # was checked before this route ran (SignInThrottleMiddleware); the hash pool may still be full.
    address = request.client.host if request.client is not None else "unknown"
    try:
        result = await authenticate(
            state.sessions,
            tg_user_id=uid,
            address=address,
            password=password,
            clock=state.clock,
            policy=LockoutPolicy(dash.lockout_failures, dash.lockout_ceiling, dash.lockout_minutes),
            hashes=state.hashes,
        )
    except SignInBusy:
        busy = _login_page(
            request, state, error=BUSY_MESSAGE, next=safe_next(next), tg_user_id=tg_user_id, status=429
        )
        busy.headers["Retry-After"] = str(RETRY_AFTER_S)
        return busy
    # A credential alone is not enough: the person must still be active staff in the desk.
    found = (
        await load_staff_user(session, uid)
        if uid is not None and result.outcome is SignInOutcome.OK
        else None
    )
    if found is None:
        message = result.message_zh(state.clock.now()) or "用户 ID 或密码错误。"
        status = 429 if result.outcome is SignInOutcome.LOCKED else 401
        return _login_page(
            request, state, error=message, next=safe_next(next), tg_user_id=tg_user_id, status=status
        )
    # Fresh session on sign-in (new CSRF token): nothing from before sign-in carries over.
    request.session.clear()
    request.session[SESSION_USER] = found[0].tg_user_id
    request.session[SESSION_GENERATION] = result.generation
    request.session[SESSION_ISSUED] = int(state.clock.now().timestamp())
    csrf_token(request)
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/logout", dependencies=[Depends(verify_csrf)])
async def logout(request: Request, state: StateDep) -> Response:
    user = request.session.get(SESSION_USER)
    if isinstance(user, int):
        await end_sessions(state.sessions, user)  # the server forgets the session, not just the browser
    request.session.clear()
    return RedirectResponse("/login?note=signedout", status_code=303)


@router.get("/")
async def home(user: CurrentStaff) -> Response:
    """Each role lands on its own main page."""
    if user.is_admin:
        return RedirectResponse("/knowledge", status_code=303)
    return RedirectResponse("/queue", status_code=303)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
