"""Sign-in, sign-out, lockout, CSRF and cookie tampering, through the real app on real SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from core.clock import FakeClock
from dashboard.auth import LockoutPolicy
from dashboard.main import SESSION_COOKIE, create_app
from dashboard.models import ALL_ADDRESSES, SignInGuard, StaffCredential
from dashboard.throttle import HashPool, SignInBusy
from tests.dashboard.conftest import PASSWORD, Db, csrf_of, sign_in

POLICY = LockoutPolicy(max_failures=5, ceiling=50, minutes=15)


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
    assert r.status_code == 429 and "已暂时锁定" in r.text
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

    from dashboard.main import create_app

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

    from dashboard import auth

    db.staff(1001, "王专员", departments=["市场监管局"])
    checked: list[str] = []
    real_verify = auth.verify_password

    def counting(password_hash: str, password: str) -> bool:
        checked.append(password_hash)
        return real_verify(password_hash, password)

    monkeypatch.setattr(auth, "verify_password", counting)
    pool = HashPool(workers=2, max_waiting=100)

    async def attempt(password: str) -> auth.SignInResult:
        return await auth.authenticate(db.sessions, tg_user_id=1001, address="10.0.0.9", password=password,
                                       clock=clock, policy=POLICY, hashes=pool)

    async def burst() -> list[auth.SignInResult]:
        # 30 wrong guesses and the right password, all at once.
        return list(await asyncio.gather(*(attempt(f"wrong-{i}") for i in range(30)), attempt(PASSWORD)))

    results = db.run(burst())
    # At most the limit is checked against the real hash; every other attempt costs one dummy check.
    assert len([h for h in checked if h != auth._DUMMY_HASH]) <= 5
    assert len(checked) == 31
    assert all(r.outcome is not auth.SignInOutcome.OK for r in results[:30])
    assert db.get(SignInGuard, (1001, "10.0.0.9")).locked_until is not None
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


@contextmanager
def behind_proxy(settings, clock: FakeClock) -> Iterator[tuple[TestClient, FastAPI]]:  # type: ignore[no-untyped-def]
    """The app as a city runs it behind nginx: uvicorn's proxy-headers middleware takes the client
    address from X-Forwarded-For, so each request can come from an address of the test's choosing."""
    app = create_app(settings, clock=clock)
    with TestClient(ProxyHeadersMiddleware(app, trusted_hosts="*"), base_url="http://testserver") as client:
        yield client, app


def sign_in_from(client: TestClient, address: str, tg_user_id: int | str, password: str = PASSWORD) -> Any:
    headers = {"X-Forwarded-For": address}
    page = client.get("/login", headers=headers)
    return client.post(
        "/login",
        data={"tg_user_id": str(tg_user_id), "password": password, "csrf_token": csrf_of(page.text)},
        headers=headers,
        follow_redirects=False,
    )


def test_a_lock_holds_only_for_the_address_that_earned_it(settings, clock: FakeClock, db: Db) -> None:  # type: ignore[no-untyped-def]
    db.staff(1001, "王专员", departments=["市场监管局"])
    attacker, owner = "203.0.113.7", "198.51.100.2"
    with behind_proxy(settings, clock) as (client, _):
        for _ in range(5):
            r = sign_in_from(client, attacker, 1001, "guess")
        assert r.status_code == 429 and "已暂时锁定" in r.text
        assert sign_in_from(client, attacker, 1001).status_code == 429  # the attacker's address stays locked
        assert sign_in_from(client, owner, 1001).status_code == 303  # the owner, elsewhere, is not locked out


def test_the_ceiling_locks_an_account_for_every_address(settings, clock: FakeClock, db: Db) -> None:  # type: ignore[no-untyped-def]
    settings.dashboard.lockout_failures = 2
    settings.dashboard.lockout_ceiling = 6
    db.staff(1001, "王专员", departments=["市场监管局"])
    with behind_proxy(settings, clock) as (client, _):
        for n in range(3):  # three addresses, two wrong guesses each: the ceiling of 6
            codes = [sign_in_from(client, f"203.0.113.{n}", 1001, "guess").status_code for _ in range(2)]
            assert codes == [401, 429]
        assert db.get(SignInGuard, (1001, ALL_ADDRESSES)).locked_until is not None
        assert sign_in_from(client, "198.51.100.2", 1001).status_code == 429
        clock.advance(minutes=16)
        assert sign_in_from(client, "198.51.100.2", 1001).status_code == 303


def test_every_refusal_costs_one_password_check(settings, clock: FakeClock, db: Db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Unknown id, locked account, wrong password, id that is not a number: each is one argon2 check,
    and an unknown id is locked exactly like a real one (no id can be told to exist)."""
    from dashboard import auth

    db.staff(1001, "王专员", departments=["市场监管局"])
    checks: list[str] = []
    real_verify = auth.verify_password
    monkeypatch.setattr(auth, "verify_password", lambda h, p: checks.append(h) or real_verify(h, p))

    with behind_proxy(settings, clock) as (client, _):

        def cost(address: str, tg_user_id: str) -> tuple[int, int]:
            before = len(checks)
            return sign_in_from(client, address, tg_user_id, "guess").status_code, len(checks) - before

        assert cost("192.0.2.1", "1001") == (401, 1)
        assert cost("192.0.2.2", "424242") == (401, 1)
        assert cost("192.0.2.3", "not-a-number") == (401, 1)
        for n, uid in enumerate(("1001", "424242")):  # a real and an unknown id, locked the same way
            locker = f"203.0.113.{50 + n}"
            assert [cost(locker, uid)[0] for _ in range(5)] == [401, 401, 401, 401, 429]
            status, checked = cost(locker, uid)
            assert (status, checked) == (429, 1)
            assert "已暂时锁定" in sign_in_from(client, locker, uid, "guess").text


def test_attempts_over_the_rate_are_refused_before_any_hashing(settings, clock: FakeClock, db: Db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from dashboard import auth

    settings.dashboard.signin_rate_per_address = "3/minute"
    settings.dashboard.signin_rate_overall = "5/minute"
    db.staff(1001, "王专员", departments=["市场监管局"])
    checks: list[str] = []
    real_verify = auth.verify_password
    monkeypatch.setattr(auth, "verify_password", lambda h, p: checks.append(h) or real_verify(h, p))
    with behind_proxy(settings, clock) as (client, _):
        codes = [sign_in_from(client, "203.0.113.9", 1001, f"guess-{i}").status_code for i in range(4)]
        assert codes == [401, 401, 401, 429] and len(checks) == 3
        busy = sign_in_from(client, "203.0.113.9", 1001, "guess")
        assert "登录尝试过于频繁" in busy.text and busy.headers["retry-after"] == "60"
        # Other addresses share what is left of the overall rate (5/minute, 3 used), then are refused too.
        others = [sign_in_from(client, f"198.51.100.{n}", 1001, "guess").status_code for n in range(3)]
        assert others == [401, 401, 429] and len(checks) == 5


def test_the_hash_pool_refuses_what_it_cannot_queue() -> None:
    import asyncio
    import threading

    release = threading.Event()

    async def scenario() -> list[object]:
        pool = HashPool(workers=1, max_waiting=1)
        running = [asyncio.ensure_future(pool.run(release.wait)) for _ in range(2)]  # one runs, one waits
        await asyncio.sleep(0.05)
        try:
            await pool.run(release.wait)
            third: object = "admitted"
        except SignInBusy:
            third = "busy"
        release.set()
        done = await asyncio.gather(*running)
        after = await pool.run(lambda: "free again")
        pool.shutdown()
        return [third, *done, after]

    assert asyncio.run(scenario()) == ["busy", True, True, "free again"]


def test_a_sign_in_flood_is_answered_429_while_checks_are_busy(settings, clock: FakeClock, db: Db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """With the one hashing thread held and its queue full, more sign-ins get 429 at once instead of
    piling onto the CPU; when the checks finish, sign-in works again."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from dashboard import auth

    settings.dashboard.signin_hash_threads = 1
    settings.dashboard.signin_hash_queue = 1
    db.staff(1001, "王专员", departments=["市场监管局"])
    release, entered = threading.Event(), threading.Semaphore(0)
    real_verify = auth.verify_password

    def slow_verify(password_hash: str, password: str) -> bool:
        entered.release()
        release.wait(30)
        return real_verify(password_hash, password)

    monkeypatch.setattr(auth, "verify_password", slow_verify)
    with behind_proxy(settings, clock) as (client, app):

        def post(n: int) -> int:
            return int(sign_in_from(client, f"203.0.113.{n}", 1001, "guess").status_code)

        with ThreadPoolExecutor(max_workers=2) as pool:
            held = [pool.submit(post, 0)]
            assert entered.acquire(timeout=10)  # the one thread is busy with the first check
            held.append(pool.submit(post, 1))  # the second waits in the queue of one
            for _ in range(100):
                if app.state.dash.hashes.admitted == 2:
                    break
                threading.Event().wait(0.05)
            assert post(2) == 429  # the third is refused at once
            release.set()
            assert [f.result(timeout=30) for f in held] == [401, 401]
        monkeypatch.setattr(auth, "verify_password", real_verify)
        assert sign_in_from(client, "203.0.113.2", 1001).status_code == 303


def test_a_new_password_lifts_the_accounts_sign_in_locks(app_client: TestClient, db: Db) -> None:
    db.staff(1001, "王专员", departments=["市场监管局"])
    for _ in range(5):
        r = sign_in(app_client, 1001, "guess")
    assert r.status_code == 429
    db.set_password(1001, "a-brand-new-password")  # an admin resets it (zhitong staff passwd)
    assert sign_in(app_client, 1001, "a-brand-new-password").status_code == 303
