"""The public JSON API ``/api/v1/*`` (AGENCY-API.md), forwarded to tenancy, documents and identity (staff).

The caller is authenticated here: the operator token (constant-time compare, ``act=operator``) or
an agency API key verified by tenancy (``act=agency`` + the key's own ``tid``; a suspended tenant
is refused with 403, an unknown key with 401), tenancy's answer kept a few seconds (gateway.api_keys).
Nothing the client sends can choose the tenant: only Content-Type, Accept and Content-Length cross,
the body and the answer are streamed.
``/api/v1/openapi.json`` merges the public parts of tenancy's, documents' and identity's documents (cached).
"""

from __future__ import annotations

import hmac
import time

import aiohttp
from aiohttp import web

from common.http import REQUEST_ID, json_error
from common.internal_auth import PUBLIC_API
from common.logging import get_logger
from gateway.api_keys import KeyOwner
from gateway.context import LETTERS_TIMEOUT, UPSTREAMS, VERIFIED_KEYS
from gateway.edge import CLIENT_IP
from gateway.files import forward_response
from gateway.upstream import ServiceUnavailable

__all__ = ["API_SETTINGS", "ApiSettings", "routes"]

log = get_logger(__name__)
routes = web.RouteTableDef()

TENANCY_PREFIXES = ("/api/v1/tenants", "/api/v1/directory", "/api/v1/provisional-credentials",
                    "/api/v1/activation-stats", "/api/v1/agency")
DOCUMENTS_PREFIXES = ("/api/v1/documents", "/api/v1/consents")
IDENTITY_PREFIXES = ("/api/v1/staff",)
FORWARDED_REQUEST_HEADERS = ("Content-Type", "Accept", "Content-Length")
OPENAPI_TTL_SECONDS = 300.0
CHUNK = 256 * 1024


class ApiSettings:
    """What the API forwarding needs, computed once."""

    def __init__(self, *, operator_token: str, max_body_bytes: int, public_base_url: str) -> None:
        self.operator_token = operator_token.encode()
        self.max_body_bytes = max_body_bytes
        self.public_base_url = public_base_url.rstrip("/")
        self.openapi: tuple[float, dict] | None = None


API_SETTINGS = web.AppKey("api_settings", ApiSettings)


class _TooLarge(Exception):
    pass


def _service_for(path: str) -> str | None:
    for prefix in TENANCY_PREFIXES:
        if path == prefix or path.startswith(prefix + "/"):
            return "tenancy"
    for prefix in DOCUMENTS_PREFIXES:
        if path == prefix or path.startswith(prefix + "/"):
            return "documents"
    for prefix in IDENTITY_PREFIXES:
        if path == prefix or path.startswith(prefix + "/"):
            return "identity"
    return None


async def _authenticate(request: web.Request) -> dict | web.Response:
    """The actor claims, or the JSON refusal."""
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        return _unauthorized()
    settings: ApiSettings = request.app[API_SETTINGS]
    if hmac.compare_digest(credential.encode(), settings.operator_token):
        return {"act": "operator"}
    keys = request.app[VERIFIED_KEYS]
    owner = keys.get(credential)
    if owner is None:
        asked_at = keys.generation
        reply = await request.app[UPSTREAMS]["tenancy"].call(
            "POST", "/internal/api-keys/verify", claims={"ip": request.get(CLIENT_IP)},
            request_id=request.get(REQUEST_ID), json={"api_key": credential}, safe=True)
        if reply.status != 200 or not reply.body.get("tenant_id"):
            return _unauthorized()
        owner = KeyOwner(str(reply.body["tenant_id"]), str(reply.body.get("status")))
        keys.put(credential, owner, asked_at_generation=asked_at)
    if owner.status != "active":
        return json_error(403, "tenant_suspended", "This tenant is suspended")
    return {"act": "agency", "tid": owner.tenant_id}


def _issues_letters(method: str, path: str) -> bool:
    """Letters for a whole agency take tenancy longer than the upstream timeout (GATEWAY_LETTERS_TIMEOUT_SECONDS)."""
    return method == "POST" and (path == "/api/v1/provisional-credentials"
                                 or path.startswith("/api/v1/provisional-credentials?"))


def _changes_key_owners(method: str, path: str) -> bool:
    """A key rotated, or a tenant changed (its status among what may change): verified keys are stale."""
    return method not in ("GET", "HEAD") and path.startswith(("/api/v1/tenants/", "/api/v1/agency/api-keys"))


def _unauthorized() -> web.Response:
    response = json_error(401, "unauthorized", "A valid bearer token is required")
    response.headers["WWW-Authenticate"] = "Bearer"
    return response


async def _body(request: web.Request, limit: int, state: dict):
    """The request body as a stream, cut (and flagged) past ``limit``: a chunked upload has no length."""
    seen = 0
    async for chunk in request.content.iter_chunked(CHUNK):
        seen += len(chunk)
        if seen > limit:
            state["too_large"] = True
            raise _TooLarge()
        yield chunk


@routes.route("*", "/api/v1/{tail:.*}")
async def forward(request: web.Request) -> web.StreamResponse:
    if request.path == "/api/v1/openapi.json" and request.method in ("GET", "HEAD"):
        return await openapi(request)
    service = _service_for(request.rel_url.raw_path)  # the very path that is forwarded
    if service is None:
        return json_error(404, "not_found", "No such API endpoint")
    settings: ApiSettings = request.app[API_SETTINGS]
    length = request.content_length
    if length is not None and length > settings.max_body_bytes:
        return json_error(413, "payload_too_large", "The request body is too large")
    state: dict = {}
    try:
        actor = await _authenticate(request)
        if isinstance(actor, web.Response):
            return actor
        headers = {h: request.headers[h] for h in FORWARDED_REQUEST_HEADERS if h in request.headers}
        # The raw path, checked by the edge (gateway/paths.py), is forwarded as it came: never decoded,
        # never normalised, so the prefix checked above is the route the service sees.
        url = request.rel_url
        path = url.raw_path + ("?" + url.raw_query_string if url.raw_query_string else "")
        claims = {**actor, "via": PUBLIC_API, "ip": request.get(CLIENT_IP)}
        upstreams = request.app[UPSTREAMS]
        has_body = request.body_exists and request.method not in ("GET", "HEAD")
        if not has_body:
            # A GET's or HEAD's body is never forwarded, so neither is its length: the service would
            # wait for the body announced (15 s, then 503) and read the next request as its rest.
            headers.pop("Content-Length", None)
        if request.method == "GET":  # the common read, over the lean kept connections (gateway.passthrough)
            upstream = await upstreams[service].get(path, claims=claims, request_id=request.get(REQUEST_ID),
                                                    headers=headers)
        else:
            extra = {"timeout": request.app[LETTERS_TIMEOUT]} if _issues_letters(request.method, path) else {}
            upstream = await upstreams[service].open(
                request.method, path, claims=claims, request_id=request.get(REQUEST_ID),
                headers=headers, data=_body(request, settings.max_body_bytes, state) if has_body else None, **extra)
    except (ServiceUnavailable, _TooLarge, aiohttp.ClientError):
        if state.get("too_large"):
            return json_error(413, "payload_too_large", "The request body is too large")
        log.warning("api.upstream_failed", upstream=service)
        return json_error(503, "service_unavailable", "The service is temporarily unavailable")
    if 200 <= upstream.status < 300 and _changes_key_owners(request.method, path):
        request.app[VERIFIED_KEYS].forget_all()
    async with upstream:
        return await forward_response(request, upstream, extra_headers={"Cache-Control": "no-store"})


async def openapi(request: web.Request) -> web.Response:
    """The public OpenAPI document: tenancy's and documents' parts merged, cached a few minutes."""
    settings: ApiSettings = request.app[API_SETTINGS]
    cached = settings.openapi
    if cached is None or cached[0] < time.monotonic():
        parts = []
        try:
            for service in ("tenancy", "documents", "identity"):
                reply = await request.app[UPSTREAMS][service].call("GET", "/internal/openapi.json", claims={},
                                                                   request_id=request.get(REQUEST_ID))
                if reply.status != 200 or not isinstance(reply.body, dict):
                    raise ServiceUnavailable(service)
                parts.append(reply.body)
        except ServiceUnavailable:
            if cached is None:
                return json_error(503, "service_unavailable", "The service is temporarily unavailable")
            parts = None  # serve the stale document rather than nothing
        if parts is not None:
            cached = (time.monotonic() + OPENAPI_TTL_SECONDS, merge_openapi(parts, settings.public_base_url))
            settings.openapi = cached
    return web.json_response(cached[1], headers={"Cache-Control": "public, max-age=60"})


def merge_openapi(parts: list[dict], public_base_url: str) -> dict:
    """One OpenAPI 3 document from several: paths and components merged (later parts never overwrite)."""
    merged: dict = {
        "openapi": next((p.get("openapi") for p in parts if p.get("openapi")), "3.1.0"),
        "info": {"title": "moncompte public API", "version": "1",
                 "description": "API publique pour le prestataire (jeton opérateur) et les agences (clé d'API)."},
        "servers": [{"url": public_base_url}],
        "paths": {},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
    }
    for part in parts:
        for path, item in (part.get("paths") or {}).items():
            if not path.startswith("/api/v1/"):
                continue  # a service's own routes (identity documents them all) are not the public contract
            merged["paths"].setdefault(path, {}).update(
                {k: v for k, v in item.items() if k not in merged["paths"].get(path, {})})
        for section, entries in (part.get("components") or {}).items():
            target = merged["components"].setdefault(section, {})
            for name, value in (entries or {}).items():
                target.setdefault(name, value)
        for tag in part.get("tags") or []:
            tags = merged.setdefault("tags", [])
            if all(t.get("name") != tag.get("name") for t in tags):
                tags.append(tag)
    return merged
