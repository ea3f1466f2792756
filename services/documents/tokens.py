"""Signed download URLs: ``/files/<token>``, verified by the documents service itself.

The token is an HS256 JWT signed with a documents-only key (``DOCUMENTS_URL_SIGNING_KEY``, or
HMAC(INTERNAL_AUTH_SECRET, purpose) when unset, so that an internal token can never pass for a
file token nor the reverse). It binds the person, the snapshot of their linked accounts taken
from their internal token, and either one document id or an archive selection; it lives about a
minute. Access is checked again when the file is served (withdrawal or closure since count).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
import uuid
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
    accounts: list[dict]  # [{"tenant_id", "account_id"}] from the internal token's ``acc``
    document_id: str | None = None
    archive: dict | None = None  # {"year", "category", "tenant_id"} for a ZIP


def derive_key(internal_secret: str) -> bytes:
    """The signing key derived from the internal secret for this one purpose."""
    return hmac.new(internal_secret.encode(), _PURPOSE, hashlib.sha256).digest()


def issue_file_token(key: bytes | str, grant: FileGrant, *, ttl_seconds: int, now: float | None = None) -> str:
    issued = int(now if now is not None else time.time())
    body = {"aud": _AUDIENCE, "iat": issued, "exp": issued + ttl_seconds, "pid": grant.person_id,
            "acc": _pack_accounts(grant.accounts)}
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
    if (doc is None) == (archive is None) or not isinstance(claims.get("acc"), str):
        raise TokenInvalid("bad grant")
    return FileGrant(person_id=str(claims["pid"]), accounts=_unpack_accounts(claims["acc"]), document_id=doc,
                     archive=archive)


def _pack_accounts(accounts: list[dict]) -> str:
    """(tenant id, account id) pairs as raw bytes in base64url: the URL stays short (the gateway and
    ingresses cap paths at a few KB) even for a person with dozens of accounts."""
    raw = bytearray()
    for account in accounts:
        try:
            raw += uuid.UUID(str(account["tenant_id"])).bytes + uuid.UUID(str(account["account_id"])).bytes
        except (KeyError, ValueError, TypeError):
            continue  # a malformed claim grants nothing anyway
    return base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


def _unpack_accounts(packed: str) -> list[dict]:
    try:
        raw = base64.urlsafe_b64decode(packed + "=" * (-len(packed) % 4))
    except (ValueError, binascii.Error) as exc:
        raise TokenInvalid("bad accounts") from exc
    if len(raw) % 32:
        raise TokenInvalid("bad accounts")
    return [{"tenant_id": str(uuid.UUID(bytes=raw[i:i + 16])), "account_id": str(uuid.UUID(bytes=raw[i + 16:i + 32]))}
            for i in range(0, len(raw), 32)]
