"""`doorstep call` plays a call in a terminal: prompts printed, keys and words read from stdin."""

from __future__ import annotations

import io

from sqlalchemy.engine import Engine

from dispatch.config import Settings
from tests.conftest import unique_phone
from web import cli, phone


def test_a_terminal_call_books_a_visit(engine: Engine, settings: Settings) -> None:
    answers = "\n".join(
        # English, a visit, the service said aloud and confirmed, Achabal's PIN code and the
        # one village on it, a landmark, the earliest offer booked, silence at the confirmation
        ["2", "1", "income certificate", "1", "192201", "1", "near the bridge", "1", ""]
    )
    out = io.StringIO()
    code = phone.main(
        settings,
        caller=unique_phone(),
        called=None,
        server=None,
        stdin=io.StringIO(answers + "\n"),
        stdout=out,
        engine=engine,
    )
    text = out.getvalue()
    assert code == 0
    assert "IVR: Income Certificate: is that right? Press 1 for yes, or 2 for no." in text
    assert "IVR: That PIN code is in Anantnag. Choose your village" in text
    assert "IVR: For Achabal, press 1." in text
    assert "IVR: Your visit is booked." in text
    assert "(the line hung up)" in text and "logged as booked" in text


def test_end_of_input_hangs_up_and_the_call_is_abandoned(
    engine: Engine, settings: Settings
) -> None:
    out = io.StringIO()
    phone.main(
        settings,
        caller=unique_phone(),
        called="1447",
        server=None,
        stdin=io.StringIO("2\nhello\n"),
        stdout=out,
        engine=engine,
    )
    text = out.getvalue()
    assert "(this question takes keys only)" in text  # the main menu takes keys only
    assert "(you hung up)" in text and "logged as abandoned at step main_menu" in text


def test_the_cli_has_a_call_command() -> None:
    args = cli.build_parser().parse_args(["call", "--from", "+919812345678"])
    assert args.caller == "+919812345678" and args.to is None and args.server is None
