"""What the agency console's pages share: the staff session, the calls made for the agency.

The console is the agency's staff at ``/agence?client=C&societe=S``. Its session lives in identity
(``/v1/staff/...``) behind a cookie of its own, and its forms carry CSRF tokens of their own scope
(``gateway/visit.py``). Everything it reads or changes goes through the same service routes as the
public API (``/api/v1/...``), called as the agency (``act=agency``, ``tid``) with the staff member
(``sid``, ``srole``) for the audit and the role checks: there is no second path to the data.
"""

from __future__ import annotations

import json as json_module
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from common.http import REQUEST_ID
from gateway.context import UPSTREAMS, SessionKind, claims, optional_session_of, require_session_of, require_tenant
from gateway.edge import PageError
from gateway.upstream import Reply, ServiceUnavailable

__all__ = ["STAFF", "STAFF_SESSION", "FileReply", "agency_call", "agency_file", "agency_put_file", "agency_upload",
           "optional_staff", "require_admin", "require_staff", "require_uploader"]

STAFF = web.RequestKey("staff", dict)
STAFF_SESSION = SessionKind(STAFF, "staff_cookie", "/v1/staff/sessions/introspect", "/v1/staff/sessions/logout",
                            "staff_id", "/agence/connexion")


async def optional_staff(request: web.Request) -> dict | None:
    """The staff member of this browser's console session at this agency, or None."""
    return await optional_session_of(request, STAFF_SESSION)


async def require_staff(request: web.Request) -> dict:
    """The logged-in staff member; else a redirect to the console's login (its cookie dropped)."""
    return await require_session_of(request, STAFF_SESSION)


async def require_uploader(request: web.Request) -> None:
    """The edge's gate of the upload forms, run before their body is read: the agency's page and a live
    staff session (else the same refusals as any console page: the French 404, or the console's login)."""
    await require_tenant(request)
    await require_staff(request)


def require_admin(staff: dict) -> None:
    if staff.get("role") != "admin":
        raise PageError(403, "console/forbidden.html")


def _agency_claims(request: web.Request) -> dict:
    staff = request[STAFF]
    return {**claims(request), "act": "agency", "sid": staff["staff_id"], "srole": staff["role"]}


async def agency_call(request: web.Request, service: str, method: str, path: str, **kwargs) -> Reply:
    """A JSON call to a public-API route as the agency, on behalf of the logged-in staff member."""
    upstream = request.app[UPSTREAMS][service]
    return await upstream.call(method, path, claims=_agency_claims(request), request_id=request.get(REQUEST_ID),
                               **kwargs)


@dataclass(frozen=True)
class FileReply:
    """A file answer (``body``: its bytes on success) or an error (``json``: its decoded body)."""

    status: int
    headers: dict
    body: bytes = b""
    json: dict | None = None


async def agency_file(request: web.Request, service: str, method: str, path: str, *, accept: str,
                      json: dict | None = None, params: dict | None = None, ok: int = 201,
                      timeout: aiohttp.ClientTimeout | None = None) -> FileReply:
    """A call as the agency whose success (status ``ok``) is a file (``accept``); read whole: letters
    and proof reports are small. ``timeout``: instead of the upstream calls' own (letters take longer)."""
    upstream = request.app[UPSTREAMS][service]
    extra: dict = {"json": json} if json is not None else {}
    if params:
        extra["params"] = params
    if timeout is not None:
        extra["timeout"] = timeout
    response = await upstream.open(method, path, claims=_agency_claims(request), request_id=request.get(REQUEST_ID),
                                   headers={"Accept": accept}, **extra)
    async with response:
        raw = await response.read()
        headers = dict(response.headers)
        if response.status == ok and response.content_type == accept:
            return FileReply(response.status, headers, body=raw)
        try:
            decoded = json_module.loads(raw) if raw else None
        except ValueError:
            decoded = None
        return FileReply(response.status, headers, json=decoded if isinstance(decoded, dict) else None)



async def agency_upload(request: web.Request, service: str, path: str, *, metadata: dict,
                        file: web.FileField) -> Reply:
    """One file sent as the public API takes it (a ``metadata`` JSON part, a ``file`` part), as the agency.

    The file is streamed from the spool file the form was read into; a 5xx answer is
    :class:`ServiceUnavailable`, like :func:`agency_call`.
    """
    form = aiohttp.FormData()
    form.add_field("metadata", json_module.dumps(metadata), content_type="application/json")
    form.add_field("file", file.file, filename=file.filename,
                   content_type=file.content_type or "application/octet-stream")
    return await _send_streamed(request, service, "POST", path, data=form)


async def agency_put_file(request: web.Request, service: str, path: str, *, content_type: str,
                          file: web.FileField) -> Reply:
    """A file PUT as its own body (the directory import), as the agency; streamed from the form's spool."""
    return await _send_streamed(request, service, "PUT", path, headers={"Content-Type": content_type},
                                data=file.file)


async def _send_streamed(request: web.Request, service: str, method: str, path: str, **kwargs) -> Reply:
    """A call as the agency whose body is a stream; its JSON answer (5xx: :class:`ServiceUnavailable`)."""
    upstream = request.app[UPSTREAMS][service]
    try:
        response = await upstream.open(method, path, claims=_agency_claims(request),
                                       request_id=request.get(REQUEST_ID), **kwargs)
        async with response:
            if response.status >= 500:
                raise ServiceUnavailable(service)
            try:
                body = await response.json(content_type=None)
            except ValueError:
                body = {}
            return Reply(response.status, body if isinstance(body, dict) else {}, response.headers)
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise ServiceUnavailable(service) from exc

