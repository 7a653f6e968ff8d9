"""Typed settings: defaults < config.toml < environment (ZHITONG_<SECTION>_<KEY>) < explicit overrides.

Nothing is read at import time: call :func:`load_settings` where the program starts (CLI, bot, tests).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from limits import parse as parse_rate
from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_ENV = "ZHITONG_CONFIG"
DEFAULT_CONFIG_FILE = Path("config.toml")


class DatabaseSettings(BaseModel):
    # Empty means "SQLite file in the data dir"; any SQLAlchemy URL works, e.g.
    # postgresql+asyncpg://user@127.0.0.1:5432/zhitong (sync code derives the matching sync driver).
    url: str = ""
    echo: bool = False
    # Connection pool per process (PostgreSQL; SQLite ignores these). Every process that opens the
    # database (bot, answer worker, dashboard, each webhook worker, CLI) holds up to
    # pool_size + max_overflow connections: keep processes × that under PostgreSQL's max_connections.
    pool_size: int = Field(default=5, ge=1, le=200)
    max_overflow: int = Field(default=5, ge=0, le=200)
    # Seconds to wait for a free pooled connection before the request is answered "系统繁忙".
    pool_timeout_s: float = Field(default=10.0, gt=0)
    # Tries to open a connection while the server answers "too many clients" (with growing pauses).
    connect_attempts: int = Field(default=6, ge=1, le=50)


class VectorSettings(BaseModel):
    # Empty: embedded Chroma PersistentClient under <data_dir>/chroma; else a Chroma server URL.
    url: str = ""
    collection: str = "zhitong_kb"


class EmbedderSettings(BaseModel):
    # "use": Universal Sentence Encoder multilingual shipped in a PyPI wheel (works offline).
    # "sentence-transformers": any model name or local path in `model`.
    kind: Literal["use", "sentence-transformers"] = "use"
    model: str = ""
    batch_size: int = Field(default=64, ge=1, le=4096)
    # BLAS threads for batch embedding. 1 by default: on a machine shared with other work, USE with
    # 2 threads measured 2-5x slower than with 1 (threads wait for each other); raise on idle cores.
    threads: int = Field(default=1, ge=1, le=64)


class RetrievalSettings(BaseModel):
    top_k: int = Field(default=8, ge=1, le=50)
    candidates: int = Field(default=40, ge=5, le=500)
    # Weight of the dense score in the min-max linear fusion; lexical gets 1 - dense_weight.
    dense_weight: float = Field(default=0.3, ge=0.0, le=1.0)
    # Share of the plain character uni+bigram BM25 within the lexical score (the rest: jieba words +
    # content bigrams); 0 turns the character view off.
    char_weight: float = Field(default=0.5, ge=0.0, le=1.0)
    # Below this confidence the question is offered to the desk instead of answered. Confidence =
    # 0.4 * IDF-weighted share of the question's terms found in the best match + 0.6 * its dense cosine
    # scaled from [dense_floor, dense_ceil] to [0, 1] (the scale depends on the embedding model).
    min_confidence: float = Field(default=0.05, ge=0.0, le=1.0)
    dense_floor: float = Field(default=0.20, ge=-1.0, le=1.0)
    dense_ceil: float = Field(default=0.50, ge=-1.0, le=1.0)
    # Up to this many records, dense scores are exact (every record's cosine, from an in-memory copy of
    # the vectors, ~2 KB per record): answers are then a function of the knowledge base alone. Above it,
    # Chroma's approximate (HNSW) neighbours are used and low-ranked scores may vary between ingests.
    exact_dense_max_records: int = Field(default=100_000, ge=0)


class LLMSettings(BaseModel):
    # Empty base_url: no LLM, answers are composed from the retrieved records only.
    base_url: str = ""
    model: str = ""
    api_key: SecretStr = SecretStr("")
    temperature: float = Field(default=0.1, ge=0.0, le=2.0)
    timeout_s: float = Field(default=30.0, gt=0)


class IngestSettings(BaseModel):
    max_file_mb: float = Field(default=20.0, gt=0)
    # Each file is parsed in a child process under these limits (ingest.sandbox); over either, the
    # file is refused and nothing changes.
    parse_timeout_s: float = Field(default=120.0, gt=0)
    parse_memory_mb: int = Field(default=2048, ge=64)
    # A file that would become more records than this is refused (split it): 100,000 one-line
    # headings would otherwise become 100,000 records.
    max_records_per_file: int = Field(default=30_000, ge=1)
    chunk_chars: int = Field(default=400, ge=100, le=4000)
    chunk_overlap: int = Field(default=60, ge=0, le=1000)


class KnowledgeSettings(BaseModel):
    # How often a running bot checks whether another process (dashboard, `zhitong ingest`, another
    # webhook worker) changed the knowledge base, and reloads it if so; 0 disables the check.
    reload_check_s: float = Field(default=30.0, ge=0)


class IntentSettings(BaseModel):
    # The city's own labelled examples (.jsonl, {"text", "family"}), added to the shipped corpus
    # data/intent/train.jsonl when the intent model is trained; relative paths are inside data_dir.
    examples_dir: str = "intent"
    # false: no classifier; every message is a consultation (answer, or the desk when nothing matches).
    enabled: bool = True
    # The desk takes a message only when P(complaint) + P(person) reaches this: a consultation sent to a
    # person costs the owner a ticket and the commissioner a day, so doubt answers.
    desk_min_probability: float = Field(default=0.6, ge=0.0, le=1.0)


class DeskSettings(BaseModel):
    timezone: str = "Asia/Shanghai"
    # Working hours used to count "working hours" for the acceptance deadline.
    workday_start: str = "09:00"
    workday_end: str = "18:00"
    lunch_start: str = "12:00"
    lunch_end: str = "13:30"
    accept_within_hours: float = Field(default=4, gt=0)
    resolve_within_days: int = Field(default=5, ge=1)
    followup_within_days: int = Field(default=3, ge=1)
    # Warn the assignee when this fraction of the allowed time has elapsed.
    warn_at_fraction: float = Field(default=0.75, gt=0, lt=1)
    rating_within_days: int = Field(default=3, ge=1)
    rating_reminder_after_days: int = Field(default=2, ge=1)
    # A ticket waiting for the enterprise (its clock paused) with no answer: remind both sides after N
    # working days, then ask the commissioner to phone or resolve it with a note after M (never auto-closed).
    waiting_reminder_after_days: int = Field(default=2, ge=1)
    waiting_giveup_after_days: int = Field(default=5, ge=1)
    # Optional admin-maintained holiday overrides (YAML); relative paths are inside data_dir.
    holidays_file: str = "holidays.yaml"
    scheduler_interval_s: float = Field(default=60, gt=0)


class TelegramSettings(BaseModel):
    token: SecretStr = SecretStr("")
    # Point the real bot at any Bot API server, e.g. http://127.0.0.1:9000/bot for the tests.
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str = ""
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = 8443
    webhook_secret: SecretStr = SecretStr("")
    staff_group_id: int = 0
    use_topics: bool = True
    admin_ids: list[int] = Field(default_factory=list)
    show_staff_names: bool = True
    # Flood control per user: at most `flood_messages` within `flood_window_s`.
    flood_messages: int = Field(default=8, ge=1)
    flood_window_s: float = Field(default=10.0, gt=0)
    max_upload_mb: float = Field(default=20.0, gt=0)
    # How often the outbox (desk notifications) is polled; desk actions in the bot also deliver at once.
    outbox_interval_s: float = Field(default=3.0, gt=0)
    # AIORateLimiter: Telegram's limits (~30 msg/s overall, 20 msg/min per group); 0 disables a limit.
    rate_overall_per_s: float = Field(default=30.0, ge=0)
    rate_group_per_min: float = Field(default=20.0, ge=0)
    # Updates handled at once (different chats run in parallel; one chat's updates stay in order).
    concurrent_updates: int = Field(default=64, ge=1, le=1024)
    # Webhook workers: a chat being handled is leased in the database for this long (renewed while it runs);
    # a killed worker's chats are free again after it. Also how often quiet chats it left are taken over.
    chat_lease_s: float = Field(default=15.0, ge=1.0, le=600.0)


class DashboardSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8080
    secret_key: SecretStr = SecretStr("")
    session_max_age_s: int = 8 * 3600
    # Wrong passwords from one client address before the account is locked for that address, and
    # from all addresses together before it is locked for everyone; both locks last lockout_minutes.
    lockout_failures: int = Field(default=5, ge=1)
    lockout_ceiling: int = Field(default=50, ge=1)
    lockout_minutes: int = Field(default=15, ge=1)
    # Sign-in attempts admitted before any password is hashed ("N/second|minute|hour", limits syntax).
    signin_rate_per_address: str = "10/minute"
    signin_rate_overall: str = "120/minute"
    # Threads that check passwords, and how many checks may wait for them (more: answered 429).
    signin_hash_threads: int = Field(default=1, ge=1, le=16)
    signin_hash_queue: int = Field(default=8, ge=0, le=1000)

    @field_validator("signin_rate_per_address", "signin_rate_overall")
    @classmethod
    def _rate(cls, value: str) -> str:
        try:
            parse_rate(value)
        except ValueError as exc:
            raise ValueError(f"not a rate like '10/minute': {value!r}") from exc
        return value
    # Mark the session cookie Secure (send only over HTTPS); turn on behind a TLS-terminating proxy.
    https_only: bool = False


class PushSettings(BaseModel):
    """惠企政策直达: pushing an approved policy to the registered enterprises it is for."""

    # Pushes (not reminders) an enterprise receives in any 7 days; the rest wait for the next week.
    max_per_week: int = Field(default=2, ge=1, le=50)
    # Remind those who neither marked 不适用 nor 已申报 this many days before 申报截止; 0: no reminders.
    remind_days_before: int = Field(default=7, ge=0, le=90)
    # Pushes per second from one bot process; stays under Telegram's ~30/s so answers keep flowing.
    rate_per_s: float = Field(default=25.0, gt=0, le=30)
    # How often the bot looks for pushes that are due.
    interval_s: float = Field(default=10.0, gt=0)
    # Send only in the desk calendar's working hours (false: at any time, e.g. for tests and benches).
    working_hours_only: bool = True
    # The city's districts/counties (区县), offered at /register and checked in `applies_to`; empty: free text.
    districts: list[str] = Field(default_factory=list)
    # Desk tickets an enterprise files within this many days of a push count among its outcomes.
    outcome_days: int = Field(default=14, ge=1, le=90)
    # A push being sent by a worker that died is sent again after this many seconds.
    lease_s: float = Field(default=60.0, gt=0)


class RedisSettings(BaseModel):
    """Counters several webhook workers must share (flood control per user)."""

    # Empty: kept in each process (one bot). Several webhook workers: "redis://127.0.0.1:6379/0".
    url: str = ""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ZHITONG_",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        env_ignore_empty=True,
        extra="ignore",
    )

    data_dir: Path = Path("var")
    log_level: str = "INFO"
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    vector: VectorSettings = Field(default_factory=VectorSettings)
    embedder: EmbedderSettings = Field(default_factory=EmbedderSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    knowledge: KnowledgeSettings = Field(default_factory=KnowledgeSettings)
    intent: IntentSettings = Field(default_factory=IntentSettings)
    desk: DeskSettings = Field(default_factory=DeskSettings)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    push: PushSettings = Field(default_factory=PushSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = Path(os.environ.get(CONFIG_ENV, DEFAULT_CONFIG_FILE))
        # Earlier sources win: explicit overrides, then the environment, then the TOML file.
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=toml_file))

    @property
    def database_url(self) -> str:
        """The async SQLAlchemy URL (SQLite file in the data dir unless configured)."""
        if self.database.url:
            return self.database.url
        return f"sqlite+aiosqlite:///{self.data_dir / 'zhitong.db'}"

    @property
    def chroma_path(self) -> Path:
        return self.data_dir / "chroma"

    def resolve_in_data_dir(self, name: str) -> Path:
        path = Path(name).expanduser()
        return path if path.is_absolute() else self.data_dir / path


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings; `config_file` replaces config.toml / $ZHITONG_CONFIG, `overrides` win over all."""
    if config_file is not None:
        os.environ[CONFIG_ENV] = str(config_file)
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings
