"""The rules of identity, free of I/O: provisional credentials, activation/merge flows, tokens,
throttling arithmetic and email normalisation. Time is always passed in (``now``)."""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from email_validator import EmailNotValidError, validate_email

__all__ = [
    "LOGIN_ALPHABET",
    "PASSWORD_ALPHABET",
    "PERSON_NAMING_CREDENTIAL_STATES",
    "PROVISIONAL_HASH_PREFIX",
    "CredentialStatus",
    "FlowStep",
    "InvalidEmail",
    "LoginGate",
    "StepRefused",
    "Window",
    "credential_failure",
    "credential_state",
    "email_key",
    "generate_login",
    "generate_provisional_password",
    "hash_provisional_password",
    "hash_secret",
    "is_keyed_provisional_hash",
    "login_failure",
    "login_gate",
    "new_secret",
    "normalise_email",
    "normalise_login",
    "provisional_password_matches",
    "require_step",
    "resend_available_at",
    "step_after_email",
    "window_hit",
]

# No 0/O, 1/I/l: easy to read from a letter and type back.
LOGIN_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
PASSWORD_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789"  # noqa: S105 (an alphabet, not a password)
LOGIN_LENGTH = 8
PASSWORD_LENGTH = 12  # 12 * log2(55) ~ 69 bits


def generate_login() -> str:
    """A provisional identifier: 8 characters of the unambiguous upper-case alphabet."""
    return "".join(secrets.choice(LOGIN_ALPHABET) for _ in range(LOGIN_LENGTH))


def generate_provisional_password() -> str:
    """A provisional password of about 69 random bits."""
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))


def normalise_login(login: str) -> str:
    """Identifiers are compared upper-case, ignoring surrounding spaces and inner dashes/spaces."""
    return "".join(ch for ch in login.strip().upper() if ch not in " -")


# ---- provisional credentials ---------------------------------------------------------------

class CredentialStatus(StrEnum):
    ISSUED = "issued"
    ACTIVATING = "activating"  # used to create a person whose email is not verified yet
    ACTIVATED = "activated"
    MERGED = "merged"
    REVOKED = "revoked"
    EXPIRED = "expired"


USABLE_CREDENTIAL_STATES = frozenset({CredentialStatus.ISSUED, CredentialStatus.ACTIVATING})
# A letter that was used to reach a person still names that person (forgotten password by identifier).
PERSON_NAMING_CREDENTIAL_STATES = frozenset({CredentialStatus.ACTIVATED, CredentialStatus.MERGED})


def credential_state(status: str, expires_at: datetime, now: datetime) -> CredentialStatus:
    """The effective state: an issued or activating credential past its expiry is expired."""
    state = CredentialStatus(status)
    if state in USABLE_CREDENTIAL_STATES and now >= expires_at:
        return CredentialStatus.EXPIRED
    return state


def credential_failure(failures: int, now: datetime, *, max_failures: int, lock_seconds: int
                       ) -> tuple[int, datetime | None]:
    """After one wrong provisional password: the new failure count and the lock end, if any.

    The ``max_failures``-th failure locks that credential (and nothing else) and restarts the count.
    """
    failures += 1
    if failures >= max_failures:
        return 0, now + timedelta(seconds=lock_seconds)
    return failures, None


# ---- activation / merge flows --------------------------------------------------------------

class FlowStep(StrEnum):
    EMAIL = "email"
    PASSWORD = "password"  # noqa: S105
    MERGE = "merge"
    PENDING_VERIFICATION = "pending_verification"
    DONE = "done"


class StepRefused(Exception):
    """The flow is not at a step where this action is allowed."""

    def __init__(self, current: FlowStep, action: str) -> None:
        super().__init__(f"{action} refused at step {current}")
        self.current = current
        self.action = action


# Which steps each action may run from. Choosing the email again is allowed from the password
# and merge steps (the "back" button); restart only makes sense once a link is pending.
ALLOWED_FROM: dict[str, frozenset[FlowStep]] = {
    "email": frozenset({FlowStep.EMAIL, FlowStep.PASSWORD, FlowStep.MERGE}),
    "password": frozenset({FlowStep.PASSWORD}),
    "merge": frozenset({FlowStep.MERGE}),
    "resend": frozenset({FlowStep.PENDING_VERIFICATION}),
    "restart": frozenset({FlowStep.PENDING_VERIFICATION, FlowStep.PASSWORD, FlowStep.MERGE}),
}


def require_step(current: str, action: str) -> FlowStep:
    """Return the current step if ``action`` may run from it; raise :class:`StepRefused` otherwise."""
    step = FlowStep(current)
    if step not in ALLOWED_FROM[action]:
        raise StepRefused(step, action)
    return step


def step_after_email(*, email_belongs_to_person: bool) -> FlowStep:
    """A new email leads to choosing a password; a known one to the merge step."""
    return FlowStep.MERGE if email_belongs_to_person else FlowStep.PASSWORD


def step_after_start(credential: CredentialStatus) -> FlowStep:
    """Entering the credentials of a pending activation resumes at the verification step."""
    if credential == CredentialStatus.ACTIVATING:
        return FlowStep.PENDING_VERIFICATION
    if credential == CredentialStatus.ISSUED:
        return FlowStep.EMAIL
    raise StepRefused(FlowStep.EMAIL, "start")


# ---- emails --------------------------------------------------------------------------------

class InvalidEmail(ValueError):
    """Not a syntactically valid email address."""


def normalise_email(raw: str) -> str:
    """NFKC, trimmed, validated; the domain lower-cased (IDNA), the local part kept as typed."""
    text = unicodedata.normalize("NFKC", raw).strip()
    if not text or len(text) > 254:
        raise InvalidEmail("empty or too long")
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmail(str(exc)) from None
    return result.normalized


def email_key(email: str) -> str:
    """The uniqueness key of an email: compared case-insensitively after normalisation."""
    return email.casefold()


# ---- tokens and secrets ----------------------------------------------------------------------

def new_secret(nbytes: int = 32) -> str:
    """An url-safe random secret (default 256 bits; tokens use at least 128)."""
    return secrets.token_urlsafe(nbytes)


def hash_secret(key: bytes, raw: str) -> bytes:
    """The keyed hash under which a token or session id is stored (the raw value never is)."""
    return hmac.new(key, raw.encode(), hashlib.sha256).digest()


# A provisional password is drawn by the system (~69 random bits), single use, expiring and locked
# after a few failures: a slow hash, which protects guessable human passwords, buys nothing here
# (2^69 guesses are out of reach either way) and cost ~29 ms of argon2id per account of a batch,
# queued ahead of every login. It is stored as a keyed HMAC-SHA-256, like tokens; without a salt
# since every password is random and unique, and precomputation needs the key (not in the database).
PROVISIONAL_HASH_PREFIX = "$hmac-sha256$"
# Derives the provisional-password key from the token key: no token or session hash can ever be
# equal to a provisional-password hash, nor be checked as one.
_PROVISIONAL_KEY_LABEL = b"moncompte/identity/provisional-password/v1"
_DUMMY_PROVISIONAL_HASH = PROVISIONAL_HASH_PREFIX + "0" * 64


def _provisional_key(token_key: bytes) -> bytes:
    return hmac.new(token_key, _PROVISIONAL_KEY_LABEL, hashlib.sha256).digest()


def hash_provisional_password(token_key: bytes, password: str) -> str:
    """The stored form of a system-generated provisional password (never for a person's password)."""
    digest = hmac.new(_provisional_key(token_key), password.encode(), hashlib.sha256).hexdigest()
    return PROVISIONAL_HASH_PREFIX + digest


def is_keyed_provisional_hash(stored: str) -> bool:
    """Whether ``stored`` is of :func:`hash_provisional_password` (else: argon2id, letters issued before)."""
    return stored.startswith(PROVISIONAL_HASH_PREFIX)


def provisional_password_matches(token_key: bytes, stored: str | None, password: str) -> bool:
    """``password`` against a keyed ``stored`` hash, in constant time. ``stored=None`` (an unknown
    identifier) does the same work against a dummy and fails, so that it costs what a known one costs."""
    candidate = hash_provisional_password(token_key, password).encode()
    same = hmac.compare_digest(candidate, (stored or _DUMMY_PROVISIONAL_HASH).encode())
    return same and stored is not None


def token_usable(*, expires_at: datetime, used_at: datetime | None, now: datetime) -> bool:
    """A token works once, before its expiry (superseded tokens are marked used)."""
    return used_at is None and now < expires_at


# ---- throttling -----------------------------------------------------------------------------

@dataclass(frozen=True)
class LoginGate:
    """Whether a password may be checked now; ``retry_after`` seconds otherwise."""

    allowed: bool
    retry_after: int = 0


def login_gate(*, failures: int, last_failed_at: datetime | None, locked_until: datetime | None,
               now: datetime, delay_after: int, max_delay: int) -> LoginGate:
    """Locked persons wait for the lock's end; from ``delay_after`` failures each attempt waits
    a delay doubling per failure (1 s, 2 s, 4 s... capped at ``max_delay``)."""
    if locked_until is not None and now < locked_until:
        return LoginGate(False, math.ceil((locked_until - now).total_seconds()))
    if failures >= delay_after and last_failed_at is not None:
        delay = min(2 ** (failures - delay_after), max_delay)
        ready = last_failed_at + timedelta(seconds=delay)
        if now < ready:
            return LoginGate(False, math.ceil((ready - now).total_seconds()))
    return LoginGate(True)


def login_failure(*, failures: int, locked_until: datetime | None, now: datetime, lock_after: int,
                  lock_seconds: int) -> tuple[int, datetime | None]:
    """The failure count and lock after one more failure. Reaching ``lock_after`` locks for
    ``lock_seconds`` and restarts the count: a lock is never permanent."""
    if locked_until is not None and now >= locked_until:
        locked_until = None
    failures += 1
    if failures >= lock_after:
        return 0, now + timedelta(seconds=lock_seconds)
    return failures, locked_until


@dataclass(frozen=True)
class Window:
    """A fixed-window counter (rate limits per IP, per target...)."""

    count: int
    started_at: datetime


def window_hit(window: Window | None, *, now: datetime, limit: int, period_seconds: int
               ) -> tuple[Window, int | None]:
    """Count one hit; return the new window and ``retry_after`` when the limit is exceeded.

    A refused hit is not counted, so a caller stuck at the limit is free again at the window's end.
    """
    if window is None or now >= window.started_at + timedelta(seconds=period_seconds):
        window = Window(0, now)
    if window.count >= limit:
        end = window.started_at + timedelta(seconds=period_seconds)
        return window, max(1, math.ceil((end - now).total_seconds()))
    return Window(window.count + 1, window.started_at), None


def resend_available_at(window: Window | None, *, last_at: datetime | None, now: datetime, cooldown_seconds: int,
                        limit: int, period_seconds: int) -> datetime | None:
    """When the verification email may be sent again (None: now).

    The later of the cooldown after the last email and, once ``limit`` emails were sent in the
    window, the window's end: the very rules :func:`window_hit` and the cooldown apply.
    """
    if window is None or not window.count:
        return None
    ends = []
    if last_at is not None:
        ends.append(last_at + timedelta(seconds=cooldown_seconds))
    window_end = window.started_at + timedelta(seconds=period_seconds)
    if now < window_end and window.count >= limit:
        ends.append(window_end)
    at = max(ends, default=None)
    return at if at is not None and now < at else None
