"""Pure rules of the tenancy service: codes, API keys, directory cross-checks, activation counts.

No aiohttp, no asyncpg here: everything is unit tested without I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections import Counter
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import NamedTuple
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from common.errors import FieldError

__all__ = [
    "ACCOUNT_STATES",
    "CODE_PATTERN",
    "KINDS",
    "MAX_REPORTED_ERRORS",
    "REF_PATTERN",
    "ROLES",
    "Account",
    "ApiKey",
    "Lot",
    "Residence",
    "activation_series",
    "activation_stats",
    "api_key_matches",
    "check_directory_references",
    "hash_api_key",
    "login_url",
    "new_api_key",
    "parse_api_key_prefix",
    "period_starts",
    "referenced_refs",
    "residence_stats",
    "without_access",
]

KINDS = ("syndic", "gerance", "mixte")
ROLES = ("coproprietaire", "bailleur", "locataire")
# Identity's states of an account's access (internal-api.md, /internal/account-states).
ACCOUNT_STATES = ("credentials_issued", "pending_verification", "activated", "expired")
# What the console shows of an account's access: identity's state, "merged" for an account
# linked by a merge, "none" when no letter was ever issued.
ACCESS_STATES = ("none", "credentials_issued", "expired", "pending_verification", "activated", "merged")
CODE_PATTERN = r"^[A-Za-z0-9_-]{1,32}$"
# An agency ref: no ',' (the CSV lot_refs separator), ';' (the CSV delimiter) nor '/' (it is a URL
# path segment in DELETE /directory/accounts/{ref}).
REF_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
# A 32 MB document full of mistakes must not produce a bigger error document.
MAX_REPORTED_ERRORS = 1000
# The activation time series: calendar months or ISO weeks (from Monday), in UTC, over the last
# twelve months (12 months or 52 weeks, the current one included).
SERIES_PERIODS = {"month": 12, "week": 52}
# The agencies read their statistics in French time: a period starts at midnight in Paris.
PARIS = ZoneInfo("Europe/Paris")

_KEY_PREFIX = "mck"
_KEY_FORMAT = re.compile(r"^mck_([0-9a-f]{12})_[A-Za-z0-9_-]{43}$")


@dataclass(frozen=True)
class ApiKey:
    """A freshly generated agency API key: ``secret`` is shown once, only ``prefix``/``digest`` are stored."""

    secret: str
    prefix: str
    digest: bytes


def hash_api_key(key: str) -> bytes:
    """SHA-256 of the whole key: enough for a key with 256 random bits (no password stretching needed)."""
    return hashlib.sha256(key.encode()).digest()


def new_api_key() -> ApiKey:
    """``mck_<12 hex prefix>_<43 url-safe chars = 256 bits>``; the prefix finds the row, the hash proves it."""
    prefix = secrets.token_hex(6)
    secret = f"{_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    return ApiKey(secret=secret, prefix=prefix, digest=hash_api_key(secret))


def parse_api_key_prefix(key: str) -> str | None:
    """The lookup prefix of a well-formed key, or None (malformed keys never reach the database)."""
    match = _KEY_FORMAT.match(key)
    return match.group(1) if match else None


def api_key_matches(key: str, digest: bytes) -> bool:
    """Constant-time comparison of a presented key with the stored digest."""
    return hmac.compare_digest(hash_api_key(key), bytes(digest))


def login_url(public_base_url: str, client_code: str, societe_code: str) -> str:
    """The tenant's login page, built from configuration (never from request headers)."""
    return f"{public_base_url.rstrip('/')}/login?{urlencode({'client': client_code, 'societe': societe_code})}"


class Residence(NamedTuple):
    ref: str
    name: str
    address: str


class Lot(NamedTuple):
    ref: str
    residence_ref: str
    number: str
    kind: str


class Account(NamedTuple):
    """One account row of a directory document; ``where`` locates it in the input (for errors)."""

    ref: str
    role: str
    display_name: str
    email: str | None
    council: bool
    lot_refs: list[str]
    where: str


def check_directory_references(
    *,
    residences: Sequence[Residence],
    lots: Sequence[Lot],
    accounts: Sequence[Account],
    known_residence_refs: Iterable[str] = (),
    known_lot_refs: Iterable[str] = (),
) -> list[FieldError]:
    """Every cross-row problem of a directory document (rows already valid one by one).

    Duplicate refs, lots of unknown residences, accounts on unknown or repeated lots, council
    members who are not coproprietaires. ``known_*`` are the refs already stored for the tenant.
    """
    errors = _duplicates((f"residences[{i}].ref", r.ref) for i, r in enumerate(residences))
    errors += _duplicates((f"lots[{i}].ref", lot.ref) for i, lot in enumerate(lots))
    account_check = AccountReferenceCheck()
    account_check.check(accounts, set(known_lot_refs).union(lot.ref for lot in lots))
    errors += account_check.duplicates

    residence_refs = set(known_residence_refs).union(r.ref for r in residences)
    for i, lot in enumerate(lots):
        if lot.residence_ref not in residence_refs:
            errors.append(FieldError(f"lots[{i}].residence_ref", f"unknown residence ref {lot.residence_ref!r}"))
    return errors + account_check.others


def _duplicates(paths_and_refs: Iterable[tuple[str, str]]) -> list[FieldError]:
    first: dict[str, str] = {}
    errors = []
    for path, ref in paths_and_refs:
        if ref in first:
            errors.append(FieldError(path, f"duplicate ref {ref!r} (first at {first[ref]})"))
        else:
            first[ref] = path
    return errors


class AccountReferenceCheck:
    """The accounts' cross-row rules, checked chunk after chunk of one document: a ref met in an
    earlier chunk is a duplicate, a lot ref must be known, a council member must be a
    coproprietaire. ``duplicates`` and ``others`` keep the document's order within each kind."""

    def __init__(self) -> None:
        self._first: dict[str, str] = {}
        self.duplicates: list[FieldError] = []
        self.others: list[FieldError] = []

    @property
    def errors(self) -> list[FieldError]:
        """As check_directory_references orders them: the duplicates first."""
        return self.duplicates + self.others

    def check(self, accounts: Iterable[Account], known_lot_refs: Container[str]) -> None:
        """Check ``accounts``, the next ones of the document (read ``errors`` after)."""
        first = self._first
        for account in accounts:
            if account.ref in first:
                self.duplicates.append(FieldError(f"{account.where}.ref",
                                                  f"duplicate ref {account.ref!r} (first at {first[account.ref]})"))
            else:
                first[account.ref] = f"{account.where}.ref"
            if len(account.lot_refs) == 1 and account.lot_refs[0] in known_lot_refs:
                pass  # the common case, checked without building a set
            else:
                seen: set[str] = set()
                for j, ref in enumerate(account.lot_refs):
                    if ref not in known_lot_refs:
                        self.others.append(FieldError(f"{account.where}.lot_refs[{j}]", f"unknown lot ref {ref!r}"))
                    elif ref in seen:
                        self.others.append(FieldError(f"{account.where}.lot_refs[{j}]",
                                                      f"lot ref {ref!r} listed twice"))
                    seen.add(ref)
            if account.council and account.role != "coproprietaire":
                self.others.append(FieldError(f"{account.where}.council",
                                              "only a coproprietaire can be a council member"))


def referenced_refs(
    residences: Sequence[Residence], lots: Sequence[Lot], accounts: Sequence[Account]
) -> tuple[set[str], set[str]]:
    """Residence refs and lot refs a document points to without defining them (to look up in storage)."""
    residence_refs = {lot.residence_ref for lot in lots} - {r.ref for r in residences}
    defined_lots = {lot.ref for lot in lots}
    lot_refs = {ref for account in accounts for ref in account.lot_refs} - defined_lots
    return residence_refs, lot_refs


def without_access(active_account_ids: Iterable[str], states: Mapping[str, str]) -> list[str]:
    """Active accounts with neither live provisional credentials nor a linked person.

    Identity does not list accounts it never heard of; ``expired`` credentials give no access either.
    """
    return [a for a in active_account_ids if states.get(a, "expired") == "expired"]


def activation_stats(active_account_ids: Iterable[str], states: Mapping[str, str]) -> dict[str, int]:
    """The activation counts of a tenant's active accounts (AGENCY-API.md, activation statistics)."""
    ids = list(active_account_ids)
    counted = Counter(states.get(a) for a in ids)
    stats = {"accounts": len(ids), "without_credentials": counted.get(None, 0)}
    for state in ACCOUNT_STATES:
        stats[state] = counted.get(state, 0)
    return stats


def access_state(entry: Mapping[str, str] | None) -> str:
    """One of :data:`ACCESS_STATES` from identity's ``{"state", "via"}`` of an account (None: unknown)."""
    if not entry:
        return "none"
    if entry.get("state") == "activated" and entry.get("via") == "merge":
        return "merged"
    return entry.get("state") if entry.get("state") in ACCESS_STATES else "none"


def access_filter(wanted: str, states: Mapping[str, Mapping[str, str]]) -> tuple[list[str] | None, list[str] | None]:
    """The account ids to keep (``include``) or to leave out (``exclude``) for one access state."""
    if wanted == "none":
        return None, list(states)
    return [a for a, entry in states.items() if access_state(entry) == wanted], None


def residence_stats(residences: Iterable[tuple[str, str]], memberships: Iterable[tuple[str, str]],
                    states: Mapping[str, str]) -> list[dict]:
    """The activation counts per residence, in the order of ``residences`` (``(ref, name)``).

    ``memberships`` are ``(residence_ref, account_id)`` of the active accounts with a lot in the residence:
    an account with lots in several residences counts in each (so the residences' sum may exceed the
    tenant's total); one with several lots in one residence counts once there.
    """
    accounts_of: dict[str, set[str]] = {}
    for residence_ref, account_id in memberships:
        accounts_of.setdefault(residence_ref, set()).add(account_id)
    return [{"ref": ref, "name": name, **activation_stats(sorted(accounts_of.get(ref, ())), states)}
            for ref, name in residences]


def period_starts(now: datetime, period: str) -> list[date]:
    """The first days (Paris) of the periods of the series ending with the one of ``now``, oldest first."""
    today = now.astimezone(PARIS).date()
    count = SERIES_PERIODS[period]
    if period == "week":
        monday = today - timedelta(days=today.weekday())
        return [monday - timedelta(weeks=count - 1 - i) for i in range(count)]
    months = today.year * 12 + today.month - 1
    return [date((m // 12), m % 12 + 1, 1) for m in range(months - count + 1, months + 1)]


def activation_series(activated_at: Iterable[datetime], *, accounts: int, now: datetime, period: str) -> dict:
    """Accounts activated per period over the last twelve months, and the cumulative share activated.

    ``activated_at``: when each of the tenant's active, activated accounts was activated; ``accounts``:
    how many active accounts the tenant has today. The cumulative share is of today's accounts: an
    account closed (or reset) since is counted at no point, so the curve ends at today's share.
    An activation after ``now`` (clocks of two services) counts in the current period.
    """
    starts = period_starts(now, period)
    # Midnight in Paris on each first day, with that day's own offset (+01:00 or +02:00).
    first = datetime.combine(starts[0], datetime.min.time(), tzinfo=PARIS)
    bounds = [datetime.combine(d, datetime.min.time(), tzinfo=PARIS) for d in starts[1:]]
    before, counts = 0, [0] * len(starts)
    for moment in activated_at:
        if moment < first:
            before += 1
            continue
        index = 0
        while index < len(bounds) and moment >= bounds[index]:
            index += 1
        counts[index] += 1
    points, cumulative = [], before
    for start, count in zip(starts, counts, strict=True):
        cumulative += count
        points.append({"start": start.isoformat(), "activated": count, "cumulative": cumulative,
                       "cumulative_share": round(cumulative / accounts, 4) if accounts else 0.0})
    return {"period": period, "activated_before": before, "points": points}
