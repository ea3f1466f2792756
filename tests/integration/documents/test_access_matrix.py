"""Every (person, document) pair of a two-tenant fixture gives exactly the expected answer,
for the listing, the signed download and the ZIP archive.

Fixture: tenant A with residences A1 and A2, tenant B with residence B1; co-owners (council
members or not), bailleurs and locataires; a co-owner of two residences; a closed account; and a
person merged across both tenants. Expectations come from the fixture description through the
rule as the issue states it, not from domain.py.
"""

from __future__ import annotations

import io
import uuid
import zipfile
from dataclasses import dataclass

from tests.integration.documents.conftest import pdf_bytes

ACCOUNT_CATEGORY = {"coproprietaire": "LOT_APPEL", "bailleur": "BAI_CRG", "locataire": "LOC_QUITT"}


@dataclass
class Acc:
    name: str
    tenant: str
    role: str
    residences: tuple[str, ...]
    council: bool = False
    closed: bool = False


ACCOUNTS = [
    Acc("a_copro_council", "A", "coproprietaire", ("A1",), council=True),
    Acc("a_copro", "A", "coproprietaire", ("A1",)),
    Acc("a_copro_two_residences", "A", "coproprietaire", ("A1", "A2")),
    Acc("a2_copro_council", "A", "coproprietaire", ("A2",), council=True),
    Acc("a_bailleur", "A", "bailleur", ("A1",)),
    Acc("a_locataire", "A", "locataire", ("A1",)),
    Acc("a_closed_council", "A", "coproprietaire", ("A1",), council=True, closed=True),
    Acc("b_copro_council", "B", "coproprietaire", ("B1",), council=True),
    Acc("b_locataire", "B", "locataire", ("B1",)),
    Acc("b_bailleur", "B", "bailleur", ("B1",)),
]
PERSONS = {
    "council member": ["a_copro_council"],
    "co-owner": ["a_copro"],
    "two residences": ["a_copro_two_residences"],
    "A2 council": ["a2_copro_council"],
    "bailleur": ["a_bailleur"],
    "locataire": ["a_locataire"],
    "closed": ["a_closed_council"],
    "merged across tenants": ["a_copro", "b_copro_council"],
    "tenant and landlord": ["b_locataire", "a_bailleur"],
    "nobody": [],
}
RESIDENCES = {"A1": "A", "A2": "A", "B1": "B"}


def visible(person: list[str], document: dict) -> bool:
    if document["withdrawn"]:
        return False
    for account in (a for a in ACCOUNTS if a.name in person):
        if account.closed or account.tenant != document["tenant"]:
            continue
        if document["kind"] == "account" and document["target"] == account.name:
            return True
        if (document["kind"] in ("all", "council") and account.role == "coproprietaire"
                and document["target"] in account.residences
                and (document["kind"] == "all" or account.council)):
            return True
    return False


async def build(harness):
    tenants = {"A": uuid.uuid4(), "B": uuid.uuid4()}
    residence_ids = {name: uuid.uuid4() for name in RESIDENCES}
    accounts = {}
    for acc in ACCOUNTS:
        projected = await harness.account(tenant_id=tenants[acc.tenant], role=acc.role, council=acc.council,
                                          ref=acc.name, residences=[(residence_ids[r], r) for r in acc.residences])
        accounts[acc.name] = projected
    documents = []

    async def publish(tenant, category, audience, kind, target, title):
        content = pdf_bytes(1500, seed=title)
        answer = await harness.publish(tenants[tenant], {"category": category, "title": title, "date": "2025-03-01",
                                                         "audience": audience}, content)
        documents.append({"id": answer["id"], "tenant": tenant, "kind": kind, "target": target, "title": title,
                          "content": content, "withdrawn": False})

    for residence, tenant in RESIDENCES.items():
        await publish(tenant, "AG_PV", {"residence_ref": residence}, "all", residence, f"PV {residence}")
        await publish(tenant, "CS_BANQUE", {"residence_ref": residence, "council_only": True}, "council", residence,
                      f"Banque {residence}")
    for acc in ACCOUNTS:
        if acc.closed:
            continue
        await publish(acc.tenant, ACCOUNT_CATEGORY[acc.role], {"account_ref": acc.name}, "account", acc.name,
                      f"Compte {acc.name}")
    # A document for the account that is closed afterwards, and a withdrawn one.
    await publish("A", "LOT_APPEL", {"account_ref": "a_closed_council"}, "account", "a_closed_council",
                  "Compte a_closed_council")
    await publish("A", "AG_DEVIS", {"residence_ref": "A1"}, "all", "A1", "Devis retiré")
    withdrawn = documents[-1]
    response = await harness.client.delete(f"/api/v1/documents/{withdrawn['id']}",
                                           headers=harness.agency(tenants["A"]))
    assert response.status == 204
    withdrawn["withdrawn"] = True
    await harness.close(accounts["a_closed_council"])
    return accounts, documents


async def test_every_person_and_document_pair(harness):
    accounts, documents = await build(harness)
    assert len(documents) == 3 * 2 + 9 + 2
    checked = 0
    for person_name, names in PERSONS.items():
        claims = [accounts[n] for n in names]
        expected = {d["id"] for d in documents if visible(names, d)}
        # Listing (every page).
        listed, cursor = [], None
        while True:
            page = await harness.listing(claims, limit=3, **({"cursor": cursor} if cursor else {}))
            listed += [d["id"] for d in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert sorted(listed) == sorted(expected), person_name
        assert sum(page["facets"]["categories"].values()) == len(expected), person_name
        # Download of every document of the fixture.
        for document in documents:
            url = await harness.link(claims, document["id"])
            if document["id"] in expected:
                assert url is not None, (person_name, document["title"])
                response = await harness.client.get(url)
                assert response.status == 200
                assert await response.read() == document["content"]
            else:
                assert url is None, (person_name, document["title"])
            checked += 1
        # The ZIP of the year holds exactly the visible documents.
        response = await harness.client.post("/v1/archives/link", json={"year": 2025}, headers=harness.person(claims))
        if not expected:
            assert response.status == 404, person_name
            continue
        assert response.status == 200
        archive = await harness.client.get((await response.json())["url"])
        assert archive.status == 200 and archive.headers["Content-Type"] == "application/zip"
        with zipfile.ZipFile(io.BytesIO(await archive.read())) as zipped:
            contents = sorted(zipped.read(name) for name in zipped.namelist())
        assert contents == sorted(d["content"] for d in documents if d["id"] in expected), person_name
    assert checked == len(PERSONS) * len(documents)


async def test_a_signed_link_stops_working_when_access_is_lost(harness):
    accounts, documents = await build(harness)
    person = [accounts["a_copro"], accounts["b_copro_council"]]
    banque_b1 = next(d for d in documents if d["title"] == "Banque B1")
    url = await harness.link(person, banque_b1["id"])
    archive = await harness.client.post("/v1/archives/link", json={"category": "CS_BANQUE"},
                                        headers=harness.person(person))
    archive_url = (await archive.json())["url"]
    # Leaves the council of B1: the signed links (bound to the account snapshot) now miss it.
    await harness.account(tenant_id=accounts["b_copro_council"]["tenant_id"],
                          account_id=accounts["b_copro_council"]["account_id"], ref="b_copro_council",
                          residences=[(uuid.uuid4(), "B9")])
    assert (await harness.client.get(url)).status == 404
    assert (await harness.client.get(archive_url)).status == 404
