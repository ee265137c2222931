"""Jinja2 environment with the translation and date helpers every template uses."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from phongdich.checkpoints.rules import TYPES, display_status
from phongdich.kit.clock import fmt_local, utcnow
from phongdich.kit.i18n import t

TEMPLATES = Path(__file__).parent / "templates"


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["fmt_local"] = fmt_local
    env.globals["CHECKPOINT_TYPES"] = TYPES
    env.globals["display_status"] = lambda cp: display_status(cp.status, cp.ends_at, utcnow())
    return env


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    lang = getattr(request.state, "lang", "vi")

    def tr(key: str, **params: Any) -> str:
        return t(key, lang, **params)

    def ui(vi: str, en: str) -> str:
        return en if lang == "en" else vi

    html = (
        environment()
        .get_template(name)
        .render(
            request=request,
            lang=lang,
            t=tr,
            ui=ui,
            csrf=getattr(request.state, "csrf", ""),
            viewer=getattr(request.state, "viewer", None),
            # Switching language keeps the rest of the query (filters, ?next=).
            switch_url=str(request.url.include_query_params(lang="vi" if lang == "en" else "en")),
            hotline=request.app.state.settings.hotline,
            **context,
        )
    )
    return HTMLResponse(html, status_code=status_code)


def pick(pair: tuple[str, str], lang: str) -> str:
    """The (Vietnamese, English) label in ``lang``."""
    return pair[1] if lang == "en" else pair[0]


def private_page(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """``render`` for pages that show identities or health data: never kept by a shared cache
    or the back button."""
    response = render(request, name, context, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response
