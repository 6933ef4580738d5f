"""Settings: the one place configuration is read (environment variables prefixed DOORSTEP_).

Nothing here connects to anything; composition roots build engines and clients from it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Doorstep's configuration; every field is `DOORSTEP_<NAME>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="DOORSTEP_", extra="ignore")

    database_url: str = f"sqlite:///{REPO_ROOT / 'var' / 'doorstep.db'}"
    seed_dir: Path = REPO_ROOT / "seed_data"
    default_state: str = "JK"
    public_base_url: str = "http://127.0.0.1:8000"
    twilio_account_sid: str = "AC00000000000000000000000000000000"
    twilio_auth_token: str = "dev-auth-token"
    twilio_from_number: str = "+911447000000"
    twilio_api_base_url: str | None = None
    sms_backend: str = "outbox"
    call_agent_queue: str = "call-agents"
    callback_wait_seconds: int = 120
    offer_horizon_days: int = 3
    window_hours: int = 2
    visits_from_hour: int = 9
    visits_until_hour: int = 17
    booking_lead_minutes: int = 60
    replan_seconds: float = 2.0
    # Recorded IVR prompts for languages without text-to-speech (Kashmiri, Dogri):
    # <prompt_audio_base_url>/<language>/<prompt key>.mp3; unset = those languages not offered.
    prompt_audio_base_url: str | None = None
    # The phone simulator (/simulator) lets anyone pick a caller ID: turn it off in production.
    simulator: bool = True
    scheduler: bool = True
    bench_data: Path = REPO_ROOT.parent / "shared" / "bench-data"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
