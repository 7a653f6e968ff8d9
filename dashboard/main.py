"""create_app(settings): the staff dashboard as a FastAPI application.

Built by a factory (nothing at import time) so tests and the CLI can pass their own database,
clock and desk. Security model, in short: signed session cookie (Starlette SessionMiddleware,
itsdangerous, HttpOnly, SameSite=Lax, expiring), CSRF token on every unsafe request, argon2id
passwords with lockout, role checks in dependencies, desk permission checks on every action,
Jinja2 autoescape on every page and a CSP that forbids inline scripts.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.clock import Clock, SystemClock, as_utc
from core.config import Settings
from core.db import BUSY_MESSAGE, init_db, is_database_busy, make_async_engine, make_sessionmaker
from dashboard.csrf import CsrfError, csrf_token
from dashboard.deps import DashboardState, Forbidden, LoginRequired
from dashboard.fixed_pages import page, send_page
from dashboard.routes import auth, knowledge, push, report, tickets
from dashboard.throttle import HashPool, SignInThrottle, SignInThrottleMiddleware
from desk import errors as desk_errors
from desk.service import Desk
from push.service import PushService

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
SESSION_COOKIE = "zhitong_session"
SECRET_FILE = "dashboard.secret"
# Room for the largest allowed upload plus multipart framing and the other form fields.
UPLOAD_SLACK_BYTES = 256 * 1024


def resolve_secret_key(settings: Settings) -> str:
    """The cookie-signing key: from config/env, else a random one kept in the data dir (0600).

    Persisting the generated key keeps staff signed in across restarts without anyone having to
    invent a secret; a configured key always wins (several dashboard workers must share one).
    """
    configured = settings.dashboard.secret_key.get_secret_value()
    if configured:
        return configured
    path = settings.data_dir / SECRET_FILE
    if path.exists():
        key = path.read_text(encoding="utf-8").strip()
        if len(key) >= 32:
            return key
    key = secrets.token_urlsafe(48)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(key, encoding="utf-8")
    path.chmod(0o600)
    return key


class BodyLimitMiddleware:
    """Refuse request bodies over `max_bytes` before they are parsed or spooled to disk."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _too_large(scope, send, self.max_bytes)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # A chunked body that lies about its size: stop reading; the route fails cleanly.
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await _too_large(scope, send, self.max_bytes)


class _BodyTooLarge(Exception):
    pass


async def _too_large(scope: Scope, send: Send, max_bytes: int) -> None:
    mb = max_bytes / 1024 / 1024
    message = f"请求超过 {mb:.0f} MB 的上限，未做任何更改。"
    await send_page(send, 413, page("文件过大", "上传内容过大", message, "/", "返回"))


class SecurityHeadersMiddleware:
    """CSP without inline scripts, no framing, no MIME sniffing, no referrer leaks."""

    HEADERS = [
        (
            b"content-security-policy",
            b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            b"frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
    ]

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        # Pages carry enterprises' names and phone numbers: no browser or proxy may keep a copy.
        extra = [] if str(scope.get("path", "")).startswith("/static/") else [(b"cache-control", b"no-store")]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + self.HEADERS + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)


def make_templates(settings: Settings) -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(PACKAGE_DIR / "templates"))
    env = templates.env
    env.autoescape = True  # every page escapes every value; never mark user text |safe
    tz = ZoneInfo(settings.desk.timezone)

    def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        utc = as_utc(value)
        return utc.astimezone(tz).strftime(fmt) if utc is not None else "—"

    env.filters["local"] = local_time
    env.globals["csrf_token"] = csrf_token
    return templates


def create_app(
    settings: Settings,
    *,
    sessions: async_sessionmaker[AsyncSession] | None = None,
    clock: Clock | None = None,
    desk: Any = None,
    init_database: bool = True,
) -> FastAPI:
    """The dashboard app. Without `sessions`, it opens the configured database itself."""
    engine: AsyncEngine | None = None
    if sessions is None:
        engine = make_async_engine(settings.database_url, echo=settings.database.echo, database=settings.database)
        sessions = make_sessionmaker(engine)
    clock = clock or SystemClock()
    if desk is None:
        desk = Desk(sessions, settings, clock)
    templates = make_templates(settings)
    dash = settings.dashboard
    state = DashboardState(
        settings=settings,
        sessions=sessions,
        clock=clock,
        desk=desk,
        push=PushService(sessions, settings, clock, desk.calendar),
        templates=templates,
        signin_throttle=SignInThrottle(dash.signin_rate_per_address, dash.signin_rate_overall),
        hashes=HashPool(dash.signin_hash_threads, dash.signin_hash_queue),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if engine is not None:
            if init_database:
                await init_db(engine)
            yield
            await engine.dispose()
        else:
            yield
        state.hashes.shutdown()

    app = FastAPI(
        title="政企直通车 工作台", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.dash = state

    max_upload = int(settings.ingest.max_file_mb * 1024 * 1024)
    # Order: the last added runs first. Size limit outermost, then the sign-in throttle (before any
    # work a refusal does not need), then headers, then the session cookie.
    app.add_middleware(
        SessionMiddleware,
        secret_key=resolve_secret_key(settings),
        session_cookie=SESSION_COOKIE,
        max_age=settings.dashboard.session_max_age_s,
        same_site="lax",
        https_only=settings.dashboard.https_only,
    )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(SignInThrottleMiddleware, throttle=state.signin_throttle)
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_upload + UPLOAD_SLACK_BYTES)

    _install_error_pages(app, templates)
    app.mount("/static", StaticFiles(directory=str(PACKAGE_DIR / "static")), name="static")

    for module in (auth, tickets, report, knowledge, push):
        app.include_router(module.router)
    return app


_CJK = re.compile(r"[\u4e00-\u9fff]")
_TICKET_NUMBER = re.compile(r"BC-\d{8}-\d{3,6}")


def error_page(
    request: Request, templates: Jinja2Templates, status: int, title: str, message: str
) -> Response:
    return templates.TemplateResponse(
        request,
        "error.html",
        {"title": title, "message": message, "user": getattr(request.state, "user", None)},
        status_code=status,
    )


_DESK_STATUS: list[tuple[type[Exception], int, str]] = [
    (desk_errors.TicketNotFound, 404, "找不到工单"),
    (desk_errors.PermissionDenied, 403, "无权操作"),
    (desk_errors.ConcurrentUpdate, 409, "操作冲突"),
    (desk_errors.IllegalTransition, 409, "当前状态不允许此操作"),
    (desk_errors.InvalidInput, 400, "输入有误"),
    (desk_errors.DeskError, 400, "无法完成操作"),
]


def _install_error_pages(app: FastAPI, templates: Jinja2Templates) -> None:
    """Every refusal is a Chinese page with a clear reason; nothing half-done is left behind."""

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        if request.method != "GET":
            target = "/"
        # A cookie that is present but yields no session was forged, tampered with or has expired.
        forged_or_expired = bool(request.cookies.get(SESSION_COOKIE)) and not request.session
        note = "expired" if exc.reason == "stale" or forged_or_expired else ""
        url = f"/login?next={quote(target, safe='')}" + (f"&note={note}" if note else "")
        return RedirectResponse(url, status_code=303)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        return error_page(request, templates, 403, "无权访问", exc.message)

    @app.exception_handler(CsrfError)
    async def _csrf(request: Request, _exc: CsrfError) -> Response:
        return error_page(
            request,
            templates,
            403,
            "表单已失效",
            "表单缺少或带有错误的安全令牌（可能页面已过期）。未做任何更改，请返回刷新页面后重试。",
        )

    @app.exception_handler(desk_errors.DeskError)
    async def _desk(request: Request, exc: desk_errors.DeskError) -> Response:
        # A refusal names no ticket: another department's ticket number stays theirs.
        message = _TICKET_NUMBER.sub("该工单", exc.message)
        for cls, status, title in _DESK_STATUS:
            if isinstance(exc, cls):
                return error_page(request, templates, status, title, message + " 未做任何更改。")
        return error_page(request, templates, 400, "无法完成操作", exc.message)  # pragma: no cover

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        return error_page(request, templates, 400, "请求无效", "请求参数缺失或格式不正确，未做任何更改。")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        if is_database_busy(exc):
            log.warning("dashboard: database busy on %s %s", request.method, request.url.path)
            busy = error_page(request, templates, 503, "系统繁忙", BUSY_MESSAGE + " 未做任何更改。")
            busy.headers["Retry-After"] = "5"
            return busy
        # Details stay in the log; the page shows only an id to quote to the administrator.
        error_id = secrets.token_hex(4)
        log.error("dashboard error %s on %s %s", error_id, request.method, request.url.path, exc_info=exc)
        return error_page(
            request,
            templates,
            500,
            "系统出错",
            f"处理请求时出错（错误编号 {error_id}），请稍后重试或联系管理员。",
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        titles = {404: "页面不存在", 405: "不支持的请求方式", 413: "上传内容过大", 415: "文件类型不支持"}
        said = {
            404: "您要找的页面不存在。",
            405: "这个地址不支持这种请求方式，请从页面上的按钮和链接操作。未做任何更改。",
            413: "上传的内容超过大小上限，未做任何更改。",
            415: "不支持这种文件类型，未做任何更改。",
        }
        detail = exc.detail if isinstance(exc.detail, str) else ""
        # Our own details are Chinese; the framework's ("Method Not Allowed", "There was an error
        # parsing the body") are not shown to staff.
        message = detail if _CJK.search(detail) else said.get(exc.status_code, "请求无法处理，未做任何更改。")
        return error_page(
            request, templates, exc.status_code, titles.get(exc.status_code, "请求出错"), message
        )
