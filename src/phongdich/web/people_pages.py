"""Server-rendered pages of people: a citizen's colour, QR, registry entry, household and
declarations; the officials' declarations, search, person page and duplicates. Handlers stay
thin: PersonService and OfficialPeopleService hold the rules (and audit identity reads)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

import segno
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from phongdich.accounts.models import PhoneAccount
from phongdich.accounts.service import Principal
from phongdich.geo.repository import UnitRepository
from phongdich.kit.clock import VN, fmt_local, utcnow
from phongdich.kit.errors import DomainError, Forbidden, Invalid
from phongdich.kit.i18n import t
from phongdich.kit.pagination import PageParams
from phongdich.people import identity, status
from phongdich.people.models import Declaration, Person
from phongdich.people.routes import line, person_out
from phongdich.people.schemas import (
    DECLARATION_KINDS,
    RELATIONS,
    TRANSPORTS,
    DeclarationIn,
    DependantIn,
    ProfileIn,
)
from phongdich.people.service import OfficialPeopleService, PersonService
from phongdich.tracing.service import TracingService
from phongdich.web.deps import (
    OfficialDep,
    OptionalPrincipal,
    PrincipalDep,
    SessionDep,
    SettingsDep,
    csrf_protect,
)
from phongdich.web.pages import message_of, redirect
from phongdich.web.templating import pick, private_page

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

# Where citizens sign in (phone + SMS code); ``next`` is where to come back to.
SIGNIN = "/owner/signin"

# Display labels (Vietnamese, English) of the codes the forms use.
LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "relation": {
        "self": ("Bản thân", "Myself"),
        "child": ("Con", "Child"),
        "parent": ("Bố / mẹ", "Parent"),
        "grandparent": ("Ông / bà", "Grandparent"),
        "spouse": ("Vợ / chồng", "Spouse"),
        "sibling": ("Anh / chị / em", "Sibling"),
        "other": ("Người thân khác", "Other relative"),
    },
    "gender": {
        "male": ("Nam", "Male"),
        "female": ("Nữ", "Female"),
        "other": ("Khác", "Other"),
    },
    "id_kind": {
        "cccd": ("Căn cước công dân (CCCD, 12 số)", "Citizen ID (CCCD, 12 digits)"),
        "cmnd": ("Chứng minh nhân dân (CMND, 9 số)", "Old ID card (CMND, 9 digits)"),
        "passport": ("Hộ chiếu", "Passport"),
    },
    "transport": {
        "car": ("Ô tô cá nhân", "Car"),
        "bus": ("Xe buýt", "Bus"),
        "coach": ("Xe khách", "Coach"),
        "train": ("Tàu hoả", "Train"),
        "plane": ("Máy bay", "Plane"),
        "boat": ("Tàu thuyền", "Boat"),
        "motorbike": ("Xe máy", "Motorbike"),
        "bicycle": ("Xe đạp", "Bicycle"),
        "other": ("Khác", "Other"),
    },
    "kind": {
        "universal": ("Khai báo y tế toàn dân", "Health declaration"),
        "daily": ("Khai báo y tế hằng ngày", "Daily health declaration"),
        "movement": ("Khai báo di chuyển nội địa", "Domestic movement declaration"),
    },
    "duplicate": {
        "id_number": ("Trùng số giấy tờ", "Same ID number"),
        "phone_name_year": (
            "Trùng số điện thoại, họ tên và năm sinh",
            "Same phone, name and birth year",
        ),
    },
    "field": {
        "birth_date": ("ngày sinh", "date of birth"),
        "birth_year": ("năm sinh", "year of birth"),
        "travel_date": ("ngày đi", "travel date"),
        "start": ("từ ngày", "from"),
        "end": ("đến ngày", "to"),
    },
}

# Short result messages after a form (keys only in the URL: nothing typed is reflected).
DONE: dict[str, tuple[str, str]] = {
    "profile": ("Đã lưu hồ sơ.", "Your details were saved."),
    "added": ("Đã thêm người vào hộ gia đình.", "Added to your household."),
    "declared": ("Đã gửi tờ khai.", "Declaration submitted."),
    "merged": ("Đã gộp hai hồ sơ.", "The two records were merged."),
    "dismissed": ("Đã đánh dấu là không trùng.", "Marked as not the same person."),
}

PAGE_SIZE = 50


# Shared helpers ---------------------------------------------------------------------------------
def _lang(request: Request) -> str:
    lang: str = getattr(request.state, "lang", "vi")
    return lang if lang in status.MESSAGES else "vi"


def _page(
    request: Request, template: str, ctx: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """``render`` with the label helpers every people page uses."""
    lang = _lang(request)
    texts = status.MESSAGES[lang]

    def label(group: str, code: str | None) -> str:
        pair = LABELS[group].get(code or "")
        if pair is None:
            return code or ""
        return pick(pair, lang)

    done = request.query_params.get("done")
    helpers: dict[str, Any] = {
        "label": label,
        "color_label": lambda c: texts.get(f"status.color.{c}", c),
        "symptom_label": lambda c: texts.get(f"symptom.{c}", c),
        "symptom_list": lambda codes: ", ".join(
            texts.get(f"symptom.{c}", c) for c in codes.split(",") if c
        ),
        "SYMPTOMS": status.SYMPTOMS,
        "done": pick(DONE[done], lang) if done in DONE else None,
    }
    return private_page(request, template, {**helpers, **ctx}, status_code=status_code)


def _field(request: Request, name: str) -> str:
    pair = LABELS["field"][name]
    return pick(pair, _lang(request))


def _day(request: Request, value: str, name: str) -> date | None:
    """A date typed as yyyy-mm-dd (date pickers) or dd/mm/yyyy (phones without one)."""
    value = value.strip()
    if not value:
        return None
    try:
        if "/" in value:
            d, m, y = (int(part) for part in value.split("/"))
            return date(y, m, d)
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid("error.invalid_fields", fields=_field(request, name)) from None


def _range(request: Request, start: str, end: str) -> tuple[date, date]:
    """The date filter of the officials' lists: the last 7 days unless told otherwise."""
    last = _day(request, end, "end") or utcnow().astimezone(VN).date()
    return _day(request, start, "start") or last - timedelta(days=6), last


def _place(db: SessionDep, code: str | None) -> str:
    """A unit and its ancestors, smallest first: "Phường Ba Đình, Thành phố Hà Nội"."""
    path = UnitRepository(db).ancestors(code.strip()) if code and code.strip() else []
    return ", ".join(u.name for u in reversed(path))


def qr_svg(text: str) -> Markup:
    """The pass as an inline SVG QR code, sized by CSS (no script, a few kilobytes)."""
    svg = segno.make(text, error="m").svg_inline(
        scale=1, border=4, omitsize=True, svgclass="qr", title="QR"
    )
    return Markup(svg)  # noqa: S704 - segno's own markup; the pass text is base45 only


def _reasons(assessment: status.Assessment, lang: str) -> list[str]:
    return [status.describe(r, lang) for r in assessment.reasons]


def _details(d: Declaration) -> dict[str, Any]:
    try:
        parsed = json.loads(d.details or "{}")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _declarations(rows: Any) -> list[tuple[Declaration, dict[str, Any]]]:
    return [(d, _details(d)) for d in rows]


# Citizens ---------------------------------------------------------------------------------------
def _citizen(principal: OptionalPrincipal) -> PhoneAccount | None:
    """The signed-in phone account; None when nobody is signed in (the page then sends the
    visitor to the sign-in page); officials have no household: 403."""
    if principal is None:
        return None
    if principal.account is None:
        raise Forbidden()
    return principal.account


CitizenDep = Annotated[PhoneAccount | None, Depends(_citizen)]


def _to_signin(request: Request) -> Response:
    target = request.url.path
    if request.method == "GET" and request.url.query:
        target += "?" + request.url.query
    return redirect(f"{SIGNIN}?{urlencode({'next': target})}")


@router.get("/me", response_class=HTMLResponse)
def me_page(
    request: Request, account: CitizenDep, db: SessionDep, settings: SettingsDep
) -> Response:
    if account is None:
        return _to_signin(request)
    people = PersonService(db, settings)
    person = people.for_account(account)
    current = people.status_of(person)
    household = people.household(account)
    colors = people.colors([p.id for _m, p in household])
    return _page(
        request,
        "me.html",
        {
            "person": person,
            "current": current,
            "reasons": _reasons(current.assessment, _lang(request)),
            "qr": qr_svg(current.qr),
            "expires": fmt_local(current.qr_expires_at),
            "incomplete": person.birth_year is None or person.unit_code is None,
            "members": [
                {"person": p, "relation": m.relation, "color": colors.get(p.id, "yellow")}
                for m, p in household
            ],
            # Self-check: my own visits at places and times the authorities published.
            "exposures": TracingService(db, settings).my_exposures(person.id, lang=_lang(request)),
        },
    )


def _person_form(person: Person) -> dict[str, str]:
    return {
        "full_name": person.full_name,
        "birth_date": person.birth_date.isoformat() if person.birth_date else "",
        # The year only when no date is known: both shown would clash once the date is edited.
        "birth_year": "" if person.birth_date else str(person.birth_year or ""),
        "gender": person.gender or "",
        "id_kind": person.id_kind or "",
        "id_number": person.id_number or "",
        "insurance_no": person.insurance_no or "",
        "address": person.address or "",
        "unit_code": person.unit_code or "",
        "phone": person.phone or "",
        "email": person.email or "",
        "language": person.language or "",
    }


def _form_context(db: SessionDep, form: dict[str, str], error: str | None) -> dict[str, Any]:
    return {
        "form": form,
        "error": error,
        "unit_path": _place(db, form.get("unit_code")),
        "GENDERS": identity.GENDERS,
        "ID_KINDS": identity.ID_KINDS,
        "RELATIONS": [r for r in RELATIONS if r != "self"],
    }


def _profile_in(request: Request, form: dict[str, str]) -> dict[str, Any]:
    """The typed values of a registry form (dates and year parsed; blanks as None)."""
    year = form["birth_year"].strip()
    if year and not year.isdigit():
        raise Invalid("error.birth_year")
    return {
        "full_name": form["full_name"],
        "birth_date": _day(request, form["birth_date"], "birth_date"),
        "birth_year": int(year) if year else None,
        "gender": form["gender"] or None,
        "id_kind": form["id_kind"] or None,
        "id_number": form["id_number"] or None,
        "insurance_no": form["insurance_no"] or None,
        "address": form["address"] or None,
        "unit_code": form["unit_code"].strip() or None,
        "phone": form.get("phone") or None,
        "email": form.get("email") or None,
        "language": form.get("language") or None,
    }


@router.get("/me/profile", response_class=HTMLResponse)
def profile_form(
    request: Request, account: CitizenDep, db: SessionDep, settings: SettingsDep
) -> Response:
    if account is None:
        return _to_signin(request)
    person = PersonService(db, settings).for_account(account)
    return _page(request, "me_profile.html", _form_context(db, _person_form(person), None))


# The registry fields every person form posts.
FullName = Annotated[str, Form(max_length=1000)]
Short = Annotated[str, Form(max_length=40)]
Address = Annotated[str, Form(max_length=1000)]
UnitCode = Annotated[str, Form(max_length=16)]


def _registry(
    full_name: FullName = "",
    birth_date: Annotated[str, Form(max_length=20)] = "",
    birth_year: Annotated[str, Form(max_length=6)] = "",
    gender: Annotated[str, Form(max_length=10)] = "",
    id_kind: Annotated[str, Form(max_length=10)] = "",
    id_number: Short = "",
    insurance_no: Short = "",
    address: Address = "",
    unit_code: UnitCode = "",
    email: Annotated[str, Form(max_length=320)] = "",
    language: Annotated[str, Form(max_length=10)] = "",
) -> dict[str, str]:
    return {
        "full_name": full_name,
        "birth_date": birth_date,
        "birth_year": birth_year,
        "gender": gender,
        "id_kind": id_kind,
        "id_number": id_number,
        "insurance_no": insurance_no,
        "address": address,
        "unit_code": unit_code,
        "email": email,
        "language": language,
    }


RegistryForm = Annotated[dict[str, str], Depends(_registry)]


def _attempt(
    request: Request, db: SessionDep, template: str, form: dict[str, str], do: Callable[[], str]
) -> Response:
    """Run a registry form's action: redirect where it says, or re-render the form with the
    error and nothing stored."""
    try:
        return redirect(do())
    except ValueError:  # a field pydantic refused (a length, a type)
        db.rollback()
        error = t("error.invalid", _lang(request))
        return _page(request, template, _form_context(db, form, error), status_code=422)
    except DomainError as exc:
        if exc.status_code in (401, 403, 404):
            raise
        db.rollback()
        ctx = _form_context(db, form, message_of(request, exc))
        return _page(request, template, ctx, status_code=exc.status_code)


@router.post("/me/profile", response_class=HTMLResponse)
def profile_save(
    request: Request,
    account: CitizenDep,
    db: SessionDep,
    settings: SettingsDep,
    form: RegistryForm,
) -> Response:
    if account is None:
        return _to_signin(request)

    def save() -> str:
        people = PersonService(db, settings)
        person = people.for_account(account)
        people.update_profile(person, ProfileIn(**_profile_in(request, form)))
        return "/me?done=profile"

    return _attempt(request, db, "me_profile.html", form, save)


@router.get("/me/household/new", response_class=HTMLResponse)
def dependant_form(request: Request, account: CitizenDep, db: SessionDep) -> Response:
    if account is None:
        return _to_signin(request)
    form = {"relation": "child", "gender": "", "id_kind": "", "unit_code": ""}
    return _page(request, "me_dependant.html", _form_context(db, form, None))


@router.post("/me/household/new", response_class=HTMLResponse)
def dependant_add(
    request: Request,
    account: CitizenDep,
    db: SessionDep,
    settings: SettingsDep,
    form: RegistryForm,
    relation: Annotated[str, Form(max_length=16)] = "child",
    phone: Short = "",
) -> Response:
    if account is None:
        return _to_signin(request)
    form = {**form, "relation": relation, "phone": phone}

    def add() -> str:
        data = DependantIn(**_profile_in(request, form), relation=relation)
        person, _alike = PersonService(db, settings).add_dependant(account, data)
        return f"/me/people/{person.id}?done=added"

    return _attempt(request, db, "me_dependant.html", form, add)


@router.get("/me/people/{person_id}", response_class=HTMLResponse)
def member_page(
    request: Request,
    person_id: int,
    account: CitizenDep,
    db: SessionDep,
    settings: SettingsDep,
) -> Response:
    if account is None:
        return _to_signin(request)
    people = PersonService(db, settings)
    person = people.of_household(account, person_id)
    current = people.status_of(person)
    membership = people.repo.membership(account.id, person.id)
    return _page(
        request,
        "me_person.html",
        {
            "person": person,
            "relation": membership.relation if membership else None,
            "current": current,
            "reasons": _reasons(current.assessment, _lang(request)),
            "qr": qr_svg(current.qr),
            "expires": fmt_local(current.qr_expires_at),
            "declarations": _declarations(people.repo.declarations_of(person.id)),
            "KINDS": DECLARATION_KINDS,
        },
    )


def _declare_context(
    person_id: int, name: str, form: dict[str, Any], error: str | None
) -> dict[str, Any]:
    return {
        "person_id": person_id,
        "person_name": name,
        "form": form,
        "error": error,
        "TRANSPORTS": TRANSPORTS,
        "KINDS": DECLARATION_KINDS,
    }


def _kind(kind: str) -> str:
    if kind not in DECLARATION_KINDS:
        raise Invalid("error.declaration_kind")
    return kind


@router.get("/me/people/{person_id}/declare", response_class=HTMLResponse)
def declare_form(
    request: Request,
    person_id: int,
    account: CitizenDep,
    db: SessionDep,
    settings: SettingsDep,
    kind: str = Query(default="daily", max_length=12),
) -> Response:
    if account is None:
        return _to_signin(request)
    person = PersonService(db, settings).of_household(account, person_id)
    form: dict[str, Any] = {
        "kind": _kind(kind),
        "symptoms": [],
        "from_unit": person.unit_code or "",
        "travel_date": utcnow().astimezone(VN).date().isoformat(),
    }
    return _page(
        request, "me_declare.html", _declare_context(person.id, person.full_name, form, None)
    )


Flag = Annotated[str, Form(max_length=5)]


@router.post("/me/people/{person_id}/declare", response_class=HTMLResponse)
def declare_submit(
    request: Request,
    person_id: int,
    account: CitizenDep,
    db: SessionDep,
    settings: SettingsDep,
    kind: Annotated[str, Form(max_length=12)] = "daily",
    symptoms: Annotated[list[str] | None, Form(max_length=30)] = None,
    contact_confirmed: Flag = "",
    contact_suspected: Flag = "",
    outbreak_area: Flag = "",
    travelled: Flag = "",
    travel_places: Annotated[str, Form(max_length=1000)] = "",
    notes: Annotated[str, Form(max_length=2000)] = "",
    from_unit: UnitCode = "",
    from_address: Annotated[str, Form(max_length=300)] = "",
    to_unit: UnitCode = "",
    to_address: Annotated[str, Form(max_length=300)] = "",
    transport: Annotated[str, Form(max_length=12)] = "",
    travel_date: Annotated[str, Form(max_length=20)] = "",
    vehicle_no: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    if account is None:
        return _to_signin(request)
    people = PersonService(db, settings)
    person = people.of_household(account, person_id)
    name = person.full_name
    form: dict[str, Any] = {
        "kind": _kind(kind),
        "symptoms": list(symptoms or []),
        "contact_confirmed": bool(contact_confirmed),
        "contact_suspected": bool(contact_suspected),
        "outbreak_area": bool(outbreak_area),
        "travelled": bool(travelled),
        "travel_places": travel_places,
        "notes": notes,
        "from_unit": from_unit,
        "from_address": from_address,
        "to_unit": to_unit,
        "to_address": to_address,
        "transport": transport,
        "travel_date": travel_date,
        "vehicle_no": vehicle_no,
    }
    try:
        data = DeclarationIn(
            **{
                **form,
                "travel_date": _day(request, travel_date, "travel_date"),
                "from_unit": from_unit.strip() or None,
                "to_unit": to_unit.strip() or None,
                "transport": transport or None,
            }
        )
        people.declare(account, person_id, data)
    except ValueError:
        db.rollback()
        ctx = _declare_context(person_id, name, form, t("error.invalid", _lang(request)))
        return _page(request, "me_declare.html", ctx, status_code=422)
    except DomainError as exc:
        if exc.status_code in (401, 403, 404):
            raise
        db.rollback()
        ctx = _declare_context(person_id, name, form, message_of(request, exc))
        return _page(request, "me_declare.html", ctx, status_code=exc.status_code)
    return redirect(f"/me/people/{person_id}?done=declared")


# Officials --------------------------------------------------------------------------------------
def _unit_names(db: SessionDep, scope: str | None) -> dict[str, str]:
    units = UnitRepository(db)
    names = {u.code: u.name for u in units.children(scope)}
    if scope is not None:
        own = units.get(scope)
        if own is not None:
            names[scope] = own.name
    return names


@router.get("/officials/declarations", response_class=HTMLResponse)
def official_declarations(
    request: Request,
    principal: PrincipalDep,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
    unit: str = Query(default="", max_length=16),
    start: str = Query(default="", max_length=20),
    end: str = Query(default="", max_length=20),
    page: int = Query(default=1, ge=1, le=100_000),
) -> Response:
    service = OfficialPeopleService(db, settings)
    unit = unit.strip()
    ctx: dict[str, Any] = {
        "filters": {"unit": unit, "start": start, "end": end},
        "error": None,
        "scope": None,
        "rows": [],
        "totals": None,
        "result": None,
        "lines": [],
        "query": "",
        "children": [],
    }
    try:
        first, last = _range(request, start, end)
        ctx["filters"].update(start=first.isoformat(), end=last.isoformat())
        scope, counts = service.summary(official, unit or None, first, last)
        result = service.declarations(
            principal,
            official,
            unit or None,
            first,
            last,
            PageParams(page, PAGE_SIZE),
            source="page",
        )
    except DomainError as exc:
        if exc.status_code in (401, 403, 404):
            raise
        ctx["error"] = message_of(request, exc)
        return _page(request, "official_declarations.html", ctx, status_code=exc.status_code)
    names = _unit_names(db, scope)
    rows = sorted(
        ((code, names.get(code, code), row) for code, row in counts.items()),
        key=lambda r: (r[0] != scope, r[1]),
    )
    totals = {k: sum(r[2].get(k, 0) for r in rows) for k in ("green", "yellow", "red", "total")}
    query = {"start": first.isoformat(), "end": last.isoformat()}
    if unit:
        query = {"unit": unit, **query}
    ctx.update(
        scope=UnitRepository(db).get(scope) if scope else None,
        scope_code=scope,
        rows=rows,
        totals=totals,
        result=result,
        lines=[line(d, p) for d, p in result.items],
        query=urlencode(query),
        children=UnitRepository(db).children(scope),
    )
    return _page(request, "official_declarations.html", ctx)


@router.get("/officials/people", response_class=HTMLResponse)
def official_people(
    request: Request,
    principal: PrincipalDep,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
    q: str = Query(default="", max_length=100),
    unit: str = Query(default="", max_length=16),
) -> Response:
    ctx: dict[str, Any] = {"q": q, "unit": unit, "found": None, "error": None}
    if q.strip():
        try:
            found = OfficialPeopleService(db, settings).search(
                principal, official, q, unit.strip() or None
            )
        except DomainError as exc:
            if exc.status_code in (401, 403, 404):
                raise
            ctx["error"] = message_of(request, exc)
            return _page(request, "official_people.html", ctx, status_code=exc.status_code)
        ctx["found"] = found
    return _page(request, "official_people.html", ctx)


@router.get("/officials/people/{person_id}", response_class=HTMLResponse)
def official_person(
    request: Request,
    person_id: int,
    principal: PrincipalDep,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
) -> Response:
    person = OfficialPeopleService(db, settings).person(principal, official, person_id)
    people = PersonService(db, settings)
    current = people.status_of(person)
    return _page(
        request,
        "official_person.html",
        {
            "person": person,
            "asked_id": person_id,
            "current": current,
            "reasons": _reasons(current.assessment, _lang(request)),
            "unit_path": _place(db, person.unit_code),
            "declarations": _declarations(people.repo.declarations_of(person.id)),
        },
    )


def _duplicates_page(
    request: Request,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    who = Principal(kind="official", official=official)
    pairs = OfficialPeopleService(db, settings).candidates(who, official, "page")
    survivor = request.query_params.get("id", "")
    return _page(
        request,
        "official_duplicates.html",
        {
            "pairs": [
                (candidate, person_out(first, None), person_out(second, None))
                for candidate, first, second in pairs
            ],
            "error": error,
            "survivor": survivor if survivor.isdigit() and error is None else "",
        },
        status_code=status_code,
    )


@router.get("/officials/duplicates", response_class=HTMLResponse)
def official_duplicates(
    request: Request, official: OfficialDep, db: SessionDep, settings: SettingsDep
) -> Response:
    return _duplicates_page(request, official, db, settings)


def _on_duplicates(
    request: Request,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
    do: Callable[[OfficialPeopleService], str],
) -> Response:
    """Run a merge or a dismissal: back to the list with a short message, or the list with the
    error (nothing changed). Not signed in / not allowed / not found stay errors of their own."""
    try:
        target = do(OfficialPeopleService(db, settings))
    except DomainError as exc:
        if exc.status_code in (401, 403, 404):
            raise
        db.rollback()
        return _duplicates_page(
            request, official, db, settings, message_of(request, exc), exc.status_code
        )
    return redirect(target)


@router.post("/officials/people/merge", response_class=HTMLResponse)
def official_merge(
    request: Request,
    principal: PrincipalDep,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
    survivor_id: Annotated[int, Form()],
    duplicate_id: Annotated[int, Form()],
) -> Response:
    def merge(service: OfficialPeopleService) -> str:
        service.merge(principal, official, survivor_id, duplicate_id)
        return f"/officials/duplicates?done=merged&id={survivor_id}"

    return _on_duplicates(request, official, db, settings, merge)


@router.post("/officials/duplicates/{candidate_id}/dismiss", response_class=HTMLResponse)
def official_dismiss(
    request: Request,
    candidate_id: int,
    principal: PrincipalDep,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
) -> Response:
    def dismiss(service: OfficialPeopleService) -> str:
        service.dismiss(principal, official, candidate_id)
        return "/officials/duplicates?done=dismissed"

    return _on_duplicates(request, official, db, settings, dismiss)
