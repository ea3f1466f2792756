"""Pure rules of the documents service: audiences, the access rule, category consistency.

No I/O here. The access rule is one function (:func:`can_see`); listing and downloads use its
set form (:func:`audience_keys`), and the unit tests check that both always agree.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from services.documents.categories import Category

__all__ = [
    "COPROPRIETAIRE",
    "ROLES",
    "AccountView",
    "Audience",
    "AudienceKind",
    "DocumentAccess",
    "audience_keys",
    "audience_problems",
    "can_see",
    "grants",
    "resolve_accounts",
]

COPROPRIETAIRE = "coproprietaire"
ROLES = ("coproprietaire", "bailleur", "locataire")


class AudienceKind(StrEnum):
    ACCOUNT = "account"
    RESIDENCE_ALL = "residence_all"
    RESIDENCE_COUNCIL = "residence_council"


_KEY_PREFIX = {AudienceKind.ACCOUNT: "a", AudienceKind.RESIDENCE_ALL: "r", AudienceKind.RESIDENCE_COUNCIL: "c"}


@dataclass(frozen=True)
class Audience:
    """Who a document is published to: one account, or a residence (all co-owners or its council)."""

    kind: AudienceKind
    target_id: uuid.UUID  # an account id or a residence id

    @property
    def key(self) -> str:
        """The indexed form: ``a:<account>``, ``r:<residence>`` (all) or ``c:<residence>`` (council)."""
        return f"{_KEY_PREFIX[self.kind]}:{self.target_id}"


@dataclass(frozen=True)
class AccountView:
    """One of a person's linked accounts, as the directory projection knows it."""

    account_id: uuid.UUID
    tenant_id: uuid.UUID
    role: str
    council: bool = False
    closed: bool = False
    residence_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)


@dataclass(frozen=True)
class DocumentAccess:
    """What the access rule needs to know about a document."""

    tenant_id: uuid.UUID
    audience: Audience
    withdrawn: bool = False


def resolve_accounts(claimed: Iterable[Mapping], known: Mapping[uuid.UUID, AccountView]) -> list[AccountView]:
    """The person's accounts: those of the signed claims that the projection knows in the same tenant.

    ``claimed`` is the internal token's ``acc`` list (the only source of who the person is);
    the projection adds role, council flag, residences and status. A claimed account unknown to
    the projection, or claimed in another tenant than its own, grants nothing.
    """
    result: dict[uuid.UUID, AccountView] = {}
    for item in claimed:
        try:
            account_id = uuid.UUID(str(item["account_id"]))
            tenant_id = uuid.UUID(str(item["tenant_id"]))
        except (KeyError, ValueError, TypeError):
            continue
        view = known.get(account_id)
        if view is not None and view.tenant_id == tenant_id:
            result[account_id] = view
    return list(result.values())


def grants(account: AccountView, document: DocumentAccess) -> bool:
    """Whether this one account gives sight of the document (withdrawal aside)."""
    if account.closed or account.tenant_id != document.tenant_id:
        return False
    audience = document.audience
    if audience.kind is AudienceKind.ACCOUNT:
        return audience.target_id == account.account_id
    # Residence documents are for co-owners only: a locataire or bailleur never sees them.
    if account.role != COPROPRIETAIRE or audience.target_id not in account.residence_ids:
        return False
    return audience.kind is AudienceKind.RESIDENCE_ALL or account.council


def can_see(document: DocumentAccess, accounts: Iterable[AccountView]) -> bool:
    """THE access rule: not withdrawn, and one of the person's accounts grants it."""
    return not document.withdrawn and any(grants(a, document) for a in accounts)


def audience_keys(accounts: Iterable[AccountView]) -> dict[str, set[uuid.UUID]]:
    """Every audience key the accounts can see, with the accounts that grant each one.

    The set form of :func:`can_see`: a document is visible iff it is not withdrawn and its
    audience key is here (keys embed globally unique ids, so the tenant is implied).
    """
    keys: dict[str, set[uuid.UUID]] = {}

    def add(audience: Audience, account: AccountView) -> None:
        keys.setdefault(audience.key, set()).add(account.account_id)

    for account in accounts:
        if account.closed:
            continue
        add(Audience(AudienceKind.ACCOUNT, account.account_id), account)
        if account.role != COPROPRIETAIRE:
            continue
        for residence_id in account.residence_ids:
            add(Audience(AudienceKind.RESIDENCE_ALL, residence_id), account)
            if account.council:
                add(Audience(AudienceKind.RESIDENCE_COUNCIL, residence_id), account)
    return keys


def audience_problems(category: Category, kind: AudienceKind, account_role: str | None = None) -> list[str]:
    """Why a category cannot be published to this audience (empty when it can).

    ``account_role`` is the role of the audience account (for ``account`` audiences).
    """
    expected = {"ALL": AudienceKind.RESIDENCE_ALL, "CS": AudienceKind.RESIDENCE_COUNCIL,
                "ACCOUNT": AudienceKind.ACCOUNT}[category.audience]
    if kind is not expected:
        wanted = {AudienceKind.RESIDENCE_ALL: "a residence (all co-owners)",
                  AudienceKind.RESIDENCE_COUNCIL: "a residence's council (council_only)",
                  AudienceKind.ACCOUNT: f"one {category.role} account"}[expected]
        return [f"category {category.code} can only be published to {wanted}"]
    if kind is AudienceKind.ACCOUNT and account_role != category.role:
        return [f"category {category.code} is for {category.role} accounts, not {account_role}"]
    return []
