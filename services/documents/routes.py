"""HTTP handlers of the documents service: parse, call one use case, answer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from aiohttp import web

from common.clock import Clock
from common.db import POOL
from common.http import REQUEST_ID, SETTINGS
from common.internal_auth import CLAIMS, InternalClaims
from services.documents import agency, consent_register, proof_report, proofs, reading, service
from services.documents.downloads import serve_archive, serve_file
from services.documents.errors import (
    DocumentNotFound,
    FieldError,
    Forbidden,
    InvalidDocument,
    MalformedRequest,
    PayloadTooLarge,
    PersonRequired,
)
from services.documents.openapi import openapi_document
from services.documents.schemas import (
    AgencyListQuery,
    ArchiveIn,
    ComplianceQuery,
    ConsentIn,
    ListQuery,
    ProofQuery,
    RegisterQuery,
    parse,
)
from services.documents.storage import BlobStore
from services.documents.tokens import FileGrant, TokenInvalid, issue_file_token, verify_file_token

__all__ = ["CLOCK", "SIGNING_KEY", "STORE", "setup_routes"]

STORE = web.AppKey("blob_store", BlobStore)
CLOCK = web.AppKey("clock", Clock)
SIGNING_KEY = web.AppKey("url_signing_key", bytes)
# Multipart framing around the file: a request this much larger than the limit cannot fit.
_MULTIPART_SLACK = 1024 * 1024
# "Today" for the 2019-502 check is the day in France, where the agencies and their AGs are.
_PARIS = ZoneInfo("Europe/Paris")


def _agency_tenant(request: web.Request) -> uuid.UUID:
    claims: InternalClaims = request[CLAIMS]
    if claims.actor != "agency" or not claims.tenant_id:
        raise Forbidden("Agency endpoints need an agency caller with its tenant")
    try:
        return uuid.UUID(str(claims.tenant_id))
    except ValueError:
        raise Forbidden("Agency endpoints need an agency caller with its tenant") from None


def _staff_id(request: web.Request) -> uuid.UUID | None:
    """The console user an agency call is made for (``sid``), kept with what they publish or withdraw."""
    try:
        return uuid.UUID(str(request[CLAIMS].get("sid"))) if request[CLAIMS].get("sid") else None
    except ValueError:
        return None


def _person(request: web.Request) -> tuple[str, list[dict]]:
    claims: InternalClaims = request[CLAIMS]
    if not claims.person_id:
        raise PersonRequired()
    accounts = claims.accounts if isinstance(claims.accounts, list) else []
    return str(claims.person_id), [a for a in accounts if isinstance(a, dict)]


async def upload(request: web.Request) -> web.Response:
    tenant_id = _agency_tenant(request)
    settings = request.app[SETTINGS]
    if request.content_length is not None and request.content_length > settings.max_upload_bytes + _MULTIPART_SLACK:
        raise PayloadTooLarge(limit_bytes=settings.max_upload_bytes)
    if not request.content_type.startswith("multipart/"):
        raise MalformedRequest("multipart/form-data with a metadata part and a file part is required")
    answer, created = await service.upload_document(
        request.app[POOL], request.app[STORE], request.app[CLOCK], tenant_id=tenant_id,
        reader=await request.multipart(),
        limits=service.UploadLimits(settings.max_upload_bytes, settings.effective_spool_dir),
        request_id=request.get(REQUEST_ID), staff_id=_staff_id(request))
    return web.json_response(answer, status=201 if created else 200)


async def withdraw(request: web.Request) -> web.Response:
    tenant_id = _agency_tenant(request)
    try:
        document_id = uuid.UUID(request.match_info["document_id"])
    except ValueError:
        raise DocumentNotFound() from None
    await service.withdraw_document(request.app[POOL], request.app[CLOCK], tenant_id=tenant_id,
                                    document_id=document_id, staff_id=_staff_id(request))
    return web.Response(status=204)


async def agency_documents(request: web.Request) -> web.Response:
    tenant_id = _agency_tenant(request)
    query = parse(AgencyListQuery, dict(request.query))
    return web.json_response(await agency.list_agency_documents(request.app[POOL], tenant_id=tenant_id, query=query))


async def agency_compliance(request: web.Request) -> web.Response:
    tenant_id = _agency_tenant(request)
    query = parse(ComplianceQuery, dict(request.query))
    today = request.app[CLOCK].now().astimezone(_PARIS).date()
    return web.json_response(await agency.compliance(request.app[POOL], tenant_id=tenant_id, query=query,
                                                     today=today))


async def list_documents(request: web.Request) -> web.Response:
    person_id, accounts = _person(request)
    query = parse(ListQuery, dict(request.query))
    return web.json_response(await reading.list_documents(request.app[POOL], claimed=accounts, query=query,
                                                          person_id=person_id))


_PROOF_TYPES = {"json": "application/json", "csv": "text/csv", "pdf": "application/pdf"}


def _proof_format(request: web.Request, query: ProofQuery) -> str:
    """``?format=`` wins; else the first of PDF or CSV the Accept header names; else JSON."""
    if query.format is not None:
        return query.format
    accept = request.headers.get("Accept", "")
    for name in ("pdf", "csv"):
        if _PROOF_TYPES[name] in accept:
            return name
    return "json"


def _proof_answer(proof: dict, fmt: str, filename: str, render_csv, render_pdf) -> web.Response:
    if fmt == "json":
        return web.json_response(proof, headers={"Cache-Control": "no-store"})
    body = render_csv(proof) if fmt == "csv" else render_pdf(proof)
    return web.Response(body=body, content_type=_PROOF_TYPES[fmt], charset="utf-8" if fmt == "csv" else None,
                        headers={"Cache-Control": "no-store",
                                 "Content-Disposition": f'attachment; filename="{filename}.{fmt}"'})


async def document_proof(request: web.Request) -> web.Response:
    tenant_id = _agency_tenant(request)
    query = parse(ProofQuery, dict(request.query))
    proof = await proofs.document_proof(request.app[POOL], request.app[STORE], tenant_id=tenant_id,
                                        document_id=request.match_info["document_id"],
                                        now=request.app[CLOCK].now())
    return _proof_answer(proof, _proof_format(request, query), f"preuve-{proof['document']['id']}",
                         proof_report.document_proof_csv, proof_report.document_proof_pdf)


async def account_proof(request: web.Request) -> web.Response:
    tenant_id = _agency_tenant(request)
    query = parse(ProofQuery, dict(request.query))
    if query.account_ref is None:
        raise InvalidDocument(errors=[FieldError("account_ref", "Field required")])
    proof = await proofs.account_proof(request.app[POOL], tenant_id=tenant_id, account_ref=query.account_ref,
                                       now=request.app[CLOCK].now())
    return _proof_answer(proof, _proof_format(request, query), "preuve-compte",
                         proof_report.account_proof_csv, proof_report.account_proof_pdf)


def _link(request: web.Request, grant: FileGrant) -> web.Response:
    settings = request.app[SETTINGS]
    token = issue_file_token(request.app[SIGNING_KEY], grant, ttl_seconds=settings.url_ttl_seconds,
                             now=request.app[CLOCK].now().timestamp())
    return web.json_response({"url": f"/files/{token}", "expires_in": settings.url_ttl_seconds})


async def document_link(request: web.Request) -> web.Response:
    person_id, accounts = _person(request)
    row = await reading.visible_document(request.app[POOL], claimed=accounts,
                                         document_id=request.match_info["document_id"])
    return _link(request, FileGrant(person_id=person_id, accounts=accounts, document_id=str(row["id"])))


async def _json_body(request: web.Request) -> dict:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise MalformedRequest("The body is not valid JSON") from None
    if not isinstance(body, dict):
        raise MalformedRequest("The body must be a JSON object")
    return body


async def archive_link(request: web.Request) -> web.Response:
    person_id, accounts = _person(request)
    selection = parse(ArchiveIn, await _json_body(request))
    reading.check_archive(selection)
    async for _ in reading.iter_archive_documents(request.app[POOL], claimed=accounts, selection=selection):
        break  # at least one visible document
    else:
        raise DocumentNotFound("No document matches this selection")
    return _link(request, FileGrant(person_id=person_id, accounts=accounts,
                                    archive=selection.model_dump(mode="json", exclude_none=True)))


async def download(request: web.Request) -> web.StreamResponse:
    """Public: the signed token is the authority (expired, altered or not visible: 404)."""
    try:
        grant = verify_file_token(request.app[SIGNING_KEY], request.match_info["token"],
                                  now=request.app[CLOCK].now().timestamp())
    except TokenInvalid:
        raise DocumentNotFound() from None
    pool, store, clock = request.app[POOL], request.app[STORE], request.app[CLOCK]
    if grant.document_id is not None:
        row, account_id = await reading.document_grant(pool, claimed=grant.accounts, document_id=grant.document_id)
        if row is None:
            raise DocumentNotFound()
        log_it = request.method == "GET"  # a HEAD transfers nothing: not an access
        if account_id is None:
            # Refused (withdrawn, closed, never in the audience): kept as evidence all the same.
            if log_it:
                await proofs.record_access(pool, row=row, person_id=grant.person_id, account_id=None,
                                           kind="download", success=False, at=clock.now())
            raise DocumentNotFound()
        served = False
        try:
            response = await serve_file(request, row, store)
            served = True
            return response
        finally:
            # After the last byte (or the failure): success means the whole answer was written.
            if log_it:
                await proofs.record_access(pool, row=row, person_id=grant.person_id, account_id=account_id,
                                           kind="download", success=served, at=clock.now())
    try:
        selection = ArchiveIn.model_validate(grant.archive)
    except ValueError:
        raise DocumentNotFound() from None
    return await serve_archive(request, pool, store, grant, selection, now=clock.now)


async def my_consents(request: web.Request) -> web.Response:
    _, accounts = _person(request)
    return web.json_response(await consent_register.person_consents(request.app[POOL], claimed=accounts,
                                                                    now=request.app[CLOCK].now()))


async def change_consent(request: web.Request) -> web.Response:
    person_id, accounts = _person(request)
    change = parse(ConsentIn, await _json_body(request))
    claims: InternalClaims = request[CLAIMS]
    return web.json_response(await consent_register.change_consent(
        request.app[POOL], claimed=accounts, person_id=person_id, change=change, now=request.app[CLOCK].now(),
        ip=claims.client_ip, request_id=request.get(REQUEST_ID)))


def _moment(value, now: datetime) -> datetime:
    """A date is its end of day in Paris; a time without offset is Paris time; nothing is now."""
    if value is None:
        return now
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=_PARIS)
    else:
        moment = datetime.combine(value, time.max, tzinfo=_PARIS)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # year 1 east of UTC, year 9999 west of it: outside what the database stores
        raise InvalidDocument(errors=[FieldError("at", "date out of range")]) from None


async def consent_register_of_residence(request: web.Request) -> web.Response:
    tenant_id = _agency_tenant(request)
    query = parse(RegisterQuery, dict(request.query))
    fmt = query.format or ("csv" if "text/csv" in request.headers.get("Accept", "") else "json")
    register = await consent_register.register(request.app[POOL], tenant_id=tenant_id,
                                               residence_ref=query.residence_ref,
                                               moment=_moment(query.at, request.app[CLOCK].now()))
    if fmt == "json":
        return web.json_response(register, headers={"Cache-Control": "no-store"})
    return web.Response(body=proof_report.register_csv(register, query.view), content_type="text/csv",
                        charset="utf-8", headers={
                            "Cache-Control": "no-store",
                            "Content-Disposition": f'attachment; filename="registre-consentements-{query.view}.csv"'})


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document(request.app[SETTINGS]))


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/documents", upload)
    app.router.add_get("/api/v1/documents", agency_documents)
    app.router.add_get("/api/v1/documents/compliance", agency_compliance)
    app.router.add_get("/api/v1/documents/proof", account_proof)
    app.router.add_delete("/api/v1/documents/{document_id}", withdraw)
    app.router.add_get("/api/v1/documents/{document_id}/proof", document_proof)
    app.router.add_get("/v1/documents", list_documents)
    app.router.add_post("/v1/documents/{document_id}/link", document_link)
    app.router.add_post("/v1/archives/link", archive_link)
    app.router.add_get("/files/{token}", download)
    app.router.add_get("/v1/consents", my_consents)
    app.router.add_post("/v1/consents", change_consent)
    app.router.add_get("/api/v1/consents", consent_register_of_residence)
    app.router.add_get("/internal/openapi.json", openapi)
