"""Signed download URLs: ``/files/<token>``, verified by the documents service itself.

The token is an HS256 JWT signed with a documents-only key (``DOCUMENTS_URL_SIGNING_KEY``, or
HMAC(INTERNAL_AUTH_SECRET, purpose) when unset, so that an internal token can never pass for a
file token nor the reverse). It binds the person, the snapshot of their linked accounts taken
from their internal token, and either one document id or an archive selection; it lives about a
minute. Access is checked again when the file is served (withdrawal or closure since count).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

import jwt

__all__ = ["FileGrant", "TokenInvalid", "derive_key", "issue_file_token", "verify_file_token"]

_ALGORITHM = "HS256"
_AUDIENCE = "documents-files"
_PURPOSE = b"moncompte/documents/file-url/v1"


class TokenInvalid(Exception):
    """Expired, altered or malformed file token (always answered 404)."""


@dataclass(frozen=True)
class FileGrant:
    person_id: str
    accounts: list[dict]  # [{"tenant_id", "account_id", "role"}] as in the internal token
    document_id: str | None = None
    archive: dict | None = None  # {"year", "category", "tenant_id"} for a ZIP


def derive_key(internal_secret: str) -> bytes:
    """The signing key derived from the internal secret for this one purpose."""
    return hmac.new(internal_secret.encode(), _PURPOSE, hashlib.sha256).digest()


def issue_file_token(key: bytes | str, grant: FileGrant, *, ttl_seconds: int, now: float | None = None) -> str:
    issued = int(now if now is not None else time.time())
    body = {"aud": _AUDIENCE, "iat": issued, "exp": issued + ttl_seconds, "pid": grant.person_id,
            "acc": [{"tenant_id": a.get("tenant_id"), "account_id": a.get("account_id"), "role": a.get("role")}
                    for a in grant.accounts]}
    if grant.document_id is not None:
        body["doc"] = grant.document_id
    if grant.archive is not None:
        body["arc"] = grant.archive
    return jwt.encode(body, key, algorithm=_ALGORITHM)


def verify_file_token(key: bytes | str, token: str, *, now: float | None = None) -> FileGrant:
    """The grant of a valid token; :class:`TokenInvalid` otherwise."""
    try:
        claims = jwt.decode(token, key, algorithms=[_ALGORITHM], audience=_AUDIENCE,
                            options={"require": ["exp", "iat", "pid"], "verify_exp": now is None})
    except jwt.PyJWTError as exc:
        raise TokenInvalid(type(exc).__name__) from exc
    if now is not None and claims["exp"] < now:
        raise TokenInvalid("ExpiredSignatureError")
    doc, archive = claims.get("doc"), claims.get("arc")
    if (doc is None) == (archive is None) or not isinstance(claims.get("acc", []), list):
        raise TokenInvalid("bad grant")
    return FileGrant(person_id=str(claims["pid"]), accounts=claims.get("acc") or [], document_id=doc,
                     archive=archive)
