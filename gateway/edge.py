"""Security at the edge: client IP, visit cookie, CSRF and Origin checks, headers, error pages.

Every page response carries the CSP (no inline script or style), HSTS, nosniff, a Referrer-Policy
(``no-referrer`` on pages whose URL holds a token) and ``Cache-Control: no-store`` on token and
authenticated pages. A POST to a page must come from our own origin (``PUBLIC_BASE_URL``) and
carry the CSRF token derived from the signed visit cookie; anything else is refused with 403
before a service is called. The console's upload forms (``UPLOAD_PATHS``) may be 60 MB: their body
is read only once the request is multipart and its staff session is live (``upload_gate``).
"""

from __future__ import annotations

import asyncio
import ipaddress
from urllib.parse import urlsplit

from aiohttp import web

from common.http import json_error
from common.logging import bind_context, get_logger
from gateway.paths import unsafe_path_reason
from gateway.settings import GatewaySettings
from gateway.upstream import ServiceUnavailable
from gateway.visit import Visit, VisitCodec, cookie_names, csrf_scope, staff_cookie_name

__all__ = [
    "CLIENT_IP",
    "NO_STORE",
    "TOKEN_PAGE",
    "VISIT",
    "EdgeConfig",
    "PageError",
    "client_ip",
    "edge_middleware",
    "public_origin",
]

log = get_logger(__name__)

VISIT = web.RequestKey("visit", Visit)
CLIENT_IP = web.RequestKey("client_ip", str)
TOKEN_PAGE = web.RequestKey("token_page", bool)
NO_STORE = web.RequestKey("no_store", bool)

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
HSTS = "max-age=31536000; includeSubDomains"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Paths that are not browser pages: no visit cookie, no CSRF (the API has its own bearer auth).
NON_PAGE_PREFIXES = ("/api/", "/files/", "/static/", "/health/", "/metrics", "/theme/")
# Token pages are served with Referrer-Policy no-referrer, so browsers post their form with
# ``Origin: null``; there the CSRF token (bound to the SameSite visit cookie) is the check.
NULL_ORIGIN_PATHS = frozenset({"/activation/verify", "/password/reset", "/agence/invitation"})
# Form posts that carry files: the console's document upload and directory import. They may be as large
# as one public-API upload (GATEWAY_MAX_API_BODY_BYTES) instead of GATEWAY_MAX_FORM_BYTES; aiohttp
# spools their files to temporary files while the CSRF token is read, and the page forwards them.
# Only multipart bodies, and only after the staff session is checked: aiohttp keeps a url-encoded
# body, and a multipart part without a filename, in memory, so an anonymous client could otherwise
# make the gateway hold 60 MB per request before any check that needs no body.
UPLOAD_PATHS = frozenset({"/agence/documents/envoi", "/agence/import"})


class PageError(Exception):
    """A refusal rendered as a French page: status, template and its context."""

    def __init__(self, status: int, template: str, **context) -> None:
        super().__init__(template)
        self.status = status
        self.template = template
        self.context = context


class EdgeConfig:
    """What the edge middleware needs, computed once from the settings."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.codec = VisitCodec(settings.cookie_secret.get_secret_value(), max_age=settings.visit_max_age_seconds)
        self.insecure = settings.insecure_cookies
        self.session_cookie, self.visit_cookie = cookie_names(settings.insecure_cookies)
        self.staff_cookie = staff_cookie_name(settings.insecure_cookies)
        self.trusted = settings.trusted_networks()
        self.origin = public_origin(settings.public_base_url)
        self.max_form_bytes = settings.max_form_bytes
        self.max_upload_form_bytes = settings.max_api_body_bytes

    def cookie_options(self, max_age: int | None = None) -> dict:
        return {"path": "/", "httponly": True, "secure": not self.insecure, "samesite": "Lax", "max_age": max_age}


EDGE = web.AppKey("edge", EdgeConfig)


def public_origin(base_url: str) -> str:
    """``scheme://host[:port]`` of the public base URL, the only origin allowed to post forms."""
    parts = urlsplit(base_url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def client_ip(peer: str | None, forwarded_for: str | None, trusted: list) -> str:
    """The client address: the peer, unless it is a trusted proxy whose X-Forwarded-For we walk.

    From the right, trusted proxies are skipped; the first untrusted address is the client.
    """
    peer = peer or "0.0.0.0"  # noqa: S104 - only a label when aiohttp gives no peer (unix socket)
    if not trusted or not _in(peer, trusted):
        return peer
    hops = [h.strip() for h in (forwarded_for or "").split(",") if h.strip()]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer  # a garbled header is not believed
        if not _in(hop, trusted):
            return hop
    return hops[0] if hops else peer


def _in(address: str, networks: list) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def _origin_ok(request: web.Request, origin: str) -> bool:
    sent = request.headers.get("Origin")
    if sent is not None:
        if sent == "null":
            return request.path in NULL_ORIGIN_PATHS
        return sent.lower() == origin
    referer = request.headers.get("Referer")
    return bool(referer) and public_origin(referer) == origin


def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers["Strict-Transport-Security"] = HSTS
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    token_page = request.get(TOKEN_PAGE, False)
    headers["Referrer-Policy"] = "no-referrer" if token_page else "strict-origin-when-cross-origin"
    if token_page or request.get(NO_STORE, False):
        headers["Cache-Control"] = "no-store"
        headers["Pragma"] = "no-cache"
    else:
        # Pages carry the visit's CSRF token: never from a shared cache.
        headers.setdefault("Cache-Control", "private, no-cache")


def edge_middleware(render_error, *, upload_gate):
    """The page middleware. ``render_error(request, status, template, context)`` renders refusals;
    ``upload_gate(request)`` raises (a page error or a redirect) unless the request may send an upload's
    body (``UPLOAD_PATHS``): it runs before a byte of that body is read."""

    @web.middleware
    async def middleware(request: web.Request, handler):
        config: EdgeConfig = request.app[EDGE]
        ip = client_ip(request.remote, request.headers.get("X-Forwarded-For"), config.trusted)
        request[CLIENT_IP] = ip
        bind_context(client_ip=ip)  # every log line of the request says where it came from (refusals too)
        refused = _refuse_unsafe_path(request, render_error)
        if refused is not None:
            return refused
        if request.path.startswith(NON_PAGE_PREFIXES):
            response = await handler(request)
            if not response.prepared:
                response.headers.setdefault("X-Content-Type-Options", "nosniff")
            return response
        if request.method == "POST" and request.path in UPLOAD_PATHS:
            # The same request with the upload's size limit (the app's client_max_size is the form one).
            request = request.clone(client_max_size=config.max_upload_form_bytes)
        visit = config.codec.load(request.cookies.get(config.visit_cookie))
        request[VISIT] = visit
        try:
            if request.method not in SAFE_METHODS:
                await _check_post(request, config, visit, upload_gate)
            response = await handler(request)
        except PageError as exc:
            response = render_error(request, exc.status, exc.template, exc.context)
        except ServiceUnavailable as exc:
            log.warning("page.service_unavailable", upstream=exc.service, path=request.path)
            response = render_error(request, 503, "unavailable.html", {})
            response.headers["Retry-After"] = "5"
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except web.HTTPException as exc:
            if exc.status < 400:
                response = web.Response(status=exc.status, headers=exc.headers)
                for name, morsel in exc.cookies.items():
                    response.cookies[name] = morsel
            else:
                template = "not_found.html" if exc.status in (404, 405) else "refused.html"
                response = render_error(request, exc.status, template, {})
        except Exception:
            # A French page rather than the JSON error of the API middleware; logged once, here.
            log.exception("page.unhandled_error", method=request.method, path=request.path)
            response = render_error(request, 500, "error.html", {})
        if not response.prepared:
            _security_headers(request, response)
            if visit.changed:
                response.set_cookie(config.visit_cookie, config.codec.dump(visit),
                                    **config.cookie_options(config.codec.max_age))
        return response

    return middleware


def _refuse_unsafe_path(request: web.Request, render_error) -> web.StreamResponse | None:
    """400 for a path that could name another route once decoded or normalised (gateway/paths.py)."""
    reason = unsafe_path_reason(request.rel_url.raw_path)
    if reason is None:
        return None
    log.warning("edge.path_refused", reason=reason)
    if request.rel_url.raw_path.startswith("/api/"):
        return json_error(400, "invalid_path", "The request path has a dot segment, an encoded separator or dot, "
                                               "a backslash or a control character")
    response = render_error(request, 400, "refused.html", {"reason": "path"})
    _security_headers(request, response)
    return response


async def _check_post(request: web.Request, config: EdgeConfig, visit: Visit, upload_gate) -> None:
    length = request.content_length
    upload = request.path in UPLOAD_PATHS
    limit = config.max_upload_form_bytes if upload else config.max_form_bytes
    too_large = PageError(413, "refused.html", reason="upload_too_large" if upload else "too_large",
                          limit_mb=limit // (1024 * 1024), back=request.path)
    if length is not None and length > limit:
        raise too_large
    if not _origin_ok(request, config.origin):
        log.warning("page.origin_refused", path=request.path)
        raise PageError(403, "refused.html", reason="origin")
    if upload:
        await _admit_upload(request, upload_gate)
    try:
        form = await request.post()
    except web.HTTPRequestEntityTooLarge:
        raise too_large from None
    if not config.codec.check_csrf(visit, form.get("csrf_token"), csrf_scope(request.path)):
        log.warning("page.csrf_refused", path=request.path)
        raise PageError(403, "refused.html", reason="csrf")


async def _admit_upload(request: web.Request, upload_gate) -> None:
    """Before an upload's body is read: a staff member (the gate: else the console's login, as on any
    console page), sending a multipart form (else 415; the only body aiohttp spools to disk)."""
    await upload_gate(request)
    if request.content_type != "multipart/form-data":
        log.warning("page.upload_type_refused", path=request.path)
        raise PageError(415, "refused.html", reason="upload_type", back=request.path)
