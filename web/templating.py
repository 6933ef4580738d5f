"""The Jinja2 environment shared by the web pages: money is shown with the `rupees` filter,
`dispatch.money.rupees` (Indian grouping: ₹1,00,000), the same words the domain writes."""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates

from dispatch.money import rupees as rupees
from web import auth

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.filters["rupees"] = rupees
templates.env.globals["csrf_input"] = auth.csrf_input
templates.env.globals["csrf_token"] = auth.csrf_token
templates.env.globals["can"] = auth.can
