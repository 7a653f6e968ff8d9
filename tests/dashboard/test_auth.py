"""Sign-in, sign-out, lockout, CSRF and cookie tampering, through the real app on real SQLite."""

from __future__ import annotations

from fastapi.testclient import TestClient

from bot.clock import FakeClock
from bot.dashboard.main import SESSION_COOKIE
from bot.dashboard.models import StaffCredential
from tests.dashboard.conftest import PASSWORD, Db, csrf_of, sign_in


def test_password_is_stored_as_argon2id_hash(db: Db) -> None:
    db.staff(1001, "王专员", departments=["市场监管局"])
    cred = db.get(StaffCredential, 1001)
    assert cred.password_hash.startswith("$argon2id$")
    assert PASSWORD not in cred.password_hash


def test_sign_in_and_out(app_client: TestClient, db: Db) -> None:
    db.staff(1001, "王专员", departments=["市场监管局"])
    assert app_client.get("/queue", follow_redirects=False).headers["location"].startswith("/login")
    r = sign_in(app_client, 1001)
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    home = app_client.get("/", follow_redirects=False)
    assert home.headers["location"] == "/queue"
    page = app_client.get("/login")
    r = app_client.post("/logout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert r.headers["location"] == "/login?note=signedout"
    assert app_client.get("/", follow_redirects=False).headers["location"].startswith("/login")


def test_wrong_password_then_lockout(app_client: TestClient, db: Db, clock: FakeClock) -> None:
    db.staff(1001, "王专员", departments=["市场监管局"])
    for _ in range(4):
        r = sign_in(app_client, 1001, "wrong-password")
        assert r.status_code == 401 and "用户 ID 或密码错误" in r.text
    r = sign_in(app_client, 1001, "wrong-password")
    assert r.status_code == 429 and "账户已锁定" in r.text
    # Locked: even the right password is refused until the lock expires.
    r = sign_in(app_client, 1001)
    assert r.status_code == 429
    clock.advance(minutes=16)
    r = sign_in(app_client, 1001)
    assert r.status_code == 303


def test_unknown_user_and_non_numeric_id(app_client: TestClient, db: Db) -> None:
    r = sign_in(app_client, 424242)
    assert r.status_code == 401
    page = app_client.get("/login")
    r = app_client.post(
        "/login", data={"tg_user_id": "<script>x</script>", "password": "x", "csrf_token": csrf_of(page.text)}
    )
    assert r.status_code == 401 and "<script>x</script>" not in r.text and "&lt;script&gt;" in r.text


def test_staff_without_password_or_inactive_cannot_sign_in(app_client: TestClient, db: Db) -> None:
    db.staff(1002, "无密码", password=None)
    assert sign_in(app_client, 1002).status_code == 401
    db.staff(1003, "已停用")
    db.run(db.desk.remove_staff(1003))  # deactivated by the desk; the credential row stays
    assert sign_in(app_client, 1003).status_code == 401


def test_missing_or_wrong_csrf_is_refused(app_client: TestClient, db: Db) -> None:
    db.staff(1001, "王专员")
    r = app_client.post("/login", data={"tg_user_id": "1001", "password": PASSWORD})
    assert r.status_code == 403 and "安全令牌" in r.text
    app_client.get("/login")
    r = app_client.post("/login", data={"tg_user_id": "1001", "password": PASSWORD, "csrf_token": "forged"})
    assert r.status_code == 403
    assert app_client.get("/", follow_redirects=False).headers["location"].startswith("/login")


def test_forged_and_expired_cookies_are_refused(app_client: TestClient, db: Db, settings) -> None:  # type: ignore[no-untyped-def]
    db.staff(1001, "王专员")
    assert sign_in(app_client, 1001).status_code == 303
    good = app_client.cookies.get(SESSION_COOKIE)
    assert good
    # Tamper with the signed payload: the signature no longer matches.
    app_client.cookies.clear()
    app_client.cookies.set(SESSION_COOKIE, ("x" if good[0] != "x" else "y") + good[1:])
    r = app_client.get("/queue", follow_redirects=False)
    assert r.status_code == 303 and "note=expired" in r.headers["location"]
    login = app_client.get(r.headers["location"])
    assert "登录已失效" in login.text


def test_password_change_invalidates_existing_sessions(app_client: TestClient, db: Db) -> None:
    db.staff(1001, "王专员")
    assert sign_in(app_client, 1001).status_code == 303
    assert app_client.get("/", follow_redirects=False).headers["location"] == "/queue"
    db.set_password(1001, "another-password-1")
    r = app_client.get("/", follow_redirects=False)
    assert "/login" in r.headers["location"] and "note=expired" in r.headers["location"]


def test_next_parameter_cannot_redirect_off_site(app_client: TestClient, db: Db) -> None:
    db.staff(1001, "王专员")
    page = app_client.get("/login?next=//evil.example/x")
    r = app_client.post(
        "/login",
        data={
            "tg_user_id": "1001",
            "password": PASSWORD,
            "csrf_token": csrf_of(page.text),
            "next": "//evil.example/x",
        },
        follow_redirects=False,
    )
    assert r.headers["location"] == "/"


def test_security_headers(app_client: TestClient) -> None:
    r = app_client.get("/login")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"


def test_expired_session_cookie(settings, clock: FakeClock, db: Db) -> None:  # type: ignore[no-untyped-def]
    """Starlette checks the cookie signature's timestamp against session_max_age_s."""
    import time

    from bot.dashboard.main import create_app

    settings.dashboard.session_max_age_s = 1
    db.staff(1001, "王专员")
    with TestClient(create_app(settings, clock=clock)) as client:
        r = sign_in(client, 1001)
        assert r.status_code == 303
        value = r.headers["set-cookie"].split(";")[0].split("=", 1)[1]
        time.sleep(2.1)
        # Replay the old cookie by hand (the test client itself has already dropped it).
        client.cookies.clear()
        r = client.get("/queue", headers={"cookie": f"{SESSION_COOKIE}={value}"}, follow_redirects=False)
        assert r.status_code == 303 and "note=expired" in r.headers["location"]


def test_sign_in_lasts_at_most_session_max_age(app_client: TestClient, db: Db, clock: FakeClock) -> None:
    """However active the browser, a sign-in ends after dashboard.session_max_age_s (8 h by default)."""
    db.staff(1001, "王专员")
    assert sign_in(app_client, 1001).status_code == 303
    clock.advance(hours=7)
    assert app_client.get("/", follow_redirects=False).headers["location"] == "/queue"
    clock.advance(hours=1, minutes=1)
    r = app_client.get("/", follow_redirects=False)
    assert "/login" in r.headers["location"] and "note=expired" in r.headers["location"]


def test_parallel_wrong_guesses_verify_at_most_the_limit_then_lock(db: Db, clock: FakeClock, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from bot.dashboard import auth

    db.staff(1001, "王专员", departments=["市场监管局"])
    checked: list[str] = []
    real_verify = auth.verify_password

    def counting(password_hash: str, password: str) -> bool:
        checked.append(password)
        return real_verify(password_hash, password)

    monkeypatch.setattr(auth, "verify_password", counting)

    async def attempt(password: str) -> auth.SignInResult:
        return await auth.authenticate(db.sessions, tg_user_id=1001, password=password, clock=clock,
                                       max_failures=5, lockout_minutes=15)

    async def burst() -> list[auth.SignInResult]:
        # 30 wrong guesses and the right password, all at once.
        return list(await asyncio.gather(*(attempt(f"wrong-{i}") for i in range(30)), attempt(PASSWORD)))

    results = db.run(burst())
    assert len(checked) <= 5  # at most the limit is ever verified
    assert all(r.outcome is not auth.SignInOutcome.OK for r in results[:30])
    assert db.get(StaffCredential, 1001).locked_until is not None
    assert db.run(attempt(PASSWORD)).outcome is auth.SignInOutcome.LOCKED


def test_sign_out_ends_the_session_on_the_server(app_client: TestClient, db: Db) -> None:
    db.staff(1001, "王专员", departments=["市场监管局"])
    sign_in(app_client, 1001)
    copied = app_client.cookies.get(SESSION_COOKIE)
    assert app_client.get("/queue", follow_redirects=False).status_code == 200
    page = app_client.get("/queue")
    app_client.post("/logout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    app_client.cookies.set(SESSION_COOKIE, copied)  # someone kept the old cookie
    assert app_client.get("/queue", follow_redirects=False).headers["location"].startswith("/login")


def test_pages_are_not_cached_and_framework_errors_are_chinese(app_client: TestClient, db: Db) -> None:
    db.staff(1001, "王专员", departments=["市场监管局"])
    sign_in(app_client, 1001)
    assert app_client.get("/queue").headers["cache-control"] == "no-store"
    assert "no-store" not in app_client.get("/static/app.css").headers.get("cache-control", "")
    wrong_method = app_client.put("/queue")
    assert wrong_method.status_code == 405 and "Method Not Allowed" not in wrong_method.text
    assert "不支持这种请求方式" in wrong_method.text
    bad_body = app_client.post("/login", content=b"\xff\xfe garbage", headers={"content-type": "multipart/form-data; boundary=x"})
    assert bad_body.status_code in (400, 403, 422) and "error parsing" not in bad_body.text
