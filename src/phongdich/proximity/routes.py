"""Bluezone key server API (the Google exposure-notifications reference design).

Phones call ``/proximity/verify``, ``/certificate``, ``/publish`` and read the exports without
an account, so those routes carry no session and no CSRF check; sharing an exposure is done
signed in (session cookie + CSRF), and officials issue verification codes from a case.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Body, Depends, Request, Response

from phongdich.accounts.routes import client_ip
from phongdich.kit.errors import NotFound
from phongdich.proximity import exportfile
from phongdich.proximity.keyserver import public_pem
from phongdich.proximity.schemas import (
    CertificateIn,
    CertificateOut,
    CodeIn,
    CodeOut,
    ExportKeyOut,
    ExportKeysOut,
    PublishIn,
    PublishOut,
    SharedExposuresIn,
    SharedExposuresOut,
    VerifyIn,
    VerifyOut,
)
from phongdich.proximity.service import ProximityService, export_signing_key
from phongdich.web.deps import (
    AccountDep,
    OfficialDep,
    PrincipalDep,
    SessionDep,
    SettingsDep,
    csrf_protect,
)

# Phones: anonymous, no cookies (so nothing for CSRF to protect).
device_router = APIRouter(prefix="/proximity", tags=["proximity"])
# Signed-in people: citizens sharing an exposure, officials issuing codes.
router = APIRouter(tags=["proximity"], dependencies=[Depends(csrf_protect)])

_EXPORT_NAME = re.compile(r"^\d{1,12}-\d{1,12}-\d{5}\.zip$")


@router.post(
    "/tracing/cases/{case_id}/verification-codes",
    response_model=CodeOut,
    status_code=201,
    summary="A one-time Bluezone verification code for a confirmed case (valid 1 h, audited)",
)
def issue_code(
    case_id: int,
    principal: PrincipalDep,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
    body: CodeIn | None = Body(default=None),
) -> CodeOut:
    issued = ProximityService(db, settings).issue_code(
        principal, official, case_id, (body or CodeIn()).report_type
    )
    return CodeOut(code=issued.code, expires_at=issued.expires_at, report_type=issued.report_type)


@device_router.post(
    "/verify", response_model=VerifyOut, summary="Exchange a verification code for a token"
)
def verify(request: Request, body: VerifyIn, db: SessionDep, settings: SettingsDep) -> VerifyOut:
    issued = ProximityService(db, settings).verify(body.code, client_ip(request))
    return VerifyOut(
        token=issued.token,
        expires_at=issued.expires_at,
        test_type=issued.test_type,
        symptom_date=issued.symptom_date,
    )


@device_router.post(
    "/certificate",
    response_model=CertificateOut,
    summary="Exchange a token and the HMAC of the keys for a certificate (ES256 JWT)",
)
def certificate(body: CertificateIn, db: SessionDep, settings: SettingsDep) -> CertificateOut:
    jwt = ProximityService(db, settings).certificate(body.token, body.ekeyhmac)
    return CertificateOut(certificate=jwt)


@device_router.post(
    "/publish",
    response_model=PublishOut,
    summary="Publish the diagnosis keys of a certified case (chaff requests are ignored)",
)
def publish(request: Request, body: PublishIn, db: SessionDep, settings: SettingsDep) -> PublishOut:
    if body.chaff or request.headers.get("x-chaff", "").strip() not in ("", "0"):
        return PublishOut(insertedExposures=0)
    return PublishOut(insertedExposures=ProximityService(db, settings).publish(body))


@device_router.get(
    "/exports/index.txt",
    response_class=Response,
    summary="The export files kept, oldest first, one name per line",
)
def export_index(db: SessionDep, settings: SettingsDep) -> Response:
    return Response(
        ProximityService(db, settings).index(),
        media_type="text/plain; charset=utf-8",
        headers={"Cache-Control": "public, max-age=60"},
    )


@device_router.get(
    "/exports/{name}", response_class=Response, summary="One signed export file (zip)"
)
def export_file(name: str, db: SessionDep, settings: SettingsDep) -> Response:
    if not _EXPORT_NAME.match(name):
        raise NotFound()
    return Response(
        ProximityService(db, settings).export(name),
        media_type="application/zip",
        headers={"Cache-Control": "public, max-age=86400, immutable"},
    )


@device_router.get(
    "/export-keys",
    response_model=ExportKeysOut,
    summary="Public keys that verify the export files (ECDSA P-256)",
)
def export_keys(settings: SettingsDep) -> ExportKeysOut:
    signing = export_signing_key(settings)
    return ExportKeysOut(
        region=settings.proximity_region,
        signature_algorithm=exportfile.SIGNATURE_ALGORITHM,
        keys=[
            ExportKeyOut(
                key_id=signing.key_id,
                key_version=signing.key_version,
                public_key_pem=public_pem(signing.key),
            )
        ],
    )


@router.post(
    "/proximity/shared-exposures",
    response_model=SharedExposuresOut,
    status_code=201,
    summary="Share my own matched Bluetooth exposures with the tracers (explicit consent)",
)
def share_exposures(
    body: SharedExposuresIn,
    principal: PrincipalDep,
    account: AccountDep,
    db: SessionDep,
    settings: SettingsDep,
) -> SharedExposuresOut:
    recorded, before = ProximityService(db, settings).share_exposures(
        principal, account, body.exposures, body.consent
    )
    return SharedExposuresOut(shared=recorded, already_shared=before)
