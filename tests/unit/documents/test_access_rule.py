"""The access rule over every combination of role, audience, council flag, tenant, residence,
account status and withdrawal, for one account and for persons with several accounts."""

from __future__ import annotations

import itertools
import uuid

import pytest

from services.documents.domain import (
    AccountView,
    Audience,
    AudienceKind,
    DocumentAccess,
    audience_keys,
    can_see,
    resolve_accounts,
)

TENANT, OTHER_TENANT = uuid.uuid4(), uuid.uuid4()
RESIDENCE, OTHER_RESIDENCE = uuid.uuid4(), uuid.uuid4()
ME, SOMEONE = uuid.uuid4(), uuid.uuid4()
ROLES = ["coproprietaire", "bailleur", "locataire"]
AUDIENCES = {
    "my account": Audience(AudienceKind.ACCOUNT, ME),
    "another account": Audience(AudienceKind.ACCOUNT, SOMEONE),
    "my residence, all": Audience(AudienceKind.RESIDENCE_ALL, RESIDENCE),
    "my residence, council": Audience(AudienceKind.RESIDENCE_COUNCIL, RESIDENCE),
    "other residence, all": Audience(AudienceKind.RESIDENCE_ALL, OTHER_RESIDENCE),
    "other residence, council": Audience(AudienceKind.RESIDENCE_COUNCIL, OTHER_RESIDENCE),
}


def expected(role, council, closed, same_tenant, audience_name, withdrawn) -> bool:
    """The rule of the issue, written as a plain table, independently of domain.py."""
    if withdrawn or closed or not same_tenant:
        return False
    if audience_name == "my account":
        return True
    if audience_name == "my residence, all":
        return role == "coproprietaire"
    if audience_name == "my residence, council":
        return role == "coproprietaire" and council
    return False


COMBINATIONS = list(itertools.product(ROLES, [False, True], [False, True], [False, True], AUDIENCES,
                                      [False, True]))


@pytest.mark.parametrize(("role", "council", "closed", "same_tenant", "audience_name", "withdrawn"), COMBINATIONS)
def test_one_account(role, council, closed, same_tenant, audience_name, withdrawn):
    account = AccountView(account_id=ME, tenant_id=TENANT if same_tenant else OTHER_TENANT, role=role,
                          council=council, closed=closed, residence_ids=frozenset({RESIDENCE}))
    document = DocumentAccess(tenant_id=TENANT, audience=AUDIENCES[audience_name], withdrawn=withdrawn)
    want = expected(role, council, closed, same_tenant, audience_name, withdrawn)
    assert can_see(document, [account]) is want
    # The set form used by listing and downloads agrees (tenant implied by globally unique ids,
    # so it is only compared where the account is in the document's tenant).
    if same_tenant:
        by_keys = not withdrawn and document.audience.key in audience_keys([account])
        assert by_keys is want


def test_count_of_combinations():
    assert len(COMBINATIONS) == 3 * 2 * 2 * 2 * 6 * 2


@pytest.mark.parametrize("audience_name", list(AUDIENCES))
def test_a_person_sees_what_any_of_their_accounts_sees(audience_name):
    """Every pair of accounts (all roles and flags): the person sees iff one of the two would."""
    variants = [AccountView(account_id=ME if i == 0 else uuid.uuid4(), tenant_id=TENANT, role=role, council=council,
                            closed=closed, residence_ids=frozenset({RESIDENCE}))
                for i, (role, council, closed) in enumerate(itertools.product(ROLES, [False, True], [False, True]))]
    document = DocumentAccess(tenant_id=TENANT, audience=AUDIENCES[audience_name])
    for first, second in itertools.product(variants, repeat=2):
        alone = can_see(document, [first]) or can_see(document, [second])
        assert can_see(document, [first, second]) is alone
        assert (document.audience.key in audience_keys([first, second])) is alone


def test_keys_name_the_granting_accounts():
    council = AccountView(ME, TENANT, "coproprietaire", council=True, residence_ids=frozenset({RESIDENCE}))
    plain = AccountView(SOMEONE, TENANT, "coproprietaire", residence_ids=frozenset({RESIDENCE, OTHER_RESIDENCE}))
    tenant = AccountView(uuid.uuid4(), TENANT, "locataire", residence_ids=frozenset({RESIDENCE}))
    keys = audience_keys([council, plain, tenant])
    assert keys[Audience(AudienceKind.RESIDENCE_ALL, RESIDENCE).key] == {ME, SOMEONE}
    assert keys[Audience(AudienceKind.RESIDENCE_COUNCIL, RESIDENCE).key] == {ME}
    assert keys[Audience(AudienceKind.RESIDENCE_ALL, OTHER_RESIDENCE).key] == {SOMEONE}
    assert keys[Audience(AudienceKind.ACCOUNT, tenant.account_id).key] == {tenant.account_id}
    assert len(keys) == 6


def test_resolve_accounts_trusts_the_claims_and_the_projection_together():
    known = {ME: AccountView(ME, TENANT, "coproprietaire")}
    assert resolve_accounts([{"tenant_id": str(TENANT), "account_id": str(ME)}], known) == [known[ME]]
    # Claimed in another tenant, unknown, or malformed: nothing.
    assert resolve_accounts([{"tenant_id": str(OTHER_TENANT), "account_id": str(ME)}], known) == []
    assert resolve_accounts([{"tenant_id": str(TENANT), "account_id": str(SOMEONE)}], known) == []
    assert resolve_accounts([{"tenant_id": "x", "account_id": str(ME)}, {"account_id": str(ME)}], known) == []
    # The same account claimed twice counts once.
    assert len(resolve_accounts([{"tenant_id": str(TENANT), "account_id": str(ME)}] * 2, known)) == 1
