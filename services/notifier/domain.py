"""The notifier's pure rules: event payloads, tenant branding, dates in French, Message-IDs.

No I/O here (neither aiohttp nor asyncpg): everything is unit tested from plain values.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationError, field_validator

PARIS = ZoneInfo("Europe/Paris")
DEFAULT_COLOR = "#1F4E79"
_HEX_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")
# Anything a header or a single line must never carry: CR, LF and the other C0/C1 controls.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_MESSAGE_ID_NAMESPACE = uuid.UUID("6a0f3f0e-4d7c-4a39-9c8e-2f1d0f6b7e11")

EMAIL_VERIFICATION = "identity.email_verification_requested"
PASSWORD_RESET = "identity.password_reset_requested"  # noqa: S105
PASSWORD_CHANGED = "identity.password_changed"  # noqa: S105
ACCOUNT_LINKED = "identity.account_linked"
DOCUMENT_PUBLISHED = "documents.document_published"
STAFF_INVITED = "identity.staff_invited"
ACCOUNT_UNLINKED = "identity.account_unlinked"
CONSENT_CHANGED = "documents.consent_changed"
MFA_CHANGED = "identity.mfa_changed"
EVENT_TYPES = (EMAIL_VERIFICATION, PASSWORD_RESET, PASSWORD_CHANGED, ACCOUNT_LINKED, DOCUMENT_PUBLISHED,
               STAFF_INVITED, ACCOUNT_UNLINKED, CONSENT_CHANGED, MFA_CHANGED)
UNLINK_REASONS = {"sold": "la vente du lot", "wrong_merge": "un rattachement erroné",
                  "other": "une décision de votre agence"}
STAFF_ROLE_LABELS = {"admin": "administrateur", "gestionnaire": "gestionnaire"}

ROLE_LABELS = {"coproprietaire": "copropriétaire", "bailleur": "propriétaire bailleur", "locataire": "locataire"}
_DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
_MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre")


class MalformedEvent(ValueError):
    """An event's payload misses a field or carries an invalid value; it can never be delivered."""


def one_line(value: str | None, *, limit: int = 200) -> str:
    """A value fit for one line of text or a header: controls become spaces, length is capped."""
    if not value:
        return ""
    return re.sub(r"\s+", " ", _CONTROLS.sub(" ", value)).strip()[:limit]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)


class VerificationRequested(_Payload):
    person_id: uuid.UUID
    email: EmailStr
    display_name: str | None = Field(default=None, max_length=500)
    tenant_id: uuid.UUID
    verification_url: str = Field(max_length=2000)
    expires_at: datetime
    # The account being activated: the email says which agency and lot it is for (older events lack it).
    account_id: uuid.UUID | None = None
    role: str | None = Field(default=None, max_length=50)


class ResetRequested(_Payload):
    person_id: uuid.UUID
    email: EmailStr
    tenant_id: uuid.UUID
    reset_url: str = Field(max_length=2000)
    expires_at: datetime


class PasswordChanged(_Payload):
    person_id: uuid.UUID
    email: EmailStr
    tenant_id: uuid.UUID
    reason: Literal["change", "reset"]
    changed_at: datetime


class MfaChanged(_Payload):
    """A second factor was added or removed, or a recovery code was used (a security notice)."""

    person_id: uuid.UUID
    email: EmailStr
    tenant_id: uuid.UUID
    kind: Literal["added", "removed", "recovery_used"]
    factor: Literal["totp", "passkey", "recovery_code"]
    changed_at: datetime


class AccountLinked(_Payload):
    person_id: uuid.UUID
    email: EmailStr
    tenant_id: uuid.UUID
    account_id: uuid.UUID
    role: str = Field(max_length=50)
    via: Literal["activation", "merge"]


class DocumentPublished(_Payload):
    document_id: uuid.UUID
    tenant_id: uuid.UUID
    title: str = Field(max_length=500)
    category: str | None = Field(default=None, max_length=100)
    category_label: str | None = Field(default=None, max_length=200)
    date: str | None = Field(default=None, max_length=40)
    audience_account_ids: list[uuid.UUID] = Field(min_length=1, max_length=100_000)
    # Accounts without consent to electronic notification for this category (a convocation, a fund
    # call): the agency sends them by post and no email goes to them (older events lack it).
    paper_account_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100_000)


class ConsentLotLine(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    ref: str = Field(max_length=64)
    number: str | None = Field(default=None, max_length=64)
    residence_ref: str | None = Field(default=None, max_length=64)


class ConsentChanged(_Payload):
    """A consent to electronic notification given or revoked (documents' register)."""

    tenant_id: uuid.UUID
    account_id: uuid.UUID
    account_ref: str = Field(max_length=64)
    person_id: uuid.UUID
    kind: Literal["notifications", "mises_en_demeure", "appels_de_fonds"]
    kind_label: str = Field(max_length=200)
    given: bool
    at: datetime
    wording: str = Field(max_length=4000)
    lots: list[ConsentLotLine] = Field(default_factory=list, max_length=500)


class StaffInvited(_Payload):
    staff_id: uuid.UUID
    tenant_id: uuid.UUID
    email: EmailStr
    display_name: str | None = Field(default=None, max_length=200)
    role: Literal["admin", "gestionnaire"]
    invited_by: str | None = Field(default=None, max_length=200)
    invitation_token: str = Field(min_length=16, max_length=256, pattern=r"^[A-Za-z0-9_-]+$")
    expires_at: datetime


class AccountUnlinked(_Payload):
    person_id: uuid.UUID
    email: EmailStr
    tenant_id: uuid.UUID
    account_id: uuid.UUID
    role: str = Field(max_length=50)
    reason: Literal["sold", "wrong_merge", "other"]


PAYLOADS: dict[str, type[_Payload]] = {
    EMAIL_VERIFICATION: VerificationRequested,
    PASSWORD_RESET: ResetRequested,
    PASSWORD_CHANGED: PasswordChanged,
    ACCOUNT_LINKED: AccountLinked,
    DOCUMENT_PUBLISHED: DocumentPublished,
    STAFF_INVITED: StaffInvited,
    ACCOUNT_UNLINKED: AccountUnlinked,
    CONSENT_CHANGED: ConsentChanged,
    MFA_CHANGED: MfaChanged,
}


def parse_payload(event_type: str, payload: dict) -> _Payload:
    """The typed payload of a known event type; :class:`MalformedEvent` with the reason otherwise."""
    model = PAYLOADS.get(event_type)
    if model is None:
        raise MalformedEvent(f"unexpected event type {event_type!r}")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "payload"
        raise MalformedEvent(f"{event_type}: {where}: {first['msg']}") from None


class Support(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    email: str | None = None
    phone: str | None = None
    hours: str | None = None


class Branding(BaseModel):
    """What an email needs of a tenant (the ``Tenant`` of tenancy's internal API)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: uuid.UUID
    client_code: str
    societe_code: str
    name: str
    status: str = "active"
    support: Support = Support()
    primary_color: str = DEFAULT_COLOR

    @field_validator("primary_color")
    @classmethod
    def _safe_color(cls, value: str) -> str:
        # The colour lands in inline CSS, where HTML escaping protects nothing: only #RRGGBB passes.
        return value if _HEX_COLOR.match(value or "") else DEFAULT_COLOR

    @classmethod
    def from_tenant(cls, tenant: dict) -> Branding:
        branding = tenant.get("branding") or {}
        return cls.model_validate({**tenant, "support": tenant.get("support") or {},
                                   "primary_color": branding.get("primary_color") or DEFAULT_COLOR})

    @property
    def text_color(self) -> str:
        """Black or white, whichever reads better on the tenant colour (WCAG relative luminance)."""
        channels = [int(self.primary_color[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
        return "#111111" if luminance > 0.4 else "#FFFFFF"


_MAX_PLACES = 4


def account_places(account: dict | None) -> str:
    """Where an account's lots are, in one line: ``Résidence Les Tilleuls (3 rue des Lilas) : lot 12,
    lot 13``; residences in order, at most a few, the rest counted. Empty when nothing is known."""
    if not account:
        return ""
    by_residence: dict[str, list[str]] = {}
    for lot in account.get("lots") or []:
        residence = lot.get("residence") or {}
        name = one_line(residence.get("name"), limit=80) or one_line(residence.get("ref"), limit=40)
        address = one_line(residence.get("address"), limit=120)
        key = f"{name} ({address})" if name and address else name or address
        number = one_line(lot.get("number") or lot.get("ref"), limit=20)
        by_residence.setdefault(key, []).append(f"lot {number}" if number else "")
    parts = []
    for place, lots in by_residence.items():
        named = ", ".join(x for x in lots if x)
        parts.append(f"{place} : {named}" if place and named else place or named)
    shown = "; ".join(p for p in parts[:_MAX_PLACES] if p)
    more = len(parts) - _MAX_PLACES
    return shown + (f" et {more} autre" + ("s" if more > 1 else "") if more > 0 else "")


def check_link(url: str, public_base_url: str) -> str:
    """Refuse a link that does not point into our public site (a forged event must not phish)."""
    base = urlsplit(public_base_url)
    link = urlsplit(url)
    if link.scheme not in ("http", "https") or (link.scheme, link.netloc) != (base.scheme, base.netloc) \
            or not link.path.startswith(base.path or "/") or _CONTROLS.search(url):
        raise MalformedEvent("link outside PUBLIC_BASE_URL")
    return url


def paris_time(moment: datetime) -> str:
    """``jeudi 15 janvier 2026 à 10 h 00``: a moment said as a reader in France says it."""
    local = moment.astimezone(PARIS)
    day = "1er" if local.day == 1 else str(local.day)
    return (f"{_DAYS[local.weekday()]} {day} {_MONTHS[local.month - 1]} {local.year}"
            f" à {local.hour} h {local.minute:02d}")


def validity(issued_at: datetime, expires_at: datetime) -> str:
    """``24 heures`` / ``30 minutes`` / ``7 jours``: how long a link stays valid, rounded down."""
    minutes = max(0, int((expires_at - issued_at).total_seconds() // 60))
    if minutes >= 2 * 24 * 60 and minutes % (24 * 60) == 0:
        return f"{minutes // (24 * 60)} jours"
    if minutes >= 60:
        hours = minutes // 60
        return f"{hours} heure" + ("s" if hours > 1 else "")
    return f"{minutes} minute" + ("s" if minutes > 1 else "")


def french_date(value: str | None) -> str:
    """``2026-01-15`` -> ``15/01/2026``; anything else is returned as one safe line."""
    if value and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value[:10]):
        return f"{value[8:10]}/{value[5:7]}/{value[0:4]}"
    return one_line(value, limit=40)


def message_id(key: str, sender: str) -> str:
    """A stable ``Message-ID`` for one email (a resend of the same email carries the same one)."""
    domain = sender.rpartition("@")[2] or "moncompte.immo"
    return f"<{uuid.uuid5(_MESSAGE_ID_NAMESPACE, key)}@{domain}>"


def delivery_key(event_id: uuid.UUID | str, recipient: str) -> str:
    return f"{event_id}:{recipient.lower()}"


def digest_key(event_ids: list[uuid.UUID | str], recipient: str) -> str:
    joined = ",".join(sorted(str(e) for e in event_ids))
    return "digest:" + hashlib.sha256(joined.encode()).hexdigest() + ":" + recipient.lower()


def ascii_address(address: str) -> str:
    """The address as it travels in SMTP without SMTPUTF8: an international domain in IDNA
    (``exämple.fr`` -> ``xn--exmple-cua.fr``); a non-ASCII local part cannot be sent (refused)."""
    local, _, host = address.rpartition("@")
    if not local.isascii():
        raise MalformedEvent("address with a non-ASCII local part (needs SMTPUTF8, not supported)")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise MalformedEvent("address with an invalid domain") from None
    return f"{local}@{host}"


def smtp_code_is_permanent(code: int) -> bool:
    """5xx: the server will never accept this (for this recipient); 4xx and the rest: try later."""
    return 500 <= code < 600
