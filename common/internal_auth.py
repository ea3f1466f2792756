"""Short-lived signed tokens for every internal HTTP call.

Only the gateway faces the internet. When it (or a service) calls a service it attaches
``Authorization: Internal <jwt>``: HS256 over the deployment secret ``INTERNAL_AUTH_SECRET``,
with ``aud`` = the called service, ``iss`` = the caller, a short ``exp`` and the request id.
The token may also carry who the call is for: the tenant (``tid`` + codes), the person
(``pid``) and their linked accounts (``acc``), or the public API actor (``act``).
Services verify it with :func:`internal_auth_middleware` and read :data:`CLAIMS` from the request.

A call that the gateway forwards from the public API carries ``via`` = :data:`PUBLIC_API`. Such a
call may only reach the routes of the public contract (``/api/v1/...``): whatever the path it was
sent to, the middleware refuses it (403) on any other route, so a path that slipped past the
gateway's checks still cannot reach an internal route with a public caller's authority.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import jwt
from aiohttp import web

from common.errors import Forbidden, Unauthorized

__all__ = [
    "CLAIMS",
    "HEADER",
    "PUBLIC_API",
    "SCHEME",
    "InternalClaims",
    "internal_auth_middleware",
    "issue_token",
    "verify_token",
]

HEADER = "Authorization"
SCHEME = "Internal"
DEFAULT_TTL_SECONDS = 60
PUBLIC_API = "public-api"
PUBLIC_ROUTE_PREFIXES = ("/api/",)
_ALGORITHM = "HS256"
_LEEWAY_SECONDS = 5


class InternalClaims(dict):
    """The verified claims of an internal token, with named accessors for the usual ones."""

    @property
    def issuer(self) -> str:
        return self["iss"]

    @property
    def request_id(self) -> str | None:
        return self.get("rid")

    @property
    def tenant_id(self) -> str | None:
        return self.get("tid")

    @property
    def person_id(self) -> str | None:
        return self.get("pid")

    @property
    def accounts(self) -> list[dict]:
        """Linked accounts: ``[{"tenant_id", "account_id", "role"}]``."""
        return self.get("acc") or []

    @property
    def actor(self) -> str | None:
        """For the public API: ``operator`` or ``agency``."""
        return self.get("act")

    @property
    def client_ip(self) -> str | None:
        return self.get("ip")

    @property
    def from_public_api(self) -> bool:
        """A call forwarded from the public API (an operator's or an agency's request)."""
        return self.get("via") == PUBLIC_API


CLAIMS = web.RequestKey("internal_claims", InternalClaims)


def issue_token(
    secret: str,
    *,
    issuer: str,
    audience: str,
    request_id: str | None = None,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    now: float | None = None,
    **claims: Any,
) -> str:
    """Sign a token for one call to ``audience``. Extra claims with a ``None`` value are dropped."""
    issued = int(now if now is not None else time.time())
    body = {"iss": issuer, "aud": audience, "iat": issued, "exp": issued + ttl_seconds}
    if request_id:
        body["rid"] = request_id
    body.update({k: v for k, v in claims.items() if v is not None})
    return jwt.encode(body, secret, algorithm=_ALGORITHM)


def verify_token(secret: str, token: str, *, audience: str, now: float | None = None) -> InternalClaims:
    """Return the claims of a valid token for ``audience``; raise :class:`Unauthorized` otherwise."""
    try:
        options = {"require": ["exp", "iat", "iss", "aud"]}
        if now is not None:
            # PyJWT reads the clock itself; tests pass ``now`` so we check expiry ourselves.
            options["verify_exp"] = False
        claims = jwt.decode(token, secret, algorithms=[_ALGORITHM], audience=audience,
                            options=options, leeway=_LEEWAY_SECONDS)
    except jwt.PyJWTError as exc:
        raise Unauthorized("Invalid internal token", reason=type(exc).__name__) from exc
    if now is not None and claims["exp"] + _LEEWAY_SECONDS < now:
        raise Unauthorized("Invalid internal token", reason="ExpiredSignatureError")
    return InternalClaims(claims)


def internal_auth_middleware(secret: str, audience: str, *, open_prefixes: Iterable[str] = ("/health/", "/metrics"),
                             public_prefixes: Iterable[str] = PUBLIC_ROUTE_PREFIXES):
    """Refuse (401) every request without a valid internal token, except health and metrics.

    A public-API call (``via`` = :data:`PUBLIC_API`) is refused (403) unless the route it matched is
    declared under ``public_prefixes``: the matched route, not the path, decides.
    """
    open_prefixes = tuple(open_prefixes)
    public_prefixes = tuple(public_prefixes)

    @web.middleware
    async def middleware(request: web.Request, handler):
        if request.path.startswith(open_prefixes):
            return await handler(request)
        header = request.headers.get(HEADER, "")
        scheme, _, token = header.partition(" ")
        if scheme != SCHEME or not token:
            raise Unauthorized("Missing internal token")
        claims = verify_token(secret, token.strip(), audience=audience)
        if claims.from_public_api and not _matched_route(request).startswith(public_prefixes):
            raise Forbidden("This route is not part of the public API")
        request[CLAIMS] = claims
        return await handler(request)

    return middleware


def _matched_route(request: web.Request) -> str:
    """The canonical path of the route the request matched ("" for none: a 404 or 405)."""
    route = request.match_info.route
    resource = route.resource if route is not None else None
    return resource.canonical if resource is not None else ""
