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

import base64
import functools
import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterable
from typing import Any

import jwt
from aiohttp import web
from jwt.algorithms import HMACAlgorithm

from common.errors import Forbidden, Unauthorized

__all__ = [
    "CLAIMS",
    "HEADER",
    "PUBLIC_API",
    "SCHEME",
    "InternalClaims",
    "TokenSigner",
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
def _b64url(data: bytes) -> bytes:
    """Base64url without padding, the one form JWS segments take."""
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _signature(keyed: Any, signing_input: bytes) -> bytes:
    """The encoded HS256 signature of ``signing_input``, from a copy of the keyed HMAC state."""
    mac = keyed.copy()
    mac.update(signing_input)
    return _b64url(mac.digest())


# The header both issuers write (PyJWT's ``encode`` and :class:`TokenSigner`), byte for byte.
_COMMON_HEADER = _b64url(b'{"alg":"HS256","typ":"JWT"}')
_BASE64URL = re.compile(rb"[A-Za-z0-9_-]+")
# Claims PyJWT checks when present; a token carrying one is left to PyJWT.
_CLAIMS_LEFT_TO_PYJWT = ("nbf", "sub", "jti")


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
    return TokenSigner(secret, issuer=issuer).sign(audience=audience, request_id=request_id, claims=claims, now=now,
                                                   ttl_seconds=ttl_seconds)


class TokenSigner:
    """Signs internal tokens with the key prepared once: the compact JWS PyJWT's ``encode`` builds.

    PyJWT's ``encode`` re-examines the key (PEM/DER checks) on every call, and every upstream call
    signs a token, so the key PyJWT prepares is kept and the same token is built (header, claims and
    signature byte for byte, tested against ``jwt.encode``). The HMAC state after the key is kept and
    copied per token: PyJWT's ``sign`` sets the key up again for every token (1.6 against 2.1 us a
    signature, `timeit`).
    """

    def __init__(self, secret: str, *, issuer: str) -> None:
        self._keyed = _keyed_mac(secret)
        if self._keyed is None:
            raise ValueError("the internal auth secret is not usable as an HMAC key")
        self._issuer = issuer

    def sign(self, *, audience: str, request_id: str | None, claims: dict, now: float | None = None,
             ttl_seconds: int = DEFAULT_TTL_SECONDS) -> str:
        issued = int(now if now is not None else time.time())
        body = {"iss": self._issuer, "aud": audience, "iat": issued, "exp": issued + ttl_seconds}
        if request_id:
            body["rid"] = request_id
        body.update({k: v for k, v in claims.items() if v is not None})
        signing_input = _COMMON_HEADER + b"." + _b64url(json.dumps(body, separators=(",", ":")).encode())
        return (signing_input + b"." + _signature(self._keyed, signing_input)).decode()


def verify_token(secret: str, token: str, *, audience: str, now: float | None = None) -> InternalClaims:
    """Return the claims of a valid token for ``audience``; raise :class:`Unauthorized` otherwise."""
    claims = _accept_common_token(secret, token, audience=audience, now=now)
    if claims is not None:
        return InternalClaims(claims)
    return _verify_with_pyjwt(secret, token, audience=audience, now=now)


def _verify_with_pyjwt(secret: str, token: str, *, audience: str, now: float | None) -> InternalClaims:
    try:
        options = {"require": ["exp", "iat", "iss", "aud"]}
        if now is not None:
            # PyJWT reads the clock itself; tests pass ``now`` so we check expiry ourselves.
            options["verify_exp"] = False
        claims = jwt.decode(token, secret, algorithms=[_ALGORITHM], audience=audience,
                            options=options, leeway=_LEEWAY_SECONDS)
    except jwt.PyJWTError as exc:
        raise Unauthorized("Invalid internal token", reason=type(exc).__name__) from exc
    if now is not None:
        try:
            expires = int(claims["exp"])  # as PyJWT reads it when it checks expiry itself
        except (TypeError, ValueError, OverflowError):
            raise Unauthorized("Invalid internal token", reason="DecodeError") from None
        if expires + _LEEWAY_SECONDS < now:
            raise Unauthorized("Invalid internal token", reason="ExpiredSignatureError")
    return InternalClaims(claims)


@functools.lru_cache(maxsize=8)
def _keyed_mac(secret: str) -> Any:
    """The HMAC state after the key, copied per token; None for a key PyJWT refuses (PyJWT then decides)."""
    try:
        key = HMACAlgorithm(HMACAlgorithm.SHA256).prepare_key(secret)
    except jwt.PyJWTError:
        return None
    return hmac.new(key, digestmod=hashlib.sha256)


def _accept_common_token(secret: str, token: str, *, audience: str, now: float | None) -> dict | None:
    """The claims of a valid token of the shape our issuers make, or None to let PyJWT decide.

    PyJWT's ``decode`` costs 62-72 us a token (timeit), on every internal call of every service: it
    prepares the key again (PEM, SSH and DER checks) and checks the base64 alphabet one character
    at a time in Python. The tokens our issuers make (the header above, integer ``exp`` and ``iat``,
    one audience string, no ``nbf``/``sub``/``jti``) are checked here as PyJWT checks them: the
    signature over the exact bytes first, in constant time, then the payload, then the claims.
    Anything else, a bad signature included, returns None and goes to PyJWT, so this never accepts
    a token PyJWT would refuse, and every refusal keeps PyJWT's reason.
    """
    mac = _keyed_mac(secret)
    if mac is None or not token.isascii():
        return None
    header, _, rest = token.encode("ascii").partition(b".")
    payload, _, signature = rest.partition(b".")
    if header != _COMMON_HEADER:
        return None
    if not hmac.compare_digest(_signature(mac, header + b"." + payload), signature):
        return None
    if _BASE64URL.fullmatch(payload) is None or len(payload) % 4 == 1:
        return None
    decoded = base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4))
    if _b64url(decoded) != payload:
        return None  # PyJWT refuses a segment that is not in its one canonical form
    try:
        claims = json.loads(decoded)
    except ValueError:
        return None
    if not isinstance(claims, dict) or any(name in claims for name in _CLAIMS_LEFT_TO_PYJWT):
        return None
    issued, expires = claims.get("iat"), claims.get("exp")
    if type(issued) is not int or type(expires) is not int or claims.get("iss") is None:
        return None
    if claims.get("aud") != audience or type(claims["aud"]) is not str:
        return None
    wall = time.time()
    if issued > wall + _LEEWAY_SECONDS:
        return None
    if now is None and expires <= wall - _LEEWAY_SECONDS:
        return None
    if now is not None and expires + _LEEWAY_SECONDS < now:
        return None
    return claims


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
