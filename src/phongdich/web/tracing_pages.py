"""The tracers' workbench: enter a confirmed case (F0), read its contacts with their evidence,
follow them up, export the line list and look at the transmission graph. Handlers stay thin:
TracingService holds the rules; identities outside the official's jurisdiction are
pseudonymised and every identity shown or exported is audited."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from sqlalchemy.orm import Session

from phongdich.accounts.models import Official
from phongdich.accounts.service import Principal
from phongdich.checkpoints.rules import TYPES
from phongdich.config import Settings
from phongdich.geo.repository import UnitRepository
from phongdich.kit.clock import VN, fmt_local, parse_local, utcnow
from phongdich.kit.errors import DomainError, Invalid, InvalidRows
from phongdich.kit.i18n import t
from phongdich.kit.pagination import PageParams
from phongdich.notify.repository import OutboxRepository
from phongdich.people.models import Person
from phongdich.people.service import OfficialPeopleService
from phongdich.proximity.service import IssuedCode, ProximityService
from phongdich.tracing import line_list, rules
from phongdich.tracing.models import Case, Contact
from phongdich.tracing.repository import TracingRepository
from phongdich.tracing.routes import contact_out, pseudonym
from phongdich.tracing.service import BATCH_LIMIT, CASE_SOURCES, FOLLOW_UP, TracingService
from phongdich.visits.rules import OUT_AUTOMATIC, OUT_SUPERSEDED
from phongdich.web.deps import OfficialDep, PrincipalDep, SessionDep, SettingsDep, csrf_protect
from phongdich.web.exports import csv_stream, xlsx_stream
from phongdich.web.pages import message_of, redirect
from phongdich.web.templating import pick, private_page

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

PAGE_SIZE = 100  # contacts per page of the case page
CASE_LIST_SIZE = 20  # cases per page of the tracing page
FOLLOW_UP_SIZE = 50  # contacts per page of the follow-up list
EXPORT_BATCH = 1000  # contacts per query (and per audit batch) of the line list export
GRAPH_LIMIT = 300  # contacts drawn by default; the API counts the rest
GRAPH_MAX = 500  # the force layout is O(n²) per step: beyond this a browser would crawl

# Display labels (Vietnamese, English) of the codes the pages show.
LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "case_source": {
        "community": ("Lây nhiễm trong cộng đồng", "Community transmission"),
        "imported": ("Ca nhập cảnh", "Imported"),
        "cluster": ("Trong ổ dịch đã biết", "Known cluster"),
        "unknown": ("Chưa rõ nguồn lây", "Unknown"),
    },
    "source": {
        rules.SOURCE_VISIT: ("Cùng địa điểm", "Same place"),
        rules.SOURCE_HOUSEHOLD: ("Cùng hộ gia đình", "Same household"),
        rules.SOURCE_ADDRESS: ("Cùng địa chỉ", "Same address"),
        rules.SOURCE_DECLARED: ("Cùng chuyến đi (tờ khai di chuyển)", "Same trip (declared)"),
        rules.SOURCE_MANUAL: ("Điều tra viên bổ sung", "Named by a tracer"),
        rules.SOURCE_BLUETOOTH: ("Bluetooth (Bluezone)", "Bluetooth (Bluezone)"),
    },
    "status": {
        "to_call": ("Cần liên hệ", "To call"),
        "notified": ("Đã thông báo", "Notified"),
        "quarantined": ("Đang cách ly", "In quarantine"),
        "tested": ("Đã xét nghiệm", "Tested"),
        "cleared": ("Kết thúc theo dõi", "Cleared"),
        "lost": ("Không liên lạc được", "Lost to follow-up"),
    },
    "out_method": {
        "scanned": ("Quét mã khi ra", "Scanned out"),
        "staff": ("Nhân viên ghi nhận", "Recorded by staff"),
        OUT_AUTOMATIC: ("Tự động (ước tính)", "Automatic (estimated)"),
        OUT_SUPERSEDED: ("Ước tính (đã vào nơi khác)", "Estimated (checked in elsewhere)"),
    },
    "field": {
        "person": ("người được chọn", "person"),
        "test_at": ("thời điểm xét nghiệm", "test time"),
        "onset_at": ("ngày khởi phát", "symptom onset"),
        "exposed_at": ("thời điểm tiếp xúc", "exposure time"),
        "person_id": ("mã người tiếp xúc", "contact's person id"),
        "case": ("mã ca bệnh", "case number"),
        "level": ("mức tiếp xúc", "contact level"),
    },
}

# Short result messages after a form (keys only in the URL: nothing typed is reflected).
DONE: dict[str, tuple[str, str]] = {
    "opened": ("Đã nhập ca bệnh và truy vết.", "Case entered and traced."),
    "traced": ("Đã truy vết lại.", "Traced again."),
    "assigned": (
        "Đã giao các trường hợp tiếp xúc cho trạm y tế xã/phường nơi cư trú.",
        "Contacts handed to the health stations of their communes.",
    ),
    "status": ("Đã cập nhật tình trạng theo dõi.", "Follow-up status saved."),
    "reported": ("Đã thêm người tiếp xúc và truy vết lại.", "Contact added; traced again."),
    "warned": (
        "Đã xếp hàng gửi cảnh báo cho %(n)s người tiếp xúc; %(no_phone)s người không có địa chỉ"
        " nhận ở kênh đã chọn (số điện thoại hoặc email, kể cả của hộ gia đình).",
        "Warnings queued for %(n)s contacts; %(no_phone)s have no address on the channels"
        " chosen (a phone or an e-mail address, their household's included).",
    ),
    "warn_queued": (
        "Cảnh báo lớn (%(n)s dòng tiếp xúc) đã được xếp vào hàng đợi: hệ thống gửi dần trong nền,"
        " mỗi người một tin; tiến độ ở mục “Cảnh báo đang gửi” của trang truy vết.",
        "A large warning (%(n)s contact rows) is queued: it is sent in the background, one"
        " message per person; see “Warnings being sent” on the tracing page.",
    ),
    "published": (
        "Đã công bố thêm %(n)s địa điểm và khung giờ ca bệnh đã đến (không kèm thông tin cá nhân).",
        "Published %(n)s more places and times the case visited (no personal data).",
    ),
}
# The figures a notice of ``DONE`` may show, read back from the redirect's query.
DONE_FIGURES = ("n", "no_phone")
# Delivery states of a warning (the outbox message's).
DELIVERY: dict[str, tuple[str, str]] = {
    "pending": ("đang chờ gửi", "waiting to be sent"),
    "retrying": ("chưa gửi được, sẽ thử lại", "not sent yet, will be tried again"),
    "sent": ("đã gửi", "sent"),
    "delivered": ("đã đến máy người nhận", "delivered to the phone"),
    "failed": ("gửi không được", "could not be sent"),
}

# The line list export: (key, column title).
EXPORT_COLUMNS = (
    ("case_id", "Mã ca bệnh"),
    ("contact_id", "Mã tiếp xúc"),
    ("person", "Họ tên (hoặc bí danh)"),
    ("phone", "Số điện thoại"),
    ("unit_code", "Đơn vị cư trú"),
    ("level", "Mức"),
    ("source", "Nguồn"),
    ("risk", "Nguy cơ"),
    ("last_exposure", "Tiếp xúc lần cuối"),
    ("status", "Tình trạng theo dõi"),
    ("assigned_unit", "Đơn vị theo dõi"),
    ("place", "Nơi tiếp xúc"),
    ("minutes", "Số phút"),
)

Text = Annotated[str, Form(max_length=40)]


# Shared helpers ---------------------------------------------------------------------------------
def _lang(request: Request) -> str:
    lang: str = getattr(request.state, "lang", "vi")
    return "en" if lang == "en" else "vi"


def _label(lang: str, group: str, code: str | None) -> str:
    if group == "rule" and code:
        if code == rules.RULE_DEFAULT:
            return "mặc định" if lang == "vi" else "default"
        kind = code.removeprefix("type:")
        pair = TYPES.get(kind)
        return pick(pair, lang) if pair else kind
    pair = LABELS.get(group, {}).get(code or "")
    if pair is None:
        return code or ""
    return pick(pair, lang)


def _page(
    request: Request, template: str, ctx: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    lang = _lang(request)
    helpers: dict[str, Any] = {
        "label": lambda group, code: _label(lang, group, code),
        "level_name": lambda level: f"F{level}",
        "done": _done(request, lang),
        "CASE_SOURCES": CASE_SOURCES,
        "FOLLOW_UP": FOLLOW_UP,
        "SOURCES": rules.SOURCES,
    }
    return private_page(request, template, {**helpers, **ctx}, status_code=status_code)


def _done(request: Request, lang: str) -> str | None:
    """The notice of the action just done (``?done=``), with its figures."""
    done = request.query_params.get("done")
    if done not in DONE:
        return None
    figures = {}
    for name in DONE_FIGURES:
        value = request.query_params.get(name, "")
        figures[name] = _num(int(value), lang) if value.isdigit() and len(value) <= 9 else "0"
    return pick(DONE[done], lang) % figures


def _num(value: int, lang: str) -> str:
    """A count with thousands separated the language's way (Vietnamese: 998.270)."""
    return f"{value:,}".replace(",", "." if lang == "vi" else ",")


def _field(request: Request, name: str) -> str:
    pair = LABELS["field"][name]
    return pick(pair, _lang(request))


def _when(request: Request, value: str, name: str) -> datetime | None:
    """A time typed as yyyy-mm-ddTHH:MM (datetime-local pickers) or dd/mm/yyyy HH:MM, in
    Vietnam time; None when left blank."""
    value = value.strip()
    if not value:
        return None
    try:
        return parse_local(value)
    except ValueError:
        raise Invalid("error.invalid_fields", fields=_field(request, name)) from None


def _at(request: Request, value: str, name: str) -> datetime:
    """A time that must be given."""
    when = _when(request, value, name)
    if when is None:
        raise Invalid("error.invalid_fields", fields=_field(request, name))
    return when


def _number(request: Request, value: str, name: str) -> int:
    value = value.strip().lstrip("#")
    if not value.isdigit() or len(value) > 18:
        raise Invalid("error.invalid_fields", fields=_field(request, name))
    return int(value)


def _level(request: Request, value: str) -> int | None:
    """A contact level typed in a form: F1…F4, or none for every level."""
    if not value:
        return None
    if value not in ("1", "2", "3", "4"):
        raise Invalid("error.invalid_fields", fields=_field(request, "level"))
    return int(value)


def _unit_names(db: Session, codes: set[str]) -> dict[str, str]:
    """The names of these units by code; a code the registry lacks stands for itself."""
    names = UnitRepository(db).names(codes)
    return {code: names.get(code, code) for code in codes}


def _picker(dt: datetime) -> str:
    """The value of a datetime-local input (Vietnam time)."""
    return dt.astimezone(VN).strftime("%Y-%m-%dT%H:%M")


class _Visibility:
    """TracingService.visible, asked once per unit (it only depends on the person's unit)."""

    def __init__(self, service: TracingService, official: Official) -> None:
        self.service, self.official = service, official
        self.known: dict[str | None, bool] = {}

    def __call__(self, person: Person) -> bool:
        key = person.unit_code
        if key not in self.known:
            self.known[key] = self.service.visible(self.official, person)
        return self.known[key]


FILTERS = ("level", "source", "status")


def _filters(level: str, source: str, status: str) -> dict[str, str]:
    """The valid filters of the contact list (anything else is ignored)."""
    return {
        "level": level if level in ("1", "2", "3", "4") else "",
        "source": source if source in rules.SOURCES else "",
        "status": status if status in FOLLOW_UP else "",
    }


def _case_url(
    case_id: int, query: str = "", done: str = "", figures: dict[str, int] | None = None
) -> str:
    """The case page with the filters of ``query`` (re-validated: never an open redirect), and
    the notice of what was ``done`` with its ``figures``."""
    values = dict(parse_qsl(query[:300]))
    params = {k: v for k, v in _filters(**{k: values.get(k, "") for k in FILTERS}).items() if v}
    params |= _return_params(values, done, figures)
    return f"/officials/tracing/cases/{case_id}" + (f"?{urlencode(params)}" if params else "")


def _return_params(
    values: dict[str, str], done: str = "", figures: dict[str, int] | None = None
) -> dict[str, str]:
    """What a page is sent back to after a form, besides its filters: the page number (valid
    ones only) and the notice of what was ``done`` with its ``figures``."""
    params = {}
    page = values.get("page", "")
    if page.isdigit() and 1 < int(page) <= 100_000:
        params["page"] = page
    if done:
        params["done"] = done
        params.update({k: str(v) for k, v in (figures or {}).items() if k in DONE_FIGURES})
    return params


# Entering a case ---------------------------------------------------------------------------------
def _home(
    request: Request,
    principal: Principal,
    official: Official,
    db: Session,
    settings: Settings,
    q: str = "",
    unit: str = "",
    person: str = "",
    form: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
    page: int = 1,
    waiting: bool = False,
) -> Response:
    form = form or {
        "person_id": person,
        "test_at": _picker(utcnow()),
        "onset_at": "",
        "source": "community",
        "unit_code": "",
    }
    tracing = TracingService(db, settings)
    lang = _lang(request)
    ctx: dict[str, Any] = {
        "q": q,
        "unit": unit,
        "found": None,
        "form": form,
        "error": error,
        "untraced": tracing.count_waiting(official),
        "cases": tracing.recent_cases(
            principal, official, PageParams(page, CASE_LIST_SIZE), waiting
        ),
        "waiting": waiting,
        "warning_jobs": [
            {
                "id": job.id,
                "created_at": job.created_at,
                "cases": _num(len(json.loads(job.case_ids)), lang),
                "rows": _num(job.rows, lang),
                "contacts": _num(job.contacts, lang),
                "warned": _num(job.warned, lang),
                "no_phone": _num(job.no_phone, lang),
                "done_at": job.done_at,
            }
            for job in tracing.warning_jobs(official)
        ],
    }
    people = OfficialPeopleService(db, settings)
    try:
        picked = form.get("person_id", "").strip()
        if picked.isdigit():
            # Audited ("person page") and refused outside the jurisdiction.
            ctx["found"] = [people.person(principal, official, int(picked))]
        elif q.strip():
            ctx["found"] = people.search(principal, official, q, unit.strip() or None)
    except DomainError as exc:
        if error is None:  # a refusal of its own (after a failed form: show that form's error)
            if exc.status_code in (401, 403, 404):
                raise
            ctx["error"], status_code = message_of(request, exc), exc.status_code
    return _page(request, "tracing_home.html", ctx, status_code=status_code)


def _home_error(
    request: Request,
    principal: Principal,
    official: Official,
    db: Session,
    settings: Settings,
    exc: DomainError,
    form: dict[str, str] | None = None,
) -> Response:
    """The tracing page again, with the error of the form just sent (what was typed in the
    case form kept); nothing of the request is saved. Only a lost sign-in propagates."""
    if exc.status_code == 401:
        raise exc
    db.rollback()
    return _home(
        request,
        principal,
        official,
        db,
        settings,
        form=form,
        error=message_of(request, exc),
        status_code=exc.status_code,
    )


@router.get("/officials/tracing", response_class=HTMLResponse)
def tracing_home(
    request: Request,
    principal: PrincipalDep,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
    q: str = Query(default="", max_length=100),
    unit: str = Query(default="", max_length=16),
    person: str = Query(default="", max_length=20),
    case: str = Query(default="", max_length=20),
    page: int = Query(default=1, ge=1, le=100_000),
    waiting: str = Query(default="", max_length=1),
) -> Response:
    error, status_code = None, 200
    if case.strip():
        try:
            return redirect(f"/officials/tracing/cases/{_number(request, case, 'case')}")
        except DomainError as exc:
            error, status_code = message_of(request, exc), exc.status_code
    return _home(
        request,
        principal,
        official,
        db,
        settings,
        q,
        unit,
        person,
        error=error,
        status_code=status_code,
        page=page,
        waiting=waiting == "1",
    )


@router.post("/officials/tracing/cases", response_class=HTMLResponse)
def tracing_open(
    request: Request,
    principal: PrincipalDep,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
    person_id: Annotated[str, Form(max_length=20)] = "",
    test_at: Text = "",
    onset_at: Text = "",
    source: Annotated[str, Form(max_length=20)] = "community",
    unit_code: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    form = {
        "person_id": person_id,
        "test_at": test_at,
        "onset_at": onset_at,
        "source": source,
        "unit_code": unit_code,
    }
    try:
        service = TracingService(db, settings)
        case = service.open_case(
            principal,
            official,
            _number(request, person_id, "person"),
            _at(request, test_at, "test_at"),
            _when(request, onset_at, "onset_at"),
            None,
            source,
            unit_code.strip() or None,
        )
        service.trace_waiting(case)
    except DomainError as exc:
        return _home_error(request, principal, official, db, settings, exc, form)
    return redirect(f"/officials/tracing/cases/{case.id}?done=opened")


# A line list of cases ----------------------------------------------------------------------------
@router.get("/officials/tracing/line-list.csv")
def tracing_line_list_template(official: OfficialDep) -> Response:
    """The header of a line list, for a spreadsheet (BOM: Excel reads it as UTF-8)."""
    return Response(
        "\ufeff" + line_list.template(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="danh-sach-ca-benh.csv"'},
    )


@router.post("/officials/tracing/line-list", response_class=HTMLResponse)
def tracing_line_list(
    request: Request,
    principal: PrincipalDep,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File()],
) -> Response:
    """Enter a CSV line list of cases, all rows or none; the tracing queue traces them (every
    F1, then each F2)."""
    lang = _lang(request)
    sources = {label: code for code, pair in LABELS["case_source"].items() for label in pair}
    parsed = line_list.parse(file.file.read(settings.max_body_bytes + 1), BATCH_LIMIT, sources)
    errors = [(e.row, t(e.key, lang, **e.params)) for e in parsed.errors]
    entered: list[dict[str, Any]] = []
    if not errors:
        try:
            cases = TracingService(db, settings).open_cases(principal, official, parsed.rows)
        except InvalidRows as exc:
            db.rollback()
            errors = [(row, message_of(request, error)) for row, error in exc.rows]
        except DomainError as exc:
            if exc.status_code == 401:
                raise
            db.rollback()
            errors = [(0, message_of(request, exc))]
        else:
            entered = [
                {"row": row, "case": case}
                for (row, _entry), case in zip(parsed.rows, cases, strict=True)
            ]
    ctx = {
        "errors": errors,
        "summary": t("error.batch_rows", lang, count=len(errors)) if errors else "",
        "entered": entered,
        "filename": (file.filename or "")[:100],
    }
    return _page(request, "tracing_line_list.html", ctx, status_code=422 if errors else 200)


# The case page -----------------------------------------------------------------------------------
def _timeline(service: TracingService, case: Case) -> list[dict[str, Any]]:
    """The case's visits inside its infectious window, oldest first."""
    now = utcnow()
    rows = [
        r
        for r in service.repo.stays_of([case.person_id], case.window_start, case.window_end)
        if (r.check_out_at or min(r.auto_out_at, now)) > case.window_start
        and r.check_in_at < case.window_end
    ]
    kinds = service.repo.checkpoint_types({r.checkpoint_id for r in rows})
    out = []
    for r in rows:
        kind, name = kinds.get(r.checkpoint_id, ("", ""))
        estimated = r.check_out_at is None or r.out_method in (OUT_AUTOMATIC, OUT_SUPERSEDED)
        out.append(
            {
                "checkpoint_id": r.checkpoint_id,
                "place": name,
                "type": kind,
                "check_in": fmt_local(r.check_in_at),
                "check_out": fmt_local(r.check_out_at or r.auto_out_at),
                "open": r.check_out_at is None,
                "estimated": estimated,
                "out_method": r.out_method or "",
            }
        )
    return out


def _evidence(
    items: Sequence[dict[str, Any]], case: Case, names: dict[int, str]
) -> list[dict[str, Any]]:
    """The links of one contact as the page shows them (a few at most)."""
    shown = []
    for e in items[:5]:
        via = e.get("via_person_id")
        shown.append(
            {
                "level": e.get("level"),
                "source": e.get("source", ""),
                "place": e.get("checkpoint", ""),
                "minutes": _minutes(e.get("minutes")),
                "certain_minutes": _minutes(e.get("certain_minutes")),
                "rule": e.get("rule", ""),
                "start": fmt_local(_iso(e.get("start"))),
                "end": fmt_local(_iso(e.get("end"))),
                "note": e.get("note", ""),
                # Bluetooth (Bluezone) exposures shared by the contact: their own figures.
                "date": _day(e.get("date")),
                "weighted_minutes": _minutes(e.get("weighted_minutes")),
                # Fellow travellers (movement declarations): the vehicle and the day.
                "vehicle_no": e.get("vehicle_no", ""),
                "travel_date": _day(e.get("travel_date")),
                "min_attenuation": _minutes(e.get("min_attenuation")),
                "via": (
                    "F0"
                    if via == case.person_id
                    else names.get(via, "")
                    if isinstance(via, int)
                    else ""
                ),
            }
        )
    return shown


def _minutes(value: object) -> int | float | None:
    """Overlap minutes as people read them: 60, not 60.0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if float(value).is_integer() else round(value, 1)


def _day(value: object) -> str:
    """A yyyy-mm-dd day as dd/mm/yyyy (empty when missing or unreadable)."""
    if not isinstance(value, str):
        return ""
    try:
        return date.fromisoformat(value).strftime("%d/%m/%Y")
    except ValueError:
        return ""


def _iso(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _case_page(
    request: Request,
    principal: Principal,
    official: Official,
    db: Session,
    settings: Settings,
    case_id: int,
    filters: dict[str, str],
    page: int = 1,
    report: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
    issued: IssuedCode | None = None,
) -> Response:
    service = TracingService(db, settings)
    case = service.case_for(official, case_id)
    index = db.get(Person, case.person_id)
    if index is None:
        raise Invalid("error.unknown_person")
    visible = _Visibility(service, official)
    level = int(filters["level"]) if filters["level"] else None
    rows = service.repo.contact_list(
        case.id,
        level,
        filters["source"] or None,
        filters["status"] or None,
        PAGE_SIZE + 1,
        (page - 1) * PAGE_SIZE,
    )
    more, rows = len(rows) > PAGE_SIZE, rows[:PAGE_SIZE]
    outs = [(contact_out(c, p, visible(p)), c) for c, p in rows]
    # Who exposed whom: the names of the people the evidence goes through (shown when visible).
    via_ids: set[int] = set()
    for out, _c in outs:
        for e in out.evidence[:5]:
            via = e.get("via_person_id")
            if isinstance(via, int) and via != case.person_id:
                via_ids.add(via)
    via_people = service.repo.people(via_ids)
    names = {pid: p.full_name if visible(p) else pseudonym(pid) for pid, p in via_people.items()}
    shown: dict[int, Person] = {index.id: index}
    shown.update({p.id: p for _c, p in rows if visible(p)})
    shown.update({p.id: p for p in via_people.values() if visible(p)})
    service.audit_shown(principal, list(shown.values()), f"case {case.id} page")
    unit_names = _unit_names(db, {case.unit_code} | {o.unit_code for o, _c in outs if o.unit_code})
    counts = TracingRepository(db).counts_by_source(case.id)
    delivery = OutboxRepository(db).statuses(
        [c.warning_message_id for c, _p in rows if c.warning_message_id]
    )
    lang = _lang(request)
    query = {k: v for k, v in filters.items() if v}
    ctx: dict[str, Any] = {
        "case": case,
        "index": index,
        "window": (fmt_local(case.window_start), fmt_local(case.window_end)),
        "timeline": _timeline(service, case),
        "counts": counts,
        "trace_limit": settings.trace_level_limit,
        "deeper_progress": service.deeper_progress(case),
        # Only the sources found (the table stays narrow on a phone).
        "used_sources": [x for x in rules.SOURCES if any(x in c for c in counts.values())],
        "totals": {level: sum(c.values()) for level, c in counts.items()},
        "total": sum(sum(c.values()) for c in counts.values()),
        "contacts": [
            {
                "id": out.id,
                "person": out.person,
                "person_id": out.person_id,
                "visible": out.person_id is not None,
                "phone": out.phone or "",
                "unit": unit_names.get(out.unit_code or "", out.unit_code or ""),
                "unit_code": out.unit_code or "",
                "level": out.level,
                "source": out.source,
                "risk": out.risk,
                "last_exposure": fmt_local(out.last_exposure),
                "status": out.status,
                "assigned_unit": out.assigned_unit or "",
                "evidence": _evidence(out.evidence, case, names),
                "warned_at": fmt_local(c.warned_at),
                "warning": (
                    pick(DELIVERY[delivery[c.warning_message_id]], lang)
                    if c.warning_message_id in delivery
                    else ""
                ),
            }
            for out, c in outs
        ],
        "published": len(service.repo.exposure_places(case.id)),
        "filters": filters,
        "query": urlencode(query),
        "back": urlencode({**query, **({"page": str(page)} if page > 1 else {})}),
        "page": page,
        "more": more,
        "unit_names": unit_names,
        "report": report or {"person_id": "", "exposed_at": "", "note": ""},
        "error": error,
        # A Bluezone verification code just issued: shown once, never stored in clear.
        "issued": (
            {
                "code": f"{issued.code[:4]} {issued.code[4:]}",
                "expires": fmt_local(issued.expires_at),
            }
            if issued
            else None
        ),
    }
    return _page(request, "tracing_case.html", ctx, status_code=status_code)


def _case_error(
    request: Request,
    principal: Principal,
    official: Official,
    db: Session,
    settings: Settings,
    case_id: int,
    exc: DomainError,
    report: dict[str, str] | None = None,
) -> Response:
    """The case page again, with the error of the form just sent (what was typed in the
    contact form kept); nothing of the request is saved. Refusals propagate."""
    if exc.status_code in (401, 403, 404):
        raise exc
    db.rollback()
    return _case_page(
        request,
        principal,
        official,
        db,
        settings,
        case_id,
        _filters("", "", ""),
        report=report,
        error=message_of(request, exc),
        status_code=exc.status_code,
    )


@router.get("/officials/tracing/cases/{case_id}", response_class=HTMLResponse)
def tracing_case(
    request: Request,
    case_id: int,
    principal: PrincipalDep,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
    level: str = Query(default="", max_length=2),
    source: str = Query(default="", max_length=12),
    status: str = Query(default="", max_length=12),
    page: int = Query(default=1, ge=1, le=100_000),
) -> Response:
    filters = _filters(level, source, status)
    return _case_page(request, principal, official, db, settings, case_id, filters, page)


def _on_case(
    db: Session,
    official: Official,
    settings: Settings,
    case_id: int,
    do: Callable[[TracingService, Case], object],
) -> None:
    service = TracingService(db, settings)
    do(service, service.case_for(official, case_id))


@router.post("/officials/tracing/cases/{case_id}/trace", response_class=HTMLResponse)
def tracing_retrace(
    case_id: int, official: OfficialDep, db: SessionDep, settings: SettingsDep
) -> Response:
    _on_case(db, official, settings, case_id, lambda service, case: service.trace_waiting(case))
    return redirect(_case_url(case_id, done="traced"))


@router.post("/officials/tracing/cases/{case_id}/assign", response_class=HTMLResponse)
def tracing_assign(
    case_id: int, official: OfficialDep, db: SessionDep, settings: SettingsDep
) -> Response:
    _on_case(
        db,
        official,
        settings,
        case_id,
        lambda service, case: service.assign_to_stations(official, case),
    )
    return redirect(_case_url(case_id, done="assigned"))


@router.post("/officials/tracing/cases/{case_id}/warn", response_class=HTMLResponse)
def tracing_warn(
    request: Request,
    case_id: int,
    principal: PrincipalDep,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
    channels: Annotated[list[str] | None, Form(max_length=3)] = None,
    level: Annotated[str, Form(max_length=2)] = "",
) -> Response:
    """Warn the case's contacts still to call (of one level, or all) by SMS and/or OTT."""
    service = TracingService(db, settings)
    case = service.case_for(official, case_id)
    try:
        counts = service.warn(principal, official, case, channels or [], _level(request, level))
    except DomainError as exc:
        return _case_error(request, principal, official, db, settings, case_id, exc)
    done, figures = _warned(counts)
    return redirect(_case_url(case_id, done=done, figures=figures))


@router.post("/officials/tracing/warn", response_class=HTMLResponse)
def tracing_warn_cases(
    request: Request,
    principal: PrincipalDep,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
    case_ids: Annotated[list[str] | None, Form(max_length=BATCH_LIMIT)] = None,
    channels: Annotated[list[str] | None, Form(max_length=3)] = None,
    level: Annotated[str, Form(max_length=2)] = "",
) -> Response:
    """Warn the contacts of the cases ticked in the case list, one message per person."""
    service = TracingService(db, settings)
    try:
        if not case_ids:
            raise Invalid("error.no_case_selected")
        cases = service.cases_for(official, [_number(request, i, "case") for i in case_ids])
        counts = service.warn_cases(
            principal, official, cases, channels or [], _level(request, level)
        )
    except DomainError as exc:
        return _home_error(request, principal, official, db, settings, exc)
    done, figures = _warned(counts)
    return redirect(f"/officials/tracing?{urlencode(_return_params({}, done, figures))}")


def _warned(counts: dict[str, int]) -> tuple[str, dict[str, int]]:
    """The notice after a warning: sent, or queued as a job (too large for a request)."""
    if "queued" in counts:
        return "warn_queued", {"n": counts["queued"]}
    return "warned", {"n": counts["warned"], "no_phone": counts["no_phone"]}


@router.post("/officials/tracing/cases/{case_id}/publish", response_class=HTMLResponse)
def tracing_publish(
    case_id: int,
    principal: PrincipalDep,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
) -> Response:
    """Publish where and when the case was while infectious, for the map and self-checks."""
    service = TracingService(db, settings)
    added = service.publish(principal, official, service.case_for(official, case_id))
    return redirect(_case_url(case_id, done="published", figures={"n": len(added)}))


@router.post("/officials/tracing/cases/{case_id}/contacts", response_class=HTMLResponse)
def tracing_report(
    request: Request,
    case_id: int,
    principal: PrincipalDep,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
    person_id: Annotated[str, Form(max_length=20)] = "",
    exposed_at: Text = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    report = {"person_id": person_id, "exposed_at": exposed_at, "note": note}
    service = TracingService(db, settings)
    case = service.case_for(official, case_id)
    try:
        service.report_contact(
            principal,
            official,
            case,
            _number(request, person_id, "person_id"),
            _at(request, exposed_at, "exposed_at"),
            note,
        )
        service.trace_waiting(case)
    except DomainError as exc:
        return _case_error(request, principal, official, db, settings, case_id, exc, report)
    return redirect(_case_url(case_id, done="reported"))


@router.post("/officials/tracing/cases/{case_id}/verification-code", response_class=HTMLResponse)
def tracing_verification_code(
    request: Request,
    case_id: int,
    principal: PrincipalDep,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
) -> Response:
    """Issue a Bluezone verification code for the case and show it once on the case page (the
    page is not cached; reloading issues another code)."""
    issued = ProximityService(db, settings).issue_code(principal, official, case_id)
    return _case_page(
        request, principal, official, db, settings, case_id, _filters("", "", ""), issued=issued
    )


@router.post("/officials/tracing/contacts/{contact_id}/status", response_class=HTMLResponse)
def tracing_status(
    contact_id: int,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
    status: Annotated[str, Form(max_length=12)] = "",
    back: Annotated[str, Form(max_length=300)] = "",
    to: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    """Save a contact's follow-up status, back to the case page or (``to=follow-up``) to the
    follow-up list, with the same filters."""
    contact = TracingService(db, settings).set_status(official, contact_id, status)
    if to == "follow-up":
        return redirect(_follow_up_url(back, done="status") + f"#c{contact.id}")
    return redirect(_case_url(contact.case_id, back, done="status") + f"#c{contact.id}")


# The health stations' follow-up list -----------------------------------------------------------
def _follow_up_status(value: str) -> str:
    """The status filter of the follow-up list: a follow-up status, or "all"; by default the
    people still to call."""
    return value if value in FOLLOW_UP or value == "all" else "to_call"


def _unit_filter(value: str) -> str:
    """A unit code typed in a filter (digits), or nothing."""
    value = value.strip()
    return value if value.isdigit() and len(value) <= 16 else ""


def _follow_up_url(query: str = "", done: str = "") -> str:
    """The follow-up list with the filter of ``query`` (re-validated: never an open redirect)."""
    values = dict(parse_qsl(query[:300]))
    params = {"status": _follow_up_status(values.get("status", ""))}
    if unit := _unit_filter(values.get("unit", "")):
        params["unit"] = unit
    params |= _return_params(values, done)
    return f"/officials/tracing/follow-up?{urlencode(params)}"


@router.get("/officials/tracing/follow-up", response_class=HTMLResponse)
def tracing_follow_up(
    request: Request,
    principal: PrincipalDep,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
    status: str = Query(default="to_call", max_length=12),
    unit: str = Query(default="", max_length=16),
    page: int = Query(default=1, ge=1, le=100_000),
) -> Response:
    """The contacts handed to the health stations of the official's jurisdiction (or of one
    unit inside it), whatever case they came from (a case entered elsewhere stays closed to
    them: only its number shows), with the follow-up form."""
    chosen = _follow_up_status(status)
    unit = _unit_filter(unit)
    service = TracingService(db, settings)
    found = service.handed_to(
        principal,
        official,
        None if chosen == "all" else chosen,
        PageParams(page, FOLLOW_UP_SIZE),
        unit or None,
    )
    case_units = service.repo.case_units({c.case_id for c, _p in found.items})
    unit_names = _unit_names(db, {c.assigned_unit for c, _p in found.items if c.assigned_unit})
    items = []
    for contact, person in found.items:
        seen = service.visible(official, person)
        case_unit = case_units.get(contact.case_id, "")
        items.append(
            _line(contact.case_id, contact, person, seen)
            | {
                "id": contact.id,
                "person_id": person.id if seen else None,
                "case_open": service.accounts.can_see_unit(official, case_unit),
                "warned_at": fmt_local(contact.warned_at),
                "station": unit_names.get(contact.assigned_unit or "", ""),
            }
        )
    filters = {"status": chosen} | ({"unit": unit} if unit else {})
    query = filters | ({"page": str(page)} if page > 1 else {})
    ctx = {
        "items": items,
        "found": found,
        "status": chosen,
        "unit": unit,
        "filters": urlencode(filters),
        "back": urlencode(query),
    }
    return _page(request, "tracing_follow_up.html", ctx)


# The line list -----------------------------------------------------------------------------------
def _line(case_id: int, contact: Contact, person: Person, seen: bool) -> dict[str, object]:
    try:
        evidence = json.loads(contact.evidence or "[]")
    except ValueError:
        evidence = []
    first = evidence[0] if evidence and isinstance(evidence[0], dict) else {}
    return {
        "case_id": case_id,
        "contact_id": contact.id,
        "person": person.full_name if seen else pseudonym(person.id),
        "phone": (person.phone or "") if seen else "",
        "unit_code": person.unit_code or "",
        "level": f"F{contact.level}",
        "source": contact.source,
        "risk": contact.risk,
        "last_exposure": fmt_local(contact.last_exposure),
        "status": contact.status,
        "assigned_unit": contact.assigned_unit or "",
        "place": first.get("checkpoint", ""),
        "minutes": _minutes(first.get("minutes")) if "minutes" in first else "",
    }


def _export(
    request: Request,
    fmt: str,
    official: Official,
    settings: Settings,
    name: str,
    fetch: Callable[
        [TracingService, Official, int, tuple[Contact, Person] | None], list[tuple[Contact, Person]]
    ],
    detail: str,
) -> StreamingResponse:
    """A line list of contacts as CSV or XLSX, streamed ``EXPORT_BATCH`` rows at a time from
    ``fetch(service, official, offset, last)`` (``last``: the previous batch's last row, for
    keyset paging); identities outside the jurisdiction are
    pseudonymised and every identity exported is audited (``detail``), batch by batch."""
    factory = request.app.state.sessionmaker
    official_id = official.id

    def batches() -> Iterator[list[dict[str, object]]]:
        # Its own session (the request's is closed when streaming starts); each batch's audit
        # rows are committed with it: this generator is the job boundary of the export.
        with factory() as session:
            service = TracingService(session, settings)
            me = session.get(Official, official_id)
            assert me is not None
            who = Principal(kind="official", official=me)
            visible = _Visibility(service, me)
            offset = 0
            last: tuple[Contact, Person] | None = None
            while True:
                rows = fetch(service, me, offset, last)
                service.audit_shown(who, [p for _c, p in rows if visible(p)], detail)
                out = [_line(c.case_id, c, p, visible(p)) for c, p in rows]
                session.commit()
                yield out
                if len(rows) < EXPORT_BATCH:
                    return
                offset, last = offset + EXPORT_BATCH, rows[-1]

    media = (
        "text/csv; charset=utf-8"
        if fmt == "csv"
        else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    return StreamingResponse(
        csv_stream(EXPORT_COLUMNS, batches())
        if fmt == "csv"
        else xlsx_stream(EXPORT_COLUMNS, "Tiếp xúc", batches()),
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="{name}.{fmt}"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/officials/tracing/cases/{case_id}/contacts.{fmt}")
def tracing_export(
    request: Request,
    case_id: int,
    fmt: str,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
    level: str = Query(default="", max_length=2),
    source: str = Query(default="", max_length=12),
    status: str = Query(default="", max_length=12),
) -> StreamingResponse:
    if fmt not in ("csv", "xlsx"):
        raise Invalid("error.invalid_fields", fields="format")
    case = TracingService(db, settings).case_for(official, case_id)  # refuse before streaming
    filters = _filters(level, source, status)
    case_key = case.id

    def fetch(
        service: TracingService, _me: Official, offset: int, _last: object
    ) -> list[tuple[Contact, Person]]:
        return service.repo.contact_list(
            case_key,
            int(filters["level"]) if filters["level"] else None,
            filters["source"] or None,
            filters["status"] or None,
            EXPORT_BATCH,
            offset,
        )

    return _export(
        request,
        fmt,
        official,
        settings,
        f"tiep-xuc-ca-{case_key}",
        fetch,
        f"contacts export {fmt}, case {case_key}",
    )


@router.get("/officials/tracing/follow-up.{fmt}")
def tracing_follow_up_export(
    request: Request,
    fmt: str,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
    status: str = Query(default="to_call", max_length=12),
    unit: str = Query(default="", max_length=16),
) -> StreamingResponse:
    """The follow-up list (the same filters) as a line list to call from."""
    if fmt not in ("csv", "xlsx"):
        raise Invalid("error.invalid_fields", fields="format")
    chosen = _follow_up_status(status)
    scope = _unit_filter(unit) or None
    wanted = None if chosen == "all" else chosen
    # Counted before streaming starts, which also refuses a unit outside the jurisdiction.
    total = TracingService(db, settings).count_handed(official, wanted, scope)

    def fetch(
        service: TracingService, me: Official, _offset: int, last: tuple[Contact, Person] | None
    ) -> list[tuple[Contact, Person]]:
        # Keyset paging (older than the last row sent): an offset would read the skipped rows
        # again for every batch of a province's list.
        before = last[0].id if last else None
        return service.handed_rows(me, wanted, EXPORT_BATCH, 0, before, total, scope)

    return _export(
        request,
        fmt,
        official,
        settings,
        f"theo-doi-tiep-xuc-{chosen}" + (f"-{scope}" if scope else ""),
        fetch,
        f"follow-up export {fmt}",
    )


# The graph ---------------------------------------------------------------------------------------
@router.get("/officials/tracing/cases/{case_id}/graph", response_class=HTMLResponse)
def tracing_graph(
    request: Request,
    case_id: int,
    principal: PrincipalDep,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
    limit: int = Query(default=GRAPH_LIMIT, ge=1, le=GRAPH_MAX),
) -> Response:
    service = TracingService(db, settings)
    case = service.case_for(official, case_id)
    index = db.get(Person, case.person_id)
    if index is None:
        raise Invalid("error.unknown_person")
    service.audit_shown(principal, [index], f"case {case.id} graph page")
    totals = service.repo.contact_counts(case.id)
    lang = _lang(request)
    texts = {
        "shown": "Hiển thị {n} / {m} tiếp xúc" if lang == "vi" else "Showing {n} / {m} contacts",
        "risk": "Nguy cơ" if lang == "vi" else "Risk",
        "status": "Theo dõi" if lang == "vi" else "Follow-up",
        "empty": "Chưa có tiếp xúc nào." if lang == "vi" else "No contacts yet.",
        "failed": "Không tải được sơ đồ." if lang == "vi" else "The graph could not be loaded.",
        "statuses": {k: _label(lang, "status", k) for k in FOLLOW_UP},
    }
    return _page(
        request,
        "tracing_graph.html",
        {
            "case": case,
            "index": index,
            "totals": totals,
            "total": sum(totals.values()),
            "limit": limit,
            "api": f"/api/v1/tracing/cases/{case.id}/graph?limit={limit}",
            "texts": texts,
        },
    )
