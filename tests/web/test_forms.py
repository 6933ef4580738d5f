"""Every console form that posts carries its CSRF token (a form without it would get 403 in a
browser, while tests posting with the token added by hand would pass). The agent's day page
posts under its own signed link and is exempt."""

from __future__ import annotations

import re

from web.templating import TEMPLATES_DIR

EXEMPT = {"agent_day"}  # the signed day link is its proof (web.auth.CSRF_EXEMPT_PREFIXES)


def test_every_posting_form_in_the_templates_carries_the_csrf_token() -> None:
    missing = []
    for template in sorted(TEMPLATES_DIR.rglob("*.html")):
        if template.parent.name in EXEMPT:
            continue
        text = template.read_text(encoding="utf-8")
        for form in re.finditer(r"<form\b[^>]*>(.*?)</form>", text, flags=re.S | re.I):
            opening = form.group(0)[: form.group(0).index(">") + 1]
            if re.search(r'method="post"', opening, flags=re.I) and "csrf_input(" not in form.group(
                1
            ):
                line = text[: form.start()].count("\n") + 1
                missing.append(f"{template.relative_to(TEMPLATES_DIR)}:{line}")
    assert missing == []
