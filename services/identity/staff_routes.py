"""HTTP handlers of the agency's staff: the public ``/api/v1/staff`` and the console's ``/v1/staff/*``."""

from __future__ import annotations

import uuid

from aiohttp import web

from common.internal_auth import CLAIMS
from services.identity import schemas as s
from services.identity import staff
from services.identity.core import Caller, Deps
from services.identity.errors import Forbidden, StaffNotFound
from services.identity.routes import DEPS

__all__ = ["routes"]

routes = web.RouteTableDef()


def _deps(request: web.Request) -> Deps:
    return request.app[DEPS]


def _caller(request: web.Request) -> Caller:
    return Caller.from_claims(request[CLAIMS])


def _agency_tenant(request: web.Request) -> uuid.UUID:
    caller = _caller(request)
    if caller.actor == "operator" and request.query.get("tenant_id"):
        try:
            return uuid.UUID(request.query["tenant_id"])
        except ValueError:
            raise Forbidden("tenant_id must be a tenant's id") from None
    if caller.actor != "agency" or not caller.tenant_id:
        raise Forbidden("Agency API key (or the operator with ?tenant_id=) required")
    return uuid.UUID(caller.tenant_id)


# ---- public API (AGENCY-API.md extension): staff of the agency --------------------------------

@routes.get("/api/v1/staff")
async def list_staff(request: web.Request) -> web.Response:
    return web.json_response(await staff.list_staff(_deps(request), tenant_id=_agency_tenant(request)))


@routes.post("/api/v1/staff")
async def invite(request: web.Request) -> web.Response:
    body = await s.parse(request, s.StaffInvite)
    caller = _caller(request)
    tenant_id = staff.inviting_tenant(caller, body.tenant_id)
    return web.json_response(await staff.invite(_deps(request), caller, tenant_id=tenant_id, email=body.email,
                                                display_name=body.display_name.strip(), role=body.role),
                             status=201)


def _managed_member(request: web.Request) -> tuple[Caller, uuid.UUID, uuid.UUID]:
    """(caller, its tenant, the member of the path) for a change to the agency's staff: the agency's key,
    or an administrator in the console."""
    caller = _caller(request)
    if caller.actor != "agency" or not caller.tenant_id:
        raise Forbidden("Agency API key required")
    if caller.staff_id and caller.staff_role != "admin":
        raise Forbidden("Only an administrator manages the staff")
    try:
        staff_id = uuid.UUID(request.match_info["staff_id"])
    except ValueError:
        raise StaffNotFound() from None
    return caller, uuid.UUID(caller.tenant_id), staff_id


async def _set_status(request: web.Request, *, active: bool) -> web.Response:
    caller, tenant_id, staff_id = _managed_member(request)
    return web.json_response(await staff.set_status(_deps(request), caller, tenant_id=tenant_id, staff_id=staff_id,
                                                    active=active))


@routes.post("/api/v1/staff/{staff_id}/disable")
async def disable(request: web.Request) -> web.Response:
    return await _set_status(request, active=False)


@routes.post("/api/v1/staff/{staff_id}/enable")
async def enable(request: web.Request) -> web.Response:
    return await _set_status(request, active=True)


@routes.post("/api/v1/staff/{staff_id}/revoke")
async def revoke(request: web.Request) -> web.Response:
    caller, tenant_id, staff_id = _managed_member(request)
    return web.json_response(await staff.revoke_invitation(_deps(request), caller, tenant_id=tenant_id,
                                                           staff_id=staff_id))


# ---- the console (gateway, claims tid/tcc/tsc/ip) ----------------------------------------------

@routes.post("/v1/staff/invitations/check")
async def check_invitation(request: web.Request) -> web.Response:
    body = await s.parse(request, s.Token)
    return web.json_response(await staff.check_invitation(_deps(request), _caller(request), body.token))


@routes.post("/v1/staff/invitations/accept")
async def accept_invitation(request: web.Request) -> web.Response:
    body = await s.parse(request, s.StaffAccept)
    return web.json_response(await staff.accept_invitation(_deps(request), _caller(request), token=body.token,
                                                           password=body.password, confirmation=body.confirmation))


@routes.post("/v1/staff/login")
async def login(request: web.Request) -> web.Response:
    body = await s.parse(request, s.Login)
    return web.json_response(await staff.login(_deps(request), _caller(request), email=body.email,
                                               password=body.password))


@routes.post("/v1/staff/sessions/introspect")
async def introspect(request: web.Request) -> web.Response:
    body = await s.parse(request, s.SessionId)
    return web.json_response(await staff.introspect(_deps(request), _caller(request), body.session_id))


@routes.post("/v1/staff/sessions/logout")
async def logout(request: web.Request) -> web.Response:
    body = await s.parse(request, s.SessionId)
    await staff.logout(_deps(request), _caller(request), body.session_id)
    return web.Response(status=204)
