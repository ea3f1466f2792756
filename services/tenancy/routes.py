"""HTTP handlers of the tenancy service: parse, authorize from the internal token, call one use case."""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from common.db import POOL
from common.errors import BadRequest, ValidationFailed
from common.http import REQUEST_ID, SETTINGS
from common.internal_auth import CLAIMS
from services.tenancy import credentials, directory, directory_import, letters, listing, service, stats
from services.tenancy.csvformat import write_csv
from services.tenancy.directory_sources import CsvAccounts, json_document_parts
from services.tenancy.errors import BodyTooLarge, Forbidden, UnsupportedMediaType
from services.tenancy.keys import CLOCK, IDENTITY
from services.tenancy.schemas import (
    AgencyPatch,
    CredentialsRequest,
    TenantCreate,
    TenantPatch,
    UnlinkIn,
    field_errors,
)

__all__ = ["routes"]

routes = web.RouteTableDef()
_M = TypeVar("_M", bound=BaseModel)
SMALL_BODY = 64 * 1024


# --- authorization from the gateway's claims -------------------------------------------------

def _require_operator(request: web.Request) -> None:
    if request[CLAIMS].actor != "operator":
        raise Forbidden("Operator only")


def _agency_tenant(request: web.Request):
    claims = request[CLAIMS]
    if claims.actor != "agency" or not claims.tenant_id:
        raise Forbidden("Agency API key required")
    return service.parse_tenant_id(claims.tenant_id)


# --- bodies ----------------------------------------------------------------------------------

async def _read_body(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge(f"The request body is larger than {limit} bytes", limit=limit)
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(256 * 1024):
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"The request body is larger than {limit} bytes", limit=limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _require_type(request: web.Request, *types: str) -> None:
    if request.content_type not in types:
        raise UnsupportedMediaType(f"Send the body as {' or '.join(types)}")


async def _parse(request: web.Request, model: type[_M], *, limit: int = SMALL_BODY,
                 error: type[ValidationFailed] = ValidationFailed) -> _M:
    _require_type(request, "application/json")
    return _validate(await _read_body(request, limit), model, error=error)


def _validate(body: bytes, model: type[_M], *, error: type[ValidationFailed] = ValidationFailed) -> _M:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise BadRequest("The body is not valid JSON") from None
        raise error(errors=field_errors(exc), error_count=exc.error_count()) from None


def _rid(request: web.Request) -> str:
    return request[REQUEST_ID]


# --- internal endpoints (gateway, notifier) ---------------------------------------------------

@routes.get("/internal/tenants/resolve")
async def resolve_tenant(request: web.Request) -> web.Response:
    client, societe = request.query.get("client", ""), request.query.get("societe", "")
    row = await service.resolve_tenant(request.app[POOL], client, societe)
    return web.json_response(service.tenant_json(row, request.app[SETTINGS].public_base_url))


@routes.get("/internal/tenants/{tenant_id}")
async def get_tenant_internal(request: web.Request) -> web.Response:
    row = await service.get_tenant(request.app[POOL], service.parse_tenant_id(request.match_info["tenant_id"]))
    return web.json_response(service.tenant_json(row, request.app[SETTINGS].public_base_url))


class _VerifyIn(BaseModel):
    api_key: str


@routes.post("/internal/api-keys/verify")
async def verify_api_key(request: web.Request) -> web.Response:
    body = await _parse(request, _VerifyIn)
    return web.json_response(await service.verify_api_key(request.app[POOL], body.api_key))


class _LookupIn(BaseModel):
    account_ids: list[str]


def _lookup_scope(request: web.Request) -> directory.LookupScope:
    """Which accounts the caller may read: a person's page reads the accounts linked to the person
    (``acc``, across agencies); a service acting for a tenant (``tid``) reads that tenant's."""
    claims = request[CLAIMS]
    if claims.person_id:
        return directory.LookupScope(account_ids=frozenset(
            str(a.get("account_id")) for a in claims.accounts if isinstance(a, dict)))
    if claims.tenant_id:
        return directory.LookupScope(tenant_id=service.parse_tenant_id(claims.tenant_id))
    raise Forbidden("A person (pid, acc) or a tenant (tid) is required")


@routes.post("/internal/accounts/lookup")
async def lookup_accounts(request: web.Request) -> web.Response:
    scope = _lookup_scope(request)
    body = await _parse(request, _LookupIn, limit=4 * 1024 * 1024)
    accounts = await directory.lookup_accounts(request.app[POOL], body.account_ids, scope=scope)
    return web.json_response({"accounts": accounts})


# --- public API: tenants (operator) --------------------------------------------------------------

@routes.post("/api/v1/tenants")
async def create_tenant(request: web.Request) -> web.Response:
    _require_operator(request)
    data = await _parse(request, TenantCreate)
    created = await service.onboard_tenant(request.app[POOL], data=data, clock=request.app[CLOCK],
                                           public_base_url=request.app[SETTINGS].public_base_url,
                                           correlation_id=_rid(request))
    return web.json_response(created, status=201)


@routes.get("/api/v1/tenants/{tenant_id}")
async def get_tenant(request: web.Request) -> web.Response:
    _require_operator(request)
    row = await service.get_tenant(request.app[POOL], service.parse_tenant_id(request.match_info["tenant_id"]))
    return web.json_response(service.tenant_json(row, request.app[SETTINGS].public_base_url))


@routes.patch("/api/v1/tenants/{tenant_id}")
async def patch_tenant(request: web.Request) -> web.Response:
    _require_operator(request)
    tenant_id = service.parse_tenant_id(request.match_info["tenant_id"])
    patch = await _parse(request, TenantPatch)
    row = await service.update_tenant(request.app[POOL], tenant_id, patch)
    return web.json_response(service.tenant_json(row, request.app[SETTINGS].public_base_url))


@routes.post("/api/v1/tenants/{tenant_id}/api-keys")
async def rotate_api_key(request: web.Request) -> web.Response:
    _require_operator(request)
    tenant_id = service.parse_tenant_id(request.match_info["tenant_id"])
    key = await service.rotate_api_key(request.app[POOL], tenant_id)
    return web.json_response({"tenant_id": str(tenant_id), "api_key": key}, status=201)


# --- public API: the agency's own settings (extension; the console's "Réglages") ------------------

def _agency_admin(request: web.Request):
    """The agency's tenant; in the console, only an administrator (``srole``) changes settings or keys."""
    tenant_id = _agency_tenant(request)
    claims = request[CLAIMS]
    if claims.get("sid") and claims.get("srole") != "admin":
        raise Forbidden("Only an administrator of the agency may do this")
    return tenant_id


@routes.get("/api/v1/agency")
async def get_agency(request: web.Request) -> web.Response:
    row = await service.get_tenant(request.app[POOL], _agency_tenant(request))
    return web.json_response(service.tenant_json(row, request.app[SETTINGS].public_base_url))


@routes.patch("/api/v1/agency")
async def patch_agency(request: web.Request) -> web.Response:
    tenant_id = _agency_admin(request)
    await service.require_active_tenant(request.app[POOL], tenant_id)
    patch = await _parse(request, AgencyPatch)
    row = await service.update_agency(request.app[POOL], tenant_id, patch, staff_id=request[CLAIMS].get("sid"))
    return web.json_response(service.tenant_json(row, request.app[SETTINGS].public_base_url))


@routes.post("/api/v1/agency/api-keys")
async def rotate_own_api_key(request: web.Request) -> web.Response:
    tenant_id = _agency_admin(request)
    await service.require_active_tenant(request.app[POOL], tenant_id)
    key = await service.rotate_api_key(request.app[POOL], tenant_id, actor="agency",
                                       staff_id=request[CLAIMS].get("sid"))
    return web.json_response({"tenant_id": str(tenant_id), "api_key": key}, status=201,
                             headers={"Cache-Control": "no-store"})


@routes.get("/api/v1/agency/audit")
async def agency_audit(request: web.Request) -> web.Response:
    tenant_id = _agency_tenant(request)
    return web.json_response({"items": await service.audit_log(request.app[POOL], tenant_id)})


# --- public API: directory (agency) -------------------------------------------------------------

@routes.put("/api/v1/directory")
async def put_directory(request: web.Request) -> web.Response:
    tenant_id = _agency_tenant(request)
    await service.require_active_tenant(request.app[POOL], tenant_id)
    _require_type(request, "application/json")
    body = await _read_body(request, request.app[SETTINGS].max_import_bytes)
    with directory_import.paused_gc():  # 50,000 accounts' objects: see paused_gc
        residences, lots, accounts = json_document_parts(body)
        del body
    return await _import(request, tenant_id, directory_import.DirectoryDocument(residences, lots, accounts), "json")


@routes.put("/api/v1/directory/accounts")
async def put_directory_csv(request: web.Request) -> web.Response:
    tenant_id = _agency_tenant(request)
    await service.require_active_tenant(request.app[POOL], tenant_id)
    _require_type(request, "text/csv")
    body = await _read_body(request, request.app[SETTINGS].max_import_bytes)
    return await _import(request, tenant_id, directory_import.DirectoryDocument(accounts=CsvAccounts(body)), "csv")


async def _import(request: web.Request, tenant_id, document: directory_import.DirectoryDocument,
                  form: str) -> web.Response:
    """Import a document whose accounts are read as the import goes (malformed rows give the 422)."""
    settings = request.app[SETTINGS]
    result = await directory_import.import_directory(request.app[POOL], tenant_id=tenant_id, clock=request.app[CLOCK],
                                              document=document, correlation_id=_rid(request),
                                              event_batch=settings.directory_event_batch,
                                              chunk_size=settings.directory_import_chunk)
    await _audit(request, tenant_id, "directory_imported", format=form, counts=result)
    return web.json_response(result)


@routes.get("/api/v1/directory/accounts")
async def list_accounts(request: web.Request) -> web.Response:
    tenant_id = _agency_tenant(request)
    filters = listing.parse_query(request.query)
    return web.json_response(await listing.list_accounts(request.app[POOL], request.app[IDENTITY], tenant_id=tenant_id,
                                                         filters=filters, request_id=_rid(request)),
                             headers={"Cache-Control": "no-store"})


@routes.delete("/api/v1/directory/accounts/{ref}")
async def close_account(request: web.Request) -> web.Response:
    tenant_id = _agency_tenant(request)
    await directory.close_account(request.app[POOL], request.app[IDENTITY], tenant_id=tenant_id,
                                  ref=request.match_info["ref"], clock=request.app[CLOCK], correlation_id=_rid(request))
    await _audit(request, tenant_id, "account_closed", ref=request.match_info["ref"])
    return web.Response(status=204)


async def _audit(request: web.Request, tenant_id, kind: str, **detail) -> None:
    """The tenant's audit line for an agency's directory change (after it committed: what was done)."""
    claims = request[CLAIMS]
    async with request.app[POOL].acquire() as conn:
        await service.audit(conn, tenant_id=tenant_id, actor=claims.actor or "agency", staff_id=claims.get("sid"),
                            kind=kind, **detail)


@routes.post("/api/v1/directory/accounts/{ref}/unlink")
async def unlink_account(request: web.Request) -> web.Response:
    """Extension: take an account away from its person (a sold lot, a wrong merge); the person is told."""
    tenant_id = _agency_tenant(request)
    await service.require_active_tenant(request.app[POOL], tenant_id)
    body = await _parse(request, UnlinkIn)
    return web.json_response(await directory.unlink_account(
        request.app[POOL], request.app[IDENTITY], tenant_id=tenant_id, ref=request.match_info["ref"],
        reason=body.reason, note=body.note.strip(), request_id=_rid(request), staff_id=request[CLAIMS].get("sid")))


# --- public API: credentials and statistics (agency) ----------------------------------------------

def _wants(request: web.Request, media_type: str) -> bool:
    accept = request.headers.get("Accept", "")
    return media_type in accept and "application/json" not in accept


@routes.post("/api/v1/provisional-credentials")
async def issue_credentials(request: web.Request) -> web.Response:
    tenant_id = _agency_tenant(request)
    await service.require_active_tenant(request.app[POOL], tenant_id)
    body = await _parse(request, CredentialsRequest, limit=request.app[SETTINGS].max_import_bytes)
    issued: dict[str, Any] = await credentials.issue_credentials(
        request.app[POOL], request.app[IDENTITY], tenant_id=tenant_id, request=body, request_id=_rid(request),
        staff_id=request[CLAIMS].get("sid"))
    headers = {"Cache-Control": "no-store"}  # shown once: no cache may keep the passwords
    refused = issued["refused"]
    if refused:
        headers["X-Refused-Count"] = str(len(refused))
        headers["X-Refused-Accounts"] = ",".join(r["account_ref"] for r in refused[:200])
    if _wants(request, "application/pdf") and issued["credentials"]:
        tenant = service.tenant_json(await service.get_tenant(request.app[POOL], tenant_id),
                                     request.app[SETTINGS].public_base_url)
        # CPU-bound (about 2 ms a page): off the event loop, so a big batch never stalls other requests.
        pdf = await asyncio.to_thread(letters.render_letters, tenant, issued["credentials"],
                                      login_url=tenant["login_url"])
        headers["Content-Disposition"] = f'attachment; filename="identifiants-provisoires-{tenant["client_code"]}.pdf"'
        return web.Response(body=pdf, status=201, content_type="application/pdf", headers=headers)
    if _wants(request, "text/csv"):
        return web.Response(text=write_csv(credentials.CSV_COLUMNS, issued["credentials"]), status=201,
                            content_type="text/csv", charset="utf-8", headers=headers)
    return web.json_response(issued, status=201, headers=headers)


@routes.get("/api/v1/activation-stats")
async def activation_stats(request: web.Request) -> web.Response:
    tenant_id = _agency_tenant(request)
    query = stats.parse_query(request.query)
    answer = await stats.activation_stats(request.app[POOL], request.app[IDENTITY], tenant_id=tenant_id, query=query,
                                          clock=request.app[CLOCK], request_id=_rid(request))
    return web.json_response(answer)
