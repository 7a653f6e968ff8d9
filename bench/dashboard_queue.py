"""Queue page latency at scale: 10,000 tickets in SQLite, real uvicorn on 127.0.0.1, real HTTP.

    .venv/bin/python bench/dashboard_queue.py [--tickets 10000] [--requests 200]

Seeds a throw-away data dir (bulk insert: the desk's per-ticket path would take minutes and the queue
only reads), signs in as a leader (sees every ticket: the worst case) and as a commissioner, then
requests the queue with the filters staff use. Prints p50/p95/max per scenario; target p95 ≤ 200 ms.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.config import load_settings  # noqa: E402
from core.db import init_db_sync, make_sync_engine, sync_session  # noqa: E402
from dashboard.auth import hash_password  # noqa: E402
from dashboard.main import create_app  # noqa: E402
from dashboard.models import StaffCredential  # noqa: E402
from desk.models import Enterprise, Staff, Ticket  # noqa: E402
from desk.states import TicketState  # noqa: E402
from tests.dashboard.live import serve  # noqa: E402

DEPARTMENTS = [
    f"{name}局"
    for name in ["市场监管", "税务", "人社", "住建", "自然资源", "生态环境", "交通运输", "商务", "卫健", "应急管理", "消防", "公安", "民政", "财政", "发改", "工信", "农业农村", "水务", "文旅", "城管"]
]
PASSWORD = "bench-password-1"
TARGET_MS = 200.0


def seed(settings, n_tickets: int) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(7)
    engine = make_sync_engine(settings.database_url)
    init_db_sync(engine)
    now = datetime.now(UTC)
    with sync_session(engine) as s:
        staff = [
            Staff(
                tg_user_id=9000 + i,
                name=f"专员{i}",
                departments=[DEPARTMENTS[i % 20], DEPARTMENTS[(i + 7) % 20]],
            )
            for i in range(40)
        ]
        staff.append(Staff(tg_user_id=8000, name="领导", role="leader"))
        s.add_all(staff)
        s.flush()
        digest = hash_password(PASSWORD)
        s.add_all([StaffCredential(tg_user_id=x.tg_user_id, password_hash=digest) for x in staff])
        ents = [
            Enterprise(name=f"测试企业{i}有限公司", credit_code=f"B{i:017d}", tg_user_id=100000 + i)
            for i in range(2000)
        ]
        s.add_all(ents)
        s.flush()
        states = [s_.value for s_ in TicketState]
        weights = [10, 8, 15, 5, 4, 8, 2, 48]  # most tickets of a mature desk are closed
        tickets = []
        for i in range(n_tickets):
            created = now - timedelta(minutes=rng.randint(0, 60 * 24 * 120))
            state = rng.choices(states, weights)[0]
            accepted = state != "new" and not (state == "escalated" and rng.random() < 0.3)
            who = rng.choice(staff[:40])
            dept = rng.choice(who.departments) if rng.random() < 0.9 else rng.choice(DEPARTMENTS)
            tickets.append(
                Ticket(
                    number=f"BC-{created:%Y%m%d}-{i + 1:05d}",
                    title=f"测试问题 {i}：办理营业执照变更遇到困难",
                    description="材料已提交，窗口迟迟没有答复。",
                    department=dept,
                    reason=rng.choice(["材料", "政策", "跨部门", "超时", "态度", "其他"]),
                    enterprise_id=rng.choice(ents).id,
                    requester_name="测试企业",
                    state=state,
                    assignee_id=who.id if accepted or rng.random() < 0.5 else None,
                    co_departments=[rng.choice(DEPARTMENTS)] if rng.random() < 0.1 else [],
                    created_at=created,
                    accept_due_at=created + timedelta(hours=6),
                    accepted_at=created + timedelta(hours=rng.uniform(0.5, 8)) if accepted else None,
                    resolve_due_at=created + timedelta(days=7) if accepted else None,
                    accept_overdue=rng.random() < 0.05,
                    resolve_overdue=rng.random() < 0.08,
                    resolve_remaining_s=3600.0 * 10 if state == "waiting_enterprise" else None,
                )
            )
        s.add_all(tickets)
        s.commit()
    engine.dispose()


def sign_in(client: httpx.Client, tg_user_id: int) -> None:
    page = client.get("/login")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    r = client.post("/login", data={"tg_user_id": str(tg_user_id), "password": PASSWORD, "csrf_token": token})
    if r.status_code != 303:
        raise SystemExit(f"sign-in failed: {r.status_code}")


def measure(client: httpx.Client, urls: list[str], n: int) -> list[float]:
    for url in urls:  # warm-up
        client.get(url)
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        r = client.get(urls[i % len(urls)])
        times.append((time.perf_counter() - t0) * 1000)
        if r.status_code != 200:
            raise SystemExit(f"{urls[i % len(urls)]} → {r.status_code}")
    return times


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tickets", type=int, default=10_000)
    ap.add_argument("--requests", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(Path(tmp) / "absent.toml", data_dir=Path(tmp) / "var", log_level="WARNING")
        t0 = time.perf_counter()
        seed(settings, args.tickets)
        print(
            f"seeded {args.tickets} tickets in {time.perf_counter() - t0:.1f} s (SQLite, {settings.database_url})"
        )
        scenarios = {
            "leader, default queue (all open)": (8000, ["/queue", "/queue?page=2", "/queue?page=40"]),
            "leader, filters": (
                8000,
                [
                    "/queue?overdue=1",
                    f"/queue?department={DEPARTMENTS[1]}",
                    "/queue?state=all",
                    "/queue?assignee=none&state=new",
                ],
            ),
            "commissioner, own departments": (9003, ["/queue", "/queue?overdue=1", "/queue?assignee=me"]),
        }
        worst = 0.0
        with serve(create_app(settings)) as base:
            for label, (uid, urls) in scenarios.items():
                with httpx.Client(base_url=base, follow_redirects=False, timeout=30) as client:
                    sign_in(client, uid)
                    times = measure(client, urls, args.requests)
                p50, p95 = statistics.median(times), pct(times, 0.95)
                worst = max(worst, p95)
                print(
                    f"{label:36s} n={len(times):4d}  p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  max {max(times):6.1f} ms"
                )
        verdict = "OK" if worst <= TARGET_MS else "OVER TARGET"
        print(f"queue page p95 (worst scenario): {worst:.1f} ms — target ≤ {TARGET_MS:.0f} ms: {verdict}")
        return 0 if worst <= TARGET_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
