"""What every page handler shares: the tenant of the visit, the session, calls, rendering.

The tenant comes from ``client``/``societe`` in the URL (kept in the visit cookie for the rest
of the visit); every link and form action carries them again so a bookmarked page still works.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

import aiohttp
import jinja2
from aiohttp import web

from common.clock import Clock
from common.http import REQUEST_ID
from common.logging import bind_context
from gateway.api_keys import VerifiedKeys
from gateway.edge import CLIENT_IP, EDGE, NO_STORE, VISIT, PageError
from gateway.tenants import COLOR_PATTERN, TenantResolver
from gateway.upstream import Reply, Upstream
from gateway.visit import csrf_scope

__all__ = [
    "CLOCK",
    "JINJA",
    "LETTERS_TIMEOUT",
    "PERSON",
    "SESSION",
    "TENANT",
    "TENANTS",
    "UPSTREAMS",
    "VERIFIED_KEYS",
    "SeeOther",
    "SessionKind",
    "call",
    "claims",
    "end_session_of",
    "form_text",
    "now",
    "optional_session",
    "optional_session_of",
    "page_url",
    "redirect",
    "render",
    "render_error",
    "require_session",
    "require_session_of",
    "require_tenant",
]

UPSTREAMS = web.AppKey("upstreams", dict)
TENANTS = web.AppKey("tenants", TenantResolver)
VERIFIED_KEYS = web.AppKey("verified_keys", VerifiedKeys)
# The read timeout of the calls that issue letters (GATEWAY_LETTERS_TIMEOUT_SECONDS), longer than others.
LETTERS_TIMEOUT = web.AppKey("letters_timeout", aiohttp.ClientTimeout)
JINJA = web.AppKey("jinja", jinja2.Environment)
CLOCK = web.AppKey("clock", Clock)
TENANT = web.RequestKey("tenant", dict)
SESSION = web.RequestKey("session", dict)
DEFAULT_COLOR = "#1d4ed8"


def _codes(request: web.Request) -> tuple[str | None, str | None]:
    client, societe = request.query.get("client"), request.query.get("societe")
    if client is None and societe is None:
        visit = request.get(VISIT)
        if visit is not None:
            return visit.get("c"), visit.get("s")
    return client, societe


async def require_tenant(request: web.Request) -> dict:
    """The tenant of this page, or a French 404 (unknown, malformed) / 403 (suspended) page."""
    if TENANT in request:
        return request[TENANT]
    client, societe = _codes(request)
    if not client and not societe:
        raise PageError(404, "tenant_unknown.html", missing=True)
    tenant = await request.app[TENANTS].resolve(client, societe, request_id=request.get(REQUEST_ID))
    if tenant is None:
        raise PageError(404, "tenant_unknown.html", missing=False)
    if tenant.get("status") != "active":
        raise PageError(403, "tenant_suspended.html", suspended_tenant=tenant)
    visit = request.get(VISIT)
    if visit is not None:
        visit.set("c", tenant["client_code"])
        visit.set("s", tenant["societe_code"])
    request[TENANT] = tenant
    bind_context(tenant_id=tenant.get("id"))
    return tenant


def form_text(form, name: str, default: str = "") -> str:
    """The text of a posted field (``default`` when absent).

    ``request.post()`` gives any multipart part that has a filename as a FileField, whatever the
    field: a form forged that way would reach ``.strip()``, a regex or the JSON of a call and be a 500.
    Such a part is an invalid value, ``""``, which the page's own checks refuse like an empty field."""
    value = form.get(name, default)
    return value if isinstance(value, str) else ""


def now(request: web.Request) -> datetime:
    """The current time (UTC) of the app's clock: the pages say when a wait ends."""
    return request.app[CLOCK].now()


def claims(request: web.Request) -> dict:
    """Claims of the internal token for calls made for this request."""
    tenant = request.get(TENANT) or {}
    body = {"tid": tenant.get("id"), "tcc": tenant.get("client_code"), "tsc": tenant.get("societe_code"),
            "ip": request.get(CLIENT_IP)}
    session = request.get(SESSION)
    if session:
        body["pid"] = session["person_id"]
        body["sref"] = session.get("session_ref")
        body["acc"] = [{"tenant_id": a["tenant_id"], "account_id": a["account_id"], "role": a["role"]}
                       for a in session.get("accounts", [])]
    return body


async def call(request: web.Request, service: str, method: str, path: str, **kwargs) -> Reply:
    """A JSON call to ``service`` on behalf of this request (internal token with its claims)."""
    upstream: Upstream = request.app[UPSTREAMS][service]
    return await upstream.call(method, path, claims=claims(request), request_id=request.get(REQUEST_ID), **kwargs)


@dataclass(frozen=True)
class SessionKind:
    """A browser session the gateway asks identity about on every page: a person's or a staff member's."""

    key: web.RequestKey  # where the introspected session is kept for the rest of the request
    cookie: str  # the attribute of EdgeConfig naming its cookie
    introspect_path: str
    logout_path: str
    log_field: str  # bound to every log line of the request
    login_path: str  # where a visitor without a live session is sent


PERSON = SessionKind(SESSION, "session_cookie", "/v1/sessions/introspect", "/v1/sessions/logout", "person_id",
                     "/login/form")


def _cookie(request: web.Request, kind: SessionKind) -> str | None:
    return request.cookies.get(getattr(request.app[EDGE], kind.cookie)) or None


async def optional_session_of(request: web.Request, kind: SessionKind) -> dict | None:
    """The introspected session of ``kind`` (identity refreshes its idle expiry), or None."""
    if kind.key in request:
        return request[kind.key]
    session_id = _cookie(request, kind)
    if not session_id:
        return None
    reply = await call(request, "identity", "POST", kind.introspect_path, json={"session_id": session_id}, safe=True)
    if reply.status != 200:
        return None
    request[kind.key] = reply.body
    bind_context(**{kind.log_field: reply.body.get(kind.log_field)})
    return reply.body


async def require_session_of(request: web.Request, kind: SessionKind) -> dict:
    """The live session of ``kind``; else a redirect to its login (the cookie dropped)."""
    request[NO_STORE] = True
    session = await optional_session_of(request, kind)
    if session is None:
        response = redirect(request, kind.login_path, expired="1" if _cookie(request, kind) else None)
        response.del_cookie(getattr(request.app[EDGE], kind.cookie), path="/")
        raise SeeOther(response)
    return session


async def end_session_of(request: web.Request, kind: SessionKind, *, then: str) -> web.Response:
    """Log out: identity ends the session, the visit's CSRF secret changes, the cookie goes; to ``then``."""
    session_id = _cookie(request, kind)
    if session_id:
        await call(request, "identity", "POST", kind.logout_path, json={"session_id": session_id})
    request[VISIT].rotate()
    response = redirect(request, then)
    response.del_cookie(getattr(request.app[EDGE], kind.cookie), path="/")
    return response


async def optional_session(request: web.Request) -> dict | None:
    """The person's introspected session, or None."""
    return await optional_session_of(request, PERSON)


async def require_session(request: web.Request) -> dict:
    """The session of a logged-in person; else a redirect to the login form (cookie dropped)."""
    return await require_session_of(request, PERSON)


class SeeOther(web.HTTPSeeOther):
    """Carries a prepared redirect response out of a helper."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(location=response.headers["Location"])
        for name, morsel in response.cookies.items():
            self.cookies[name] = morsel


def _tenant_query(request: web.Request) -> dict:
    tenant = request.get(TENANT)
    if tenant:
        return {"client": tenant["client_code"], "societe": tenant["societe_code"]}
    client, societe = _codes(request)
    return {"client": client, "societe": societe} if client and societe else {}


def page_url(request: web.Request, path: str, **params) -> str:
    """``path`` with the tenant codes (and ``params``) in the query string."""
    query = _tenant_query(request)
    query.update({k: v for k, v in params.items() if v is not None})
    return path + ("?" + urlencode(query) if query else "")


def _url_helper(request: web.Request):
    """The templates' ``url()``: the tenant part of the query is encoded once per page."""
    codes = urlencode(_tenant_query(request))

    def url(path: str, **params) -> str:
        extra = {k: v for k, v in params.items() if v is not None}
        query = "&".join(q for q in (codes, urlencode(extra) if extra else "") if q)
        return path + ("?" + query if query else "")

    return url


def redirect(request: web.Request, path: str, **params) -> web.Response:
    """303 to one of our own pages (never to a URL taken from the request: no open redirect)."""
    return web.Response(status=303, headers={"Location": page_url(request, path, **params)})


def _base_context(request: web.Request) -> dict:
    tenant = request.get(TENANT)
    visit = request.get(VISIT)
    color = (tenant or {}).get("branding", {}).get("primary_color") or DEFAULT_COLOR
    return {
        "tenant": tenant,
        "brand_color": color if COLOR_PATTERN.match(color) else DEFAULT_COLOR,
        "csrf_token": request.app[EDGE].codec.csrf_token(visit, csrf_scope(request.path)) if visit is not None else "",
        "url": _url_helper(request),
        "logged_in": SESSION in request,
    }


def render(request: web.Request, template: str, *, status: int = 200, **context) -> web.Response:
    """Render a page (autoescaped Jinja2) with the tenant, the CSRF token and the url helper."""
    html = request.app[JINJA].get_template(template).render(**_base_context(request), **context)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def render_error(request: web.Request, status: int, template: str, context: dict) -> web.Response:
    return render(request, template, status=status, **context)
