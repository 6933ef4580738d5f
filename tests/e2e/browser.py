"""What the browser journeys share: the screen sizes, a page with a short default timeout,
signing in (by the form, or by the keyboard alone), and the look every page gets: labelled
controls, nothing wider than the screen, a full-page screenshot.

Their fixtures (`shots`, `live_url`, `browser`) are in `tests/e2e/conftest.py`."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, Page

from dispatch.staff.models import StaffUser
from tests.console import PASSWORD

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
#: Below this width a screenshot counts as a phone's (`{phone}` in `looked_at`'s file name).
PHONE_BELOW = 700


def open_page(browser: Browser, viewport: dict[str, int], *, javascript: bool = True) -> Page:
    """A page in a fresh context (its own cookies) of that size; waits give up after 15 s."""
    context = browser.new_context(viewport=viewport, java_script_enabled=javascript)  # type: ignore[arg-type]
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


def sign_in(page: Page, url: str, user: StaffUser) -> None:
    """Through the login form: username, password, Enter; back once it has left /login."""
    page.goto(f"{url}/login")
    page.locator("#username").fill(user.username)
    page.locator("#password").fill(PASSWORD)
    page.locator("#password").press("Enter")
    page.wait_for_url(lambda u: "/login" not in u)


def sign_in_by_keyboard(page: Page, url: str, user: StaffUser) -> None:
    """By the keyboard alone: the username has the focus, Tab to the password, Enter."""
    page.goto(f"{url}/login")
    page.wait_for_function(
        "() => document.activeElement && document.activeElement.id === 'username'"
    )
    page.keyboard.type(user.username)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda u: "/login" not in u)


def looked_at(page: Page, shots: Path, name: str, *, file: str = "{name}-{width}") -> None:
    """The page as its user sees it: every visible control labelled, nothing wider than the
    screen; photographed (before the width is judged, so an overflow is in the picture) to
    `shots/<file>.png`, `file` a format of `name`, `width` (the screen's) and `phone`
    ("-phone" on a screen narrower than PHONE_BELOW, else "")."""
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
            .filter(e => e.type !== 'hidden' && e.offsetParent !== null)
            .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                         && !e.getAttribute('aria-labelledby'))
            .map(e => e.name || e.id)"""
    )
    assert unlabelled == [], f"{name}: controls without a label: {unlabelled}"
    width = page.viewport_size["width"] if page.viewport_size else 0
    scroll = page.evaluate("document.documentElement.scrollWidth")
    wide = page.evaluate(
        """w => [...document.querySelectorAll('main *, header *')]
            .filter(e => e.getBoundingClientRect().right > w + 1)
            .slice(0, 5).map(e => `${e.tagName}.${e.className}#${e.id}`)""",
        width,
    )
    phone = "-phone" if width < PHONE_BELOW else ""
    stem = file.format(name=name, width=width, phone=phone)
    page.screenshot(path=str(shots / f"{stem}.png"), full_page=True)
    assert scroll <= width, f"{name}: {scroll} px wide on a {width} px screen: {wide}"
