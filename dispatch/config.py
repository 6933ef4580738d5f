"""Settings: the one place configuration is read (environment variables prefixed DOORSTEP_).

Nothing here connects to anything; composition roots (`web.app.create_app`, `web.worker`, the
command line) build engines and clients from a `Settings` and pass it down to the domain.
`Settings.refuse_unsafe()` is what keeps development secrets and switches out of production:
every composition root calls it before it serves or schedules anything.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Development defaults that must never reach production (they are public: they are here).
DEV_AUTH_TOKEN = "dev-auth-token"
DEV_ACCOUNT_SID = "AC00000000000000000000000000000000"
DEV_SECRET_KEY = "dev-secret-key-not-for-production"
DEV_DLT_ENTITY_ID = "1000000000000000000"
DEV_DLT_HEADER = "DVSTEP-G"
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0", ""})


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class UnsafeSettings(RuntimeError):
    """Production was asked to start with a development secret or switch; names each one."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "refusing to start in production: " + "; ".join(problems) + ". Set them, or "
            "DOORSTEP_ENV=development for a development machine."
        )


class Settings(BaseSettings):
    """Doorstep's configuration; every field is `DOORSTEP_<NAME>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="DOORSTEP_", extra="ignore")

    env: Environment = Environment.DEVELOPMENT
    database_url: str = f"sqlite:///{REPO_ROOT / 'var' / 'doorstep.db'}"
    seed_dir: Path = REPO_ROOT / "seed_data"
    default_state: str = "JK"
    public_base_url: str = "http://127.0.0.1:8000"
    twilio_account_sid: str = DEV_ACCOUNT_SID
    twilio_auth_token: SecretStr = SecretStr(DEV_AUTH_TOKEN)
    twilio_from_number: str = "+911447000000"
    twilio_api_base_url: str | None = None
    # Keys the hashes of caller IDs kept in the audit log of failed proofs.
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    sms_backend: str = "outbox"
    # India's DLT registration of the SMS sender: the principal entity ID (19 digits) and the
    # header (sender ID; a government sender's carries the "-G" suffix). The templates are data:
    # seed_data/messages/dlt.csv.
    dlt_entity_id: str = DEV_DLT_ENTITY_ID
    dlt_header: str = DEV_DLT_HEADER
    call_agent_queue: str = "call-agents"
    callback_wait_seconds: int = 120
    offer_horizon_days: int = 3
    window_hours: int = 2
    visits_from_hour: int = 9
    visits_until_hour: int = 17
    booking_lead_minutes: int = 60
    replan_seconds: float = 2.0
    # The search engine of re-plans: our string-removal search ("sisr") or "ortools".
    solver_engine: str = "sisr"
    # The dispatch loop (`dispatch.planning.loop`): a changed zone-day is re-planned once no
    # change came for `replan_quiet_seconds`, or `replan_most_wait_seconds` after its first
    # change however busy it is; a solve handed out and not finished within
    # `solve_lease_seconds` (its solver died) is handed out again, up to `solve_attempts`.
    replan_quiet_seconds: float = 5.0
    replan_most_wait_seconds: float = 30.0
    solve_lease_seconds: float = 120.0
    solve_attempts: int = 5
    # Zone solves run in this many local processes; with a broker URL (redis://...) they are
    # Dramatiq messages instead, run by `doorstep solver-worker` on any number of machines.
    solver_processes: int = 2
    broker_url: str | None = None
    # Tomorrow's plan of every zone is made in the evening (local time), with a longer search.
    evening_plan_at: str = "19:00"
    evening_plan_seconds: float = 20.0
    # Legal time limits: the supervisor is warned once this share of a request's limit has
    # gone (working days), alerted again on its due date, and the request is marked for the
    # state's appeal once the limit has passed undelivered.
    deadline_warn_share: float = 0.75
    # Yesterday's fees are reconciled every morning at this local time (alerts for supervisors).
    fees_reconcile_at: str = "06:00"
    # How long a phone webhook may wait for the database before the caller hears an apology
    # and is offered a person (Twilio gives up after 15 s).
    webhook_db_wait_seconds: float = 3.0
    # Failed proofs (wrong references or visit codes) from one caller ID before its checks
    # are refused for `proof_lockout_minutes`.
    proof_failures_allowed: int = 6
    proof_lockout_minutes: int = 60
    # Field agents. Each agent's day goes out at this local time (HH:MM) on the day of the
    # visits; later changes go as one short message once they have settled this long.
    itinerary_at: str = "07:30"
    itinerary_settle_minutes: int = 3
    # Agents' messages and phone menu are in this language (SMS in Latin script cost a third
    # of Hindi's).
    agent_language: str = "en"
    # Wrong PINs or visit codes from one agent before their reports are refused for a while.
    agent_failures_allowed: int = 5
    agent_lockout_minutes: int = 60
    # Citizens: the reminder goes the day before at this local time; the next citizen hears
    # "on the way" when the agent leaves a visit, or this long before the first one.
    reminder_at: str = "18:00"
    on_the_way_lead_minutes: int = 45
    # A feedback request unanswered this long gets a call from the feedback line.
    feedback_call_after_hours: int = 24
    # The console: wrong passwords for one username before sign-in is refused for a while;
    # how long a signed-in session lasts, and how long it may sit unused.
    staff_failures_allowed: int = 5
    staff_lockout_minutes: int = 15
    staff_session_hours: int = 12
    # Sign-in throttles (`web.signin`), over the lockout's minutes, counted in `rate_limit_url`:
    # failed sign-ins from one client address (an office behind one address shares it), and
    # attempts at one username.
    sign_in_failures_per_address: int = 30
    sign_in_attempts_per_username: int = 20
    staff_idle_minutes: int = 120
    # Where the API clients' rate limits are counted (`limits` storage URL): `memory://` counts
    # per process; `redis://host:6379/0` shares the count between processes and machines.
    rate_limit_url: str = "memory://"
    # Recorded IVR prompts for languages without text-to-speech (Kashmiri, Dogri):
    # <prompt_audio_base_url>/<language>/<prompt key>.mp3; unset = those languages not offered.
    prompt_audio_base_url: str | None = None
    # The phone simulator (/simulator) lets anyone pick a caller ID: development only.
    simulator: bool = True
    # Development only: the product's clock starts at this moment (with its zone, e.g.
    # 2030-06-03T07:30+05:30) and runs on from there, so a demo can live through a visit day.
    clock_start: dt.datetime | None = None
    scheduler: bool = True
    # Operations (`web.logs`, `web.metrics`, `web.health`): log lines as "json" (one object a
    # line) or "text" (key=value), at this level; `/metrics` asks for this bearer token (unset:
    # open in development, not served at all in production).
    log_format: Literal["json", "text"] = "json"
    log_level: str = "INFO"
    metrics_token: SecretStr | None = None
    # Personal data (DPDP): call answers, message bodies, callers' numbers, and the names,
    # phones and addresses of citizens with no open request are purged once older than this
    # many days (`dispatch.retention`), every day from `retention_purge_at` (India's time).
    retention_days: int = Field(default=365, ge=30, le=3650)
    retention_purge_at: str = Field(default="03:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    bench_data: Path = REPO_ROOT.parent / "shared" / "bench-data"

    @property
    def production(self) -> bool:
        return self.env is Environment.PRODUCTION

    def production_problems(self) -> list[str]:
        """What makes these settings unsafe for production, one line per setting."""
        problems = []
        if self.twilio_auth_token.get_secret_value() in {DEV_AUTH_TOKEN, ""}:
            problems.append("DOORSTEP_TWILIO_AUTH_TOKEN is the development token")
        if self.twilio_account_sid in {DEV_ACCOUNT_SID, ""}:
            problems.append("DOORSTEP_TWILIO_ACCOUNT_SID is the development placeholder")
        if self.secret_key.get_secret_value() in {DEV_SECRET_KEY, ""}:
            problems.append("DOORSTEP_SECRET_KEY is the development key")
        if developing := self._development_dlt_ids():
            problems.append(
                f"{self.seed_dir / 'messages' / 'dlt.csv'} holds {len(developing)} development "
                "DLT template IDs (DEV-...): carriers would refuse those messages"
            )
        if self.clock_start is not None:
            problems.append("DOORSTEP_CLOCK_START is set (the clock would not be the real one)")
        if self.simulator:
            problems.append("DOORSTEP_SIMULATOR is on (anyone could pick a caller ID)")
        if self.sms_backend != "twilio":
            problems.append(f"DOORSTEP_SMS_BACKEND is {self.sms_backend!r}: nothing would be sent")
        if self.dlt_entity_id in {DEV_DLT_ENTITY_ID, ""}:
            problems.append("DOORSTEP_DLT_ENTITY_ID is the development placeholder")
        if self.dlt_header in {DEV_DLT_HEADER, ""}:
            problems.append("DOORSTEP_DLT_HEADER is the development placeholder")
        host = urlsplit(self.public_base_url).hostname or ""
        if host in _LOCAL_HOSTS or host.endswith(".localhost"):
            problems.append(f"DOORSTEP_PUBLIC_BASE_URL {self.public_base_url!r} is on localhost")
        return problems

    def _development_dlt_ids(self) -> list[str]:
        from dispatch.notifications import dlt  # data about messages; read only to refuse

        return dlt.load(self.seed_dir / "messages").development_ids()

    def refuse_unsafe(self) -> None:
        """Raise `UnsafeSettings` in production when any development default is left."""
        if self.production and (problems := self.production_problems()):
            raise UnsafeSettings(problems)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once (composition roots only; the domain is given them)."""
    return Settings()
