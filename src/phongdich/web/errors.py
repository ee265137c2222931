"""One place that turns domain errors into responses: JSON for the API, a page for browsers."""

from __future__ import annotations

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import IntegrityError

from phongdich.kit.errors import DomainError
from phongdich.kit.i18n import t


def wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get(
        "accept", ""
    )


def domain_error_handler(request: Request, exc: DomainError) -> Response:
    lang = getattr(request.state, "lang", "vi")
    message = t(exc.message_key, lang, **exc.params)
    if wants_html(request):
        from phongdich.web.templating import render

        if exc.status_code == 401:
            from fastapi.responses import RedirectResponse

            if request.url.path.startswith("/owner"):
                return RedirectResponse("/owner/signin", status_code=303)
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        return render(request, "error.html", {"message": message}, status_code=exc.status_code)
    body: dict[str, object] = {"error": exc.code, "message": message}
    rows = getattr(exc, "rows", None)
    if rows is not None:
        body["rows"] = [
            {"row": row, "error": error.code, "message": t(error.message_key, lang, **error.params)}
            for row, error in rows
        ]
    existing_id = getattr(exc, "existing_id", None)
    if existing_id is not None:
        body["existing_id"] = existing_id
        body["existing_code"] = getattr(exc, "existing_code", None)
    return JSONResponse(body, status_code=exc.status_code)


def validation_error_handler(request: Request, exc: RequestValidationError) -> Response:
    lang = getattr(request.state, "lang", "vi")
    fields = sorted(
        {".".join(str(p) for p in e.get("loc", ())[1:]) or "body" for e in exc.errors()}
    )
    message = t("error.invalid_fields", lang, fields=", ".join(fields))
    if wants_html(request):
        from phongdich.web.templating import render

        return render(request, "error.html", {"message": message}, status_code=422)
    details = [
        {"field": ".".join(str(p) for p in e.get("loc", ())), "type": e.get("type")}
        for e in exc.errors()
    ]
    return JSONResponse(
        {"error": "invalid", "message": message, "fields": details}, status_code=422
    )


def integrity_error_handler(request: Request, exc: IntegrityError) -> Response:
    """A unique constraint hit by two concurrent requests (the loser of a race the services'
    checks could not see): the transaction is rolled back; the user can simply retry."""
    lang = getattr(request.state, "lang", "vi")
    message = t("error.conflict_retry", lang)
    if wants_html(request):
        from phongdich.web.templating import render

        return render(request, "error.html", {"message": message}, status_code=409)
    return JSONResponse({"error": "conflict", "message": message}, status_code=409)
