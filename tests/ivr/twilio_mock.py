"""Test helper: a local Twilio REST API (prism serving Twilio's own OpenAPI spec) for tests.

`running_twilio_mock()` starts tools/twilio-mock/start.sh on a free loopback port, waits until
it answers HTTP, yields its base URL (give it to `api_base_url`) and stops it again. The mock
validates every request against the spec (Basic auth present, AccountSid shape, required form
fields) and answers 4xx when one is wrong; valid calls get the spec's example answer (a created
Message has sid SMaaaa...). It keeps no state: what was sent cannot be read back.

If tools/twilio-mock/node_modules is missing it runs `npm ci` there once (under a file lock,
so pytest-xdist workers do not race). Start-up takes about 2-3 s, so use it from a module- or
session-scoped fixture. Needs node >= 20 and npm on PATH; there is no fallback.

Not a pytest fixture itself: test modules wrap it in the scope they need.
"""

from __future__ import annotations

import fcntl
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx

TOOL_DIR = Path(__file__).resolve().parents[2] / "tools" / "twilio-mock"
START_SCRIPT = TOOL_DIR / "start.sh"
SPEC = (
    TOOL_DIR
    / "node_modules"
    / "@twilio"
    / "cli-core"
    / "src"
    / "services"
    / "twilio-api"
    / "twilio_api_v2010.json"
)
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10.0
NPM_CI_TIMEOUT_SECONDS = 600.0


class TwilioMockError(RuntimeError):
    """The mock could not be installed or started."""


def ensure_installed() -> None:
    """Run `npm ci` in tools/twilio-mock unless its node_modules already hold the spec."""
    if SPEC.is_file():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise TwilioMockError("npm is not on PATH; the Twilio mock needs node >= 20 and npm")
    lock_path = Path(tempfile.gettempdir()) / "doorstep-twilio-mock-npm-ci.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if SPEC.is_file():  # another worker installed it while we waited
            return
        result = subprocess.run(
            [npm, "ci", "--prefix", str(TOOL_DIR), "--no-audit", "--no-fund"],
            capture_output=True,
            text=True,
            timeout=NPM_CI_TIMEOUT_SECONDS,
            check=False,
        )
    if result.returncode != 0 or not SPEC.is_file():
        raise TwilioMockError(f"npm ci in {TOOL_DIR} failed:\n{result.stdout}\n{result.stderr}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(log: IO[bytes]) -> str:
    log.seek(0)
    return log.read().decode(errors="replace")[-4000:]


def _wait_until_answering(process: subprocess.Popen[bytes], base_url: str, log: IO[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    with httpx.Client(timeout=2.0) as http:
        while True:
            if process.poll() is not None:
                raise TwilioMockError(
                    f"the Twilio mock exited with {process.returncode}:\n{_tail(log)}"
                )
            try:
                http.get(base_url + "/")  # any HTTP answer (prism says 404 here) means ready
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise TwilioMockError(
                        f"the Twilio mock did not answer within {START_TIMEOUT_SECONDS} s:\n"
                        f"{_tail(log)}"
                    ) from None
                time.sleep(0.1)
            else:
                return


@contextmanager
def running_twilio_mock() -> Iterator[str]:
    """Run the mock for the duration of the block; yield its base URL (http://127.0.0.1:PORT)."""
    ensure_installed()
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    with (
        tempfile.TemporaryFile() as log,
        subprocess.Popen(
            ["bash", str(START_SCRIPT), str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        ) as process,
    ):
        try:
            _wait_until_answering(process, base_url, log)
            yield base_url
        finally:
            # start.sh execs node, so this signals prism itself, not a wrapping shell.
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
