"""Identity's internal routes answer for the tenant of the token only (issue 18).

A token for tenant A never issues credentials, reads account states or recipients of tenant B,
and a call forwarded from the public API (``via`` = public-api) reaches none of identity's routes.
"""

from __future__ import annotations

import uuid

from common.internal_auth import PUBLIC_API, issue_token
from tests.integration.identity.conftest import Tenant, unique_email


def _issue_body(tenant: Tenant, account_id: str | None = None) -> dict:
    return {"tenant_id": tenant.id, "accounts": [{"account_id": account_id or str(uuid.uuid4()),
                                                  "role": "coproprietaire", "display_name": "M. Martin"}]}


async def test_credentials_are_issued_only_for_the_tokens_tenant(identity):
    other = Tenant()
    response = await identity.post("/internal/provisional-credentials", _issue_body(other))
    assert response.status == 403 and (await response.json())["error"] == "forbidden"
    no_tenant = issue_token(identity.settings.internal_auth_secret.get_secret_value(), issuer="tenancy",
                            audience="identity")
    response = await identity.client.post("/internal/provisional-credentials", json=_issue_body(other),
                                          headers={"Authorization": f"Internal {no_tenant}"})
    assert response.status == 403
    assert await identity.sql("SELECT 1 FROM credentials WHERE tenant_id = $1", uuid.UUID(other.id)) == []


async def test_an_account_of_another_tenant_is_refused_even_with_a_matching_token(identity):
    other = Tenant()
    cred = await identity.issue(tenant=other)
    body = _issue_body(identity.tenant, cred["account_id"])
    response = await identity.post("/internal/provisional-credentials", body)
    assert response.status == 201
    assert (await response.json()) == {"credentials": [], "refused": [{"account_id": cred["account_id"],
                                                                       "error": "other_tenant"}]}
    # The other tenant's letter is untouched: it still opens an activation at its own tenant.
    assert (await identity.start(cred, tenant=other))["step"] == "email"


async def test_account_states_only_for_the_tokens_tenant(identity):
    other = Tenant()
    await identity.issue(tenant=other)
    response = await identity.post("/internal/account-states", {"tenant_id": other.id})
    assert response.status == 403
    response = await identity.post("/internal/account-states", {"tenant_id": other.id}, tenant=other)
    assert response.status == 200 and len((await response.json())["states"]) == 1


async def test_recipients_are_those_of_the_tokens_tenant(identity):
    other = Tenant()
    mine, theirs = await identity.issue(), await identity.issue(tenant=other)
    await identity.activate(mine, unique_email())
    await identity.activate(theirs, unique_email(), tenant=other)
    body = {"account_ids": [mine["account_id"], theirs["account_id"]]}
    response = await identity.post("/internal/recipients", body)
    assert [r["account_ids"] for r in (await response.json())["recipients"]] == [[mine["account_id"]]]
    response = await identity.post("/internal/recipients", body, tenant=other)
    assert [r["account_ids"] for r in (await response.json())["recipients"]] == [[theirs["account_id"]]]


async def test_a_public_api_call_reaches_no_identity_route(identity):
    cred = await identity.issue()
    public = {"act": "agency", "via": PUBLIC_API}
    for path, body in (("/internal/provisional-credentials", _issue_body(identity.tenant)),
                       ("/internal/account-states", {"tenant_id": identity.tenant.id}),
                       ("/internal/recipients", {"account_ids": [cred["account_id"]]}),
                       ("/v1/activation/start", {"login": cred["login"], "password": cred["password"]})):
        response = await identity.post(path, body, **public)
        assert response.status == 403, path
    response = await identity.get(f"/internal/audit?tenant_id={identity.tenant.id}", **public)
    assert response.status == 403
    # Nothing was done on the way: the letter was not used, no flow was opened.
    assert await identity.sql("SELECT 1 FROM flows") == []
