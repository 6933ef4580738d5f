"""The Jinja2 environment shared by the web pages."""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates

from web import auth

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"


def rupees(paise: int) -> str:
    """`₹1,234.50` from integer paise (Indian grouping is not needed at these amounts)."""
    whole, frac = divmod(paise, 100)
    return f"₹{whole:,}" if frac == 0 else f"₹{whole:,}.{frac:02d}"


templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.filters["rupees"] = rupees
templates.env.globals["csrf_input"] = auth.csrf_input
templates.env.globals["csrf_token"] = auth.csrf_token
templates.env.globals["can"] = auth.can
