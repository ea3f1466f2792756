"""The rules of the second factor, free of I/O: TOTP (RFC 6238) with replay refusal, recovery
codes, the sealing of TOTP secrets at rest. Time is always passed in (``now``)."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from datetime import datetime
from enum import StrEnum

import pyotp
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.identity.domain import LOGIN_ALPHABET

__all__ = [
    "RECOVERY_CODE_COUNT",
    "TOTP_DIGITS",
    "TOTP_PERIOD",
    "CodeKind",
    "MfaRequirement",
    "SecretBox",
    "classify_code",
    "generate_recovery_codes",
    "new_totp_secret",
    "normalise_recovery_code",
    "otpauth_uri",
    "requirement_applies",
    "totp_step",
    "verify_totp",
]

TOTP_DIGITS = 6
TOTP_PERIOD = 30
# One step either side: a phone clock 30 s off still works, a code lives at most ~90 s.
TOTP_DRIFT_STEPS = 1
RECOVERY_CODE_COUNT = 10
_RECOVERY_LENGTH = 10  # 10 symbols of 31: ~49 bits, and only a few tries before the person locks
_DIGITS = re.compile(r"[0-9]{6}")


class MfaRequirement(StrEnum):
    """What an agency asks of its persons (tenancy setting ``mfa_requirement``)."""

    NONE = "none"
    COUNCIL = "council"  # the members of a conseil syndical
    ALL = "all"


def requirement_applies(requirement: str | None, *, is_council: bool) -> bool:
    """Whether a person must have a second factor under the agency's ``requirement``."""
    if requirement == MfaRequirement.ALL:
        return True
    return requirement == MfaRequirement.COUNCIL and is_council


def new_totp_secret() -> str:
    """A base32 secret of 160 bits (RFC 4226 recommends at least 128)."""
    return pyotp.random_base32(32)


def otpauth_uri(secret: str, *, account: str, issuer: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD).provisioning_uri(name=account,
                                                                                         issuer_name=issuer)


def totp_step(now: datetime) -> int:
    """The RFC 6238 time step of ``now`` (30-second periods since the epoch)."""
    return int(now.timestamp()) // TOTP_PERIOD


def verify_totp(secret: str, code: str, *, now: datetime, last_step: int | None) -> int | None:
    """The time step ``code`` matches, within one step of drift, or None.

    A step at or before ``last_step`` (the last accepted) is refused: a code, even a right one,
    works once; and an older code of the window cannot be played after a newer one was accepted.
    """
    code = "".join(code.split())
    if not _DIGITS.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD)
    current = totp_step(now)
    matched = None
    # Every candidate is computed and compared (no early exit): the time does not tell which matched.
    for step in range(current - TOTP_DRIFT_STEPS, current + TOTP_DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step).encode(), code.encode()) and matched is None:
            matched = step
    if matched is None or (last_step is not None and matched <= last_step):
        return None
    return matched


def generate_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    """``count`` codes like ``ABCDE-FGHJK`` (the unambiguous alphabet of provisional identifiers)."""
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(LOGIN_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def normalise_recovery_code(code: str) -> str:
    """Compared upper-case without spaces or dashes, as typed from a sheet of paper."""
    return "".join(ch for ch in code.strip().upper() if ch not in " -")


class CodeKind(StrEnum):
    TOTP = "totp"
    RECOVERY = "recovery"


def classify_code(code: str) -> CodeKind | None:
    """Six digits: an authenticator code; ten symbols: a recovery code; anything else: None."""
    compact = "".join(code.split())
    if _DIGITS.fullmatch(compact):
        return CodeKind.TOTP
    if len(normalise_recovery_code(code)) == _RECOVERY_LENGTH:
        return CodeKind.RECOVERY
    return None


class SecretBox:
    """AES-256-GCM sealing of TOTP secrets; the key derives from the IDENTITY_MFA_KEY setting.

    The person id is the associated data: a sealed secret copied to another person's row does not open.
    """

    def __init__(self, key_material: str) -> None:
        self._aead = AESGCM(hashlib.sha256(b"moncompte.mfa-secret:" + key_material.encode()).digest())

    def seal(self, secret: str, *, person_id: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, secret.encode(), str(person_id).encode())

    def open(self, sealed: bytes, *, person_id: str) -> str | None:
        try:
            return self._aead.decrypt(bytes(sealed[:12]), bytes(sealed[12:]), str(person_id).encode()).decode()
        except (InvalidTag, ValueError):
            return None
