"""The scale-out arrangement, run on 127.0.0.1: webhook workers × N behind Debian's nginx (round-robin, the
rules of deploy/nginx/ included verbatim), PostgreSQL, a Chroma server (`chroma run`) and Redis, with the
test Bot API server posting updates through nginx as Telegram would. Used by bench/cluster.py and
tests/e2e/test_cluster_faults.py.

Each worker is `python -m cli run` (what the systemd unit deploy/systemd/zhitong-worker@.service starts) in
its own process group, configured by environment like deploy/zhitong.env. The owners are FakeUsers: each
chat asks a question, files a 办不成事 intake (pressing the reason and typing the detail at once, so two
updates of the chat are in flight together and reach two workers), and asks again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from handlers import texts
from tests.auxil.botapi_server import BOT_TOKEN, BotApiServer, FakeUser

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"
WEBHOOK_SECRET = "cluster-secret-0123456789"
REDIS_URL = "redis://127.0.0.1:6379/0"

# Owners' questions of the demo city (answered from its directory and policies).
QUESTIONS = [
    "开饭店要办什么证？", "食品经营许可证在哪里办？", "营业执照怎么办理？", "公司变更法人需要什么材料？",
    "招用高校毕业生有什么补贴？", "稳岗返还怎么申请？", "消防验收找哪个部门？", "建设工程施工许可证怎么办？",
    "环评审批要多久？", "个体户怎么注销？", "社保登记在哪里办？", "小微企业有什么税收优惠？",
    "排污许可证怎么申请？", "户外广告招牌设置要审批吗？", "企业年报怎么报？", "残疾人就业保障金怎么缴？",
]
DETAIL = "窗口说材料不全，但没有一次性告知缺什么，已经跑了三趟。"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        raise RuntimeError("nginx is not installed: run scripts/setup-cluster.sh (Debian's nginx)")
    return found


async def _listening(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    return True


async def _wait_until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 180.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not come up within {timeout:.0f} s")
        await asyncio.sleep(0.2)


@dataclass
class Worker:
    index: int
    port: int
    process: asyncio.subprocess.Process | None = None
    starts: int = 0


@dataclass
class Cluster:
    """Start with ``await cluster.start()``; ``stop()`` ends every process it started."""

    root: Path
    api: BotApiServer
    database_url: str  # postgresql+asyncpg://…
    workers: int = 3
    env_extra: dict[str, str] = field(default_factory=dict)
    nginx_port: int = 0
    chroma_port: int = 0
    _workers: list[Worker] = field(default_factory=list)
    _chroma: asyncio.subprocess.Process | None = None
    _nginx: asyncio.subprocess.Process | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self, *, ingest: bool = True) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "data").mkdir(exist_ok=True)
        self.chroma_port = self.chroma_port or free_port()
        self.nginx_port = self.nginx_port or free_port()
        self._workers = [Worker(i, free_port()) for i in range(self.workers)]
        await self._start_chroma()
        if ingest:
            await self._ingest_demo_city()
        await self._start_nginx()
        await asyncio.gather(*(self.start_worker(w.index) for w in self._workers))

    async def stop(self) -> None:
        await asyncio.gather(*(self.terminate_worker(w.index) for w in self._workers), return_exceptions=True)
        for proc in (self._nginx, self._chroma):
            if proc is not None and proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 10)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()

    def env(self) -> dict[str, str]:
        """The environment of every Zhitong process here (what deploy/zhitong.env sets in production)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZHITONG_")}
        env.update({
            "ZHITONG_DATA_DIR": str(self.root / "data"), "ZHITONG_CONFIG": str(self.root / "absent.toml"),
            "ZHITONG_LOG_LEVEL": "WARNING",
            "ZHITONG_DATABASE_URL": self.database_url,
            "ZHITONG_VECTOR_URL": f"http://127.0.0.1:{self.chroma_port}",
            "ZHITONG_REDIS_URL": REDIS_URL,
            "ZHITONG_TELEGRAM_TOKEN": BOT_TOKEN,
            "ZHITONG_TELEGRAM_BASE_URL": self.api.base_url, "ZHITONG_TELEGRAM_BASE_FILE_URL": self.api.base_file_url,
            "ZHITONG_TELEGRAM_MODE": "webhook",
            "ZHITONG_TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{self.nginx_port}/telegram",
            "ZHITONG_TELEGRAM_WEBHOOK_LISTEN": "127.0.0.1",
            "ZHITONG_TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
        })
        env.update(self.env_extra)
        return env

    async def _start_chroma(self) -> None:
        chroma = Path(sys.executable).parent / "chroma"
        self._chroma = await asyncio.create_subprocess_exec(
            str(chroma), "run", "--path", str(self.root / "chroma"), "--host", "127.0.0.1",
            "--port", str(self.chroma_port), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )
        await _wait_until(lambda: _listening(self.chroma_port), "the Chroma server", 60)

    async def _ingest_demo_city(self) -> None:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cli", "ingest", "--quiet", str(REPO_ROOT / "data/sample/directory"),
            str(REPO_ROOT / "data/sample/policies"), env=self.env(), cwd=str(REPO_ROOT),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"ingest failed ({proc.returncode}): {out.decode(errors='replace')[-2000:]}")

    async def _start_nginx(self) -> None:
        conf_dir = self.root / "nginx"
        (conf_dir / "logs").mkdir(parents=True, exist_ok=True)
        upstream = "\n".join(f"        server 127.0.0.1:{w.port} max_fails=1 fail_timeout=5s;" for w in self._workers)
        # Production's zhitong.conf differs only in the addresses, the port and TLS (see deploy/nginx/).
        (conf_dir / "nginx.conf").write_text(f"""
worker_processes 1;
daemon off;
pid {conf_dir}/nginx.pid;
error_log {conf_dir}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {conf_dir}/body;
    proxy_temp_path {conf_dir}/proxy;
    fastcgi_temp_path {conf_dir}/fastcgi;
    uwsgi_temp_path {conf_dir}/uwsgi;
    scgi_temp_path {conf_dir}/scgi;
    include {DEPLOY}/nginx/zhitong-http.conf;
    upstream zhitong_workers {{
{upstream}
        keepalive 16;
    }}
    upstream zhitong_dashboard {{ server 127.0.0.1:9; }}
    server {{
        listen 127.0.0.1:{self.nginx_port};
        include {DEPLOY}/nginx/zhitong-locations.conf;
    }}
}}
""", encoding="utf-8")
        self._nginx = await asyncio.create_subprocess_exec(
            nginx_binary(), "-p", str(conf_dir), "-c", str(conf_dir / "nginx.conf"),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        await _wait_until(lambda: _listening(self.nginx_port), "nginx", 20)

    # ------------------------------------------------------------------ workers
    async def start_worker(self, index: int) -> None:
        worker = self._workers[index]
        env = {**self.env(), "ZHITONG_TELEGRAM_WEBHOOK_PORT": str(worker.port)}
        log = (self.root / f"worker{index}.log").open("ab")
        worker.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cli", "run", env=env, cwd=str(REPO_ROOT), stdout=log, stderr=log,
            start_new_session=True,  # its own process group: a kill takes its answer process too
        )
        log.close()
        worker.starts += 1
        process = worker.process

        async def up() -> bool:
            if process.returncode is not None:
                raise RuntimeError(f"worker {index} exited during start-up ({process.returncode}); "
                                   f"see {self.root / f'worker{index}.log'}")
            return await _listening(worker.port)

        await _wait_until(up, f"worker {index}", 240)

    async def kill_worker(self, index: int) -> None:
        """SIGKILL, as the OOM killer or a power cut would: nothing is flushed, nothing is given back."""
        process = self._workers[index].process
        if process is not None and process.returncode is None:
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()

    async def terminate_worker(self, index: int) -> None:
        """SIGTERM, as systemd stops a unit (a deploy's rolling restart)."""
        process = self._workers[index].process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 30)  # TimeoutStopSec=30 in the unit
        except TimeoutError:
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # what is left of its group (the answer process)

    async def rolling_restart(self) -> None:
        """deploy/rolling-restart.sh: one worker at a time, the next once the previous listens again."""
        for worker in self._workers:
            await self.terminate_worker(worker.index)
            await self.start_worker(worker.index)


# ---------------------------------------------------------------------- the owners
@dataclass
class ChatRun:
    user_id: int
    steps: list[str] = field(default_factory=list)  # what the owner got, in order
    latencies: list[float] = field(default_factory=list)  # seconds from a question to its answer
    error: str = ""
    ticket_number: str = ""
    # The intake did not offer to take the question: the answer was handled twice (a worker died after
    # sending it) and the owner pressed 转人工 under the first copy, whose question the second run renamed.
    typed_matter: bool = False


async def _step(owner: FakeUser, run: ChatRun, name: str, contains: str | Callable[[Any], bool],
                timeout: float) -> Any:  # noqa: ASYNC109
    event = await owner.expect(contains, timeout=timeout)
    run.steps.append(name)
    return event


async def intake_chat(api: BotApiServer, user_id: int, *, start_after: float, timeout: float = 240.0,  # noqa: ASYNC109
                      rng: random.Random, think_s: tuple[float, float] = (0.0, 0.0)) -> ChatRun:
    """Ask; 转人工; take the question as the matter; press a reason and type the detail at once; confirm;
    ask again. Every reply is awaited before the next step, except the pair sent together; ``think_s`` is
    the owner's pause before each step (reading the reply), so many intakes are in progress at once."""
    owner = FakeUser(api, user_id, first_name=f"业主{user_id}")
    run = ChatRun(user_id)
    await asyncio.sleep(start_after)

    async def think() -> None:
        await asyncio.sleep(rng.uniform(*think_s))

    first, second = rng.sample(QUESTIONS, 2)  # two different questions: a repeat would be a repeated answer
    try:
        asked = time.monotonic()
        owner.send(first)
        answer = await _step(owner, run, "answer", lambda e: bool(e.buttons()), timeout)
        run.latencies.append(time.monotonic() - asked)
        await think()
        owner.press(answer, texts.BTN_ESCALATE)
        prompt = await _step(owner, run, "step1", "第 1 步", timeout)
        await think()
        if any(texts.BTN_USE_QUESTION in label for label, _ in prompt.buttons()):
            owner.press(prompt, texts.BTN_USE_QUESTION)
        else:  # the bot did not offer the question (see ChatRun.typed_matter): type it, as an owner would
            run.typed_matter = True
            owner.send(first)
        reasons = await _step(owner, run, "step2", "第 2 步", timeout)
        await think()
        owner.press(reasons, "超时")
        owner.send(DETAIL)  # at once: the two updates race to two workers
        await _step(owner, run, "step3", "第 3 步", timeout)
        summary = await _step(owner, run, "summary", "请确认提交", timeout)
        await think()
        owner.press(summary, "确认提交")
        confirmation = await _step(owner, run, "ticket", "工单号", timeout)
        run.ticket_number = next((w for w in confirmation.text.split() if w.startswith("BC-")), "")
        await think()
        asked = time.monotonic()
        owner.send(second)
        await _step(owner, run, "answer2", lambda e: bool(e.buttons()) and "工单号" not in e.text, timeout)
        run.latencies.append(time.monotonic() - asked)
    except Exception as exc:  # noqa: BLE001 (recorded and reported: a lost update shows up here)
        run.error = f"{type(exc).__name__}: {str(exc)[:300]}"
    return run


INTAKE_STEPS = ["answer", "step1", "step2", "step3", "summary", "ticket", "answer2"]


async def question_load(api: BotApiServer, chats: int, duration_s: float, first_user: int) -> tuple[int, list[float]]:
    """``chats`` owners each asking, waiting for the answer, asking again, for ``duration_s``:
    (answers received, latencies in seconds)."""
    latencies: list[float] = []
    stop_at = time.monotonic() + duration_s
    rng = random.Random(first_user)

    async def owner_loop(user_id: int) -> None:
        owner = FakeUser(api, user_id)
        n = 0
        while time.monotonic() < stop_at:
            n += 1
            asked = time.monotonic()
            # distinct texts: each question is retrieved, not served from an answer cache
            owner.send(f"{rng.choice(QUESTIONS)}（第{n}问）")
            try:
                await owner.expect(lambda e: bool(e.buttons()), timeout=120)
            except TimeoutError:
                return
            latencies.append(time.monotonic() - asked)

    await asyncio.gather(*(owner_loop(first_user + i) for i in range(chats)))
    return len(latencies), latencies


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))]


@dataclass
class FaultReport:
    chats: int
    completed: int
    errors: list[str]
    out_of_order: int  # chats whose bot messages, as sent, are not answer, step 1, 2, 3, summary, ticket, answer
    tickets: int
    duplicated_tickets: int  # tickets beyond one per owner
    duplicated_messages: int  # identical bot messages to one chat beyond the first
    # journal rows handled by a worker that did not receive them (its chat's earlier update was on another
    # worker, or the receiver died) or replayed at a restart: the only ones that may be handled twice
    handed_over_updates: int
    unfinished_updates: int  # journal rows never marked done
    leases_left: int
    typed_matter: int  # intakes where the owner typed the matter (see ChatRun.typed_matter)
    webhook_retries: int
    webhook_given_up: int

    disorder: list[str] = field(default_factory=list)  # what an out-of-order chat received, for the log

    def lines(self) -> list[str]:
        return [
            f"chats {self.chats}: completed {self.completed}, failed {len(self.errors)}, out of order {self.out_of_order}",
            f"tickets {self.tickets} (duplicated {self.duplicated_tickets})",
            f"updates: unfinished {self.unfinished_updates}, handed over or replayed {self.handed_over_updates}, "
            f"webhook posts retried {self.webhook_retries}, given up {self.webhook_given_up}",
            f"messages sent twice {self.duplicated_messages}; intakes whose question had to be typed again "
            f"{self.typed_matter}; chat leases left {self.leases_left}",
        ]


EXPECTED_ORDER = ["answer", "step1", "step2", "step3", "summary", "ticket", "answer"]
_MARKERS = [("第 1 步", "step1"), ("第 2 步", "step2"), ("第 3 步", "step3"), ("请确认提交", "summary"),
            ("工单号", "ticket")]


def _observed_steps(api: BotApiServer, chat_id: int) -> list[str]:
    """What the chat received, in the order the bot sent it. A message sent again (the at-least-once
    window, counted apart) is skipped; an answer may take several messages."""
    steps: list[str] = []
    seen: set[str] = set()
    for event in api._by_chat.get(chat_id, []):  # noqa: SLF001 (the test server's own index)
        if event.method != "sendMessage" or event.text in seen:
            continue
        seen.add(event.text)
        name = next((n for marker, n in _MARKERS if marker in event.text), "answer")
        if not steps or steps[-1] != name:
            steps.append(name)
    return steps


def fault_report(api: BotApiServer, database_url: str, runs: list[ChatRun]) -> FaultReport:
    from sqlalchemy import create_engine, text

    from core.db import sync_url

    owners = {r.user_id for r in runs}
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as conn:
            per_owner: dict[int, int] = {int(owner): int(n) for owner, n in conn.execute(text(
                "SELECT requester_tg_id, count(*) FROM ticket GROUP BY requester_tg_id")).all()}
            unfinished = conn.execute(text("SELECT count(*) FROM inbound_update WHERE done_at IS NULL")).scalar_one()
            interrupted = conn.execute(text("SELECT count(*) FROM inbound_update WHERE replays > 0")).scalar_one()
            leases = conn.execute(text("SELECT count(*) FROM chat_lease")).scalar_one()
    finally:
        engine.dispose()
    duplicated_messages = 0
    for owner in owners:
        seen: set[str] = set()
        for event in api._by_chat.get(owner, []):  # noqa: SLF001 (the test server's own index)
            if event.method != "sendMessage":
                continue
            if event.text in seen:
                duplicated_messages += 1
            seen.add(event.text)
    return FaultReport(
        chats=len(runs),
        completed=sum(1 for r in runs if not r.error and r.steps == INTAKE_STEPS),
        errors=[f"{r.user_id}: {r.error} after {r.steps}" for r in runs if r.error],
        out_of_order=sum(1 for o in owners if _observed_steps(api, o) != EXPECTED_ORDER),
        disorder=[
            f"{o}: {_observed_steps(api, o)}: " + " | ".join(
                f"{e.method}:{e.text[:24]!r}" for e in api._by_chat.get(o, []))  # noqa: SLF001
            for o in sorted(owners) if _observed_steps(api, o) != EXPECTED_ORDER
        ][:10],
        tickets=sum(per_owner.get(o, 0) for o in owners),
        duplicated_tickets=sum(max(0, per_owner.get(o, 0) - 1) for o in owners),
        duplicated_messages=duplicated_messages,
        handed_over_updates=int(interrupted),
        unfinished_updates=int(unfinished),
        leases_left=int(leases),
        typed_matter=sum(1 for r in runs if r.typed_matter),
        webhook_retries=api.webhook_retries,
        webhook_given_up=len(api.webhook_given_up),
    )


@dataclass
class FaultRun:
    runs: list[ChatRun]
    seconds: float
    in_flight_at_kill: int  # intakes started and not finished when the worker was killed
    in_flight_at_rolling_restart: int


async def fault_run(cluster: Cluster, *, chats: int, spread_s: float, first_user: int,
                    kill_after_s: float, log: Callable[[str], None] = print) -> FaultRun:
    """``chats`` intakes started over ``spread_s`` seconds; one worker SIGKILLed after ``kill_after_s`` and
    started again 2 s later (systemd's RestartSec); then a rolling restart of every worker."""
    rng = random.Random(first_user)
    started = time.monotonic()
    offsets = [rng.uniform(0, spread_s) for _ in range(chats)]
    # Owners read each reply for 1–4 s before the next step: an intake takes ~15 s, so dozens are in
    # progress whenever a worker is killed or restarted.
    tasks = [asyncio.create_task(intake_chat(cluster.api, first_user + i, start_after=offsets[i],
                                             rng=random.Random(first_user + i), think_s=(1.0, 4.0)))
             for i in range(chats)]

    def in_flight() -> int:
        now = time.monotonic() - started
        return sum(1 for task, offset in zip(tasks, offsets, strict=True) if offset < now and not task.done())

    await asyncio.sleep(kill_after_s)
    victim = 1 % cluster.workers
    at_kill = in_flight()
    log(f"[{time.monotonic() - started:5.1f}s] SIGKILL worker {victim} ({at_kill} intakes in progress)")
    await cluster.kill_worker(victim)
    await asyncio.sleep(2)
    await cluster.start_worker(victim)
    at_rolling = in_flight()
    log(f"[{time.monotonic() - started:5.1f}s] worker {victim} back; rolling restart of all {cluster.workers} "
        f"({at_rolling} intakes in progress)")
    await cluster.rolling_restart()
    log(f"[{time.monotonic() - started:5.1f}s] rolling restart done")
    runs = await asyncio.gather(*tasks)
    return FaultRun(list(runs), time.monotonic() - started, at_kill, at_rolling)


async def settle(database_url: str, timeout: float = 60.0) -> None:  # noqa: ASYNC109
    """Wait until the journal has nothing unfinished (the last done marks are written after the replies)."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(database_url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            async with engine.connect() as conn:
                left = (await conn.execute(text("SELECT count(*) FROM inbound_update WHERE done_at IS NULL"))).scalar_one()
            if not left:
                return
            await asyncio.sleep(0.5)
    finally:
        await engine.dispose()
