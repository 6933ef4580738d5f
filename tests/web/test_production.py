"""Production refuses development secrets and switches, naming each; what it does serve holds
no development tools and no API description; secrets never show in a printout."""

from __future__ import annotations

import subprocess
import sys

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from dispatch.config import REPO_ROOT, Settings, UnsafeSettings
from tests.conftest import registered_seed_dir
from web.app import create_app
from web.worker import build_scheduler

SAFE = {
    "env": "production",
    "twilio_auth_token": "a-real-token-from-the-vault",
    "twilio_account_sid": "AC" + "1" * 32,
    "secret_key": "a-real-secret-key-from-the-vault",
    "simulator": False,
    "sms_backend": "twilio",
    "public_base_url": "https://1447.jk.gov.in",
    "dlt_entity_id": "1201159143781234567",
    "dlt_header": "JKDGDT-G",
    "scheduler": False,
    "database_url": "sqlite://",
    "seed_dir": registered_seed_dir(),
}

UNSAFE = [
    ("twilio_auth_token", "dev-auth-token", "DOORSTEP_TWILIO_AUTH_TOKEN"),
    ("twilio_account_sid", "AC00000000000000000000000000000000", "DOORSTEP_TWILIO_ACCOUNT_SID"),
    ("secret_key", "dev-secret-key-not-for-production", "DOORSTEP_SECRET_KEY"),
    ("simulator", True, "DOORSTEP_SIMULATOR"),
    ("sms_backend", "outbox", "DOORSTEP_SMS_BACKEND"),
    ("public_base_url", "http://127.0.0.1:8000", "DOORSTEP_PUBLIC_BASE_URL"),
    ("public_base_url", "https://localhost", "DOORSTEP_PUBLIC_BASE_URL"),
    ("dlt_entity_id", "1000000000000000000", "DOORSTEP_DLT_ENTITY_ID"),
    ("dlt_header", "DVSTEP-G", "DOORSTEP_DLT_HEADER"),
    ("seed_dir", str(REPO_ROOT / "seed_data"), "development DLT template IDs"),
    ("clock_start", "2030-06-03T07:30+05:30", "DOORSTEP_CLOCK_START"),
]


@pytest.mark.parametrize(("field", "value", "named"), UNSAFE)
def test_production_refuses_each_unsafe_setting(field: str, value: object, named: str) -> None:
    settings = Settings(**{**SAFE, field: value})
    with pytest.raises(UnsafeSettings) as refused:
        create_app(settings=settings)
    assert named in str(refused.value) and len(refused.value.problems) == 1
    with pytest.raises(UnsafeSettings):
        build_scheduler(settings)  # the worker too


def test_development_allows_the_defaults() -> None:
    create_app(settings=Settings(scheduler=False, database_url="sqlite://"))


def test_the_command_line_refuses_in_one_line(tmp_path: object) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "DOORSTEP_ENV": "production",
        "DOORSTEP_DATABASE_URL": "sqlite://",
        "HOME": str(tmp_path),
    }
    for command in ("serve", "worker"):
        run = subprocess.run(
            [sys.executable, "-m", "web.cli", command],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            cwd=REPO_ROOT,
            check=False,
        )
        assert run.returncode == 1, run.stderr
        assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
        assert "DOORSTEP_TWILIO_AUTH_TOKEN" in run.stderr and "DOORSTEP_SIMULATOR" in run.stderr


def test_production_serves_no_api_description_and_no_development_tools(engine: Engine) -> None:
    client = TestClient(create_app(settings=Settings(**SAFE), engine=engine))
    for path in ("/docs", "/redoc", "/openapi.json", "/simulator", "/plans"):
        assert client.get(path).status_code == 404, path
    home = client.get("/")
    assert home.status_code == 200 and "/simulator" not in home.text and "/plans" not in home.text


def test_secrets_are_never_printed() -> None:
    settings = Settings(**SAFE)
    shown = repr(settings) + str(settings) + settings.model_dump_json()
    assert "a-real-token-from-the-vault" not in shown
    assert "a-real-secret-key-from-the-vault" not in shown
