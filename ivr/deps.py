"""Dependency aliases for the IVR webhooks: settings, engine, prompts, clock, SMS sender.

The composition root (`web.app.create_app`) puts settings and the engine on `app.state`;
tests override these functions through `app.dependency_overrides`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.engine import Engine

from dispatch.clock import clock_for
from dispatch.config import Settings
from dispatch.notifications.service import OutboxSender
from dispatch.ports import CallPlacer, Clock, SmsSender
from ivr import prompts as prompt_files
from ivr.calls_out import NoCalls, TwilioCallPlacer
from ivr.sms import STATUS_CALLBACK_PATH, TwilioSmsSender


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_prompts(settings: Annotated[Settings, Depends(get_settings)]) -> prompt_files.Prompts:
    return prompt_files.load(settings.seed_dir / "prompts", settings.prompt_audio_base_url)


def get_clock(request: Request) -> Clock:
    """The system clock (or, in development, the shifted one `Settings.clock_start` asks for)."""
    return clock_for(get_settings(request))


def make_sms_sender(settings: Settings) -> SmsSender:
    """The SMS port's adapter for `settings.sms_backend`: Twilio (delivery reports to our
    public URL, `ivr.sms_status`), or the development outbox."""
    if settings.sms_backend == "twilio":
        return TwilioSmsSender(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token.get_secret_value(),
            from_number=settings.twilio_from_number,
            api_base_url=settings.twilio_api_base_url,
            status_callback=settings.public_base_url.rstrip("/") + STATUS_CALLBACK_PATH,
        )
    return OutboxSender()


def make_call_placer(settings: Settings) -> CallPlacer:
    """The outbound-call port's adapter: Twilio with the Twilio SMS backend, else none."""
    if settings.sms_backend == "twilio":
        return TwilioCallPlacer(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token.get_secret_value(),
            from_number=settings.twilio_from_number,
            public_base_url=settings.public_base_url,
            api_base_url=settings.twilio_api_base_url,
        )
    return NoCalls()


def get_sms_sender(
    request: Request, settings: Annotated[Settings, Depends(get_settings)]
) -> SmsSender:
    """One sender per app (the Twilio one pools its connections)."""
    sender: SmsSender | None = getattr(request.app.state, "sms_sender", None)
    if sender is None:
        sender = make_sms_sender(settings)
        request.app.state.sms_sender = sender
    return sender


@dataclass(frozen=True, slots=True)
class Line:
    """Everything a voice webhook needs, resolved as one dependency (each costs time)."""

    settings: Settings
    engine: Engine
    prompts: prompt_files.Prompts
    clock: Clock
    sender: SmsSender


def get_line(
    request: Request,
    settings: Annotated[Settings, Depends(get_settings)],
    clock: Annotated[Clock, Depends(get_clock)],
) -> Line:
    return Line(
        settings=settings,
        engine=get_engine(request),
        prompts=get_prompts(settings),
        clock=clock,
        sender=get_sms_sender(request, settings),
    )


SettingsDep = Annotated[Settings, Depends(get_settings)]
LineDep = Annotated[Line, Depends(get_line)]
