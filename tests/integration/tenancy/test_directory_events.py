"""Directory imports write tenancy.accounts_upserted batches: ceil(n / batch) events for n changed
accounts, every account once, nothing for an idempotent re-import."""

from __future__ import annotations

import math

from tests.integration.tenancy.conftest import Tenancy

BATCH = 1000  # the default TENANCY_DIRECTORY_EVENT_BATCH


def _directory(n: int, *, name: str = "M. Nom") -> dict:
    return {"residences": [{"ref": "R1", "name": "Les Tilleuls"}],
            "lots": [{"ref": f"L{i}", "residence_ref": "R1", "number": str(i)} for i in range(n)],
            "accounts": [{"ref": f"C{i:05d}", "role": "coproprietaire", "display_name": f"{name} {i}",
                          "lot_refs": [f"L{i}"]} for i in range(n)]}


async def test_a_large_import_writes_one_event_per_batch_of_accounts(tenancy: Tenancy):
    n = 2 * BATCH + 345
    tenant = await tenancy.onboard()
    result = await tenancy.put_directory(tenant["id"], _directory(n))
    assert result["accounts"] == {"created": n, "updated": 0, "unchanged": 0}

    batches = await tenancy.outbox("tenancy.accounts_upserted")
    assert len(batches) == math.ceil(n / BATCH) == 3
    assert sorted(len(b["payload"]["accounts"]) for b in batches) == [345, BATCH, BATCH]
    assert {b["tenant_id"] for b in batches} == {tenant["id"]}
    assert len({b["correlation_id"] for b in batches}) == 1  # the one request that caused them
    accounts = await tenancy.account_events()
    assert [a["payload"]["ref"] for a in accounts] == [f"C{i:05d}" for i in range(n)]  # each once, by ref
    assert len({a["payload"]["account_id"] for a in accounts}) == n
    assert accounts[7]["payload"] | {"account_id": None} == {
        "account_id": None, "tenant_id": tenant["id"], "ref": "C00007", "role": "coproprietaire",
        "display_name": "M. Nom 7", "council": False, "status": "active",
        "residences": [{"id": accounts[0]["payload"]["residences"][0]["id"], "ref": "R1", "name": "Les Tilleuls"}],
        "lots": [{"ref": "L7", "number": "7", "residence_ref": "R1"}]}

    # The same directory again: the same counts as before batching, and no event at all.
    result = await tenancy.put_directory(tenant["id"], _directory(n))
    assert result == {"residences": {"created": 0, "updated": 0, "unchanged": 1},
                      "lots": {"created": 0, "updated": 0, "unchanged": n},
                      "accounts": {"created": 0, "updated": 0, "unchanged": n}}
    assert len(await tenancy.outbox("tenancy.accounts_upserted")) == 3

    # A change to a few accounts: one batch with exactly those.
    changed = _directory(n)
    for i in (5, 1500, 2300):
        changed["accounts"][i]["display_name"] = "Mme Autre"
    result = await tenancy.put_directory(tenant["id"], changed)
    assert result["accounts"] == {"created": 0, "updated": 3, "unchanged": n - 3}
    batches = await tenancy.outbox("tenancy.accounts_upserted")
    assert len(batches) == 4
    assert [a["payload"]["ref"] for a in (await tenancy.account_events())[n:]] == ["C00005", "C01500", "C02300"]


async def test_a_residence_renamed_puts_all_its_accounts_in_batches(tenancy: Tenancy):
    n = BATCH + 1
    tenant = await tenancy.onboard()
    await tenancy.put_directory(tenant["id"], _directory(n))
    result = await tenancy.put_directory(tenant["id"], {"residences": [{"ref": "R1", "name": "Le Clos"}]})
    assert result["residences"] == {"created": 0, "updated": 1, "unchanged": 0}
    accounts = (await tenancy.account_events())[n:]
    assert len(await tenancy.outbox("tenancy.accounts_upserted")) == 2 + 2
    assert len(accounts) == n and {a["payload"]["residences"][0]["name"] for a in accounts} == {"Le Clos"}


async def test_accounts_with_a_renamed_residence_or_moved_lot_in_the_same_document(tenancy: Tenancy):
    """The accounts upsert and the events are one statement: an account the document changes, one it
    leaves unchanged but whose residence is renamed, and one it does not name whose lot moves each get
    one event, with their new state; a closed account does not; a re-import writes nothing."""
    tenant = await tenancy.onboard()
    base = {"residences": [{"ref": "R1", "name": "Les Tilleuls"}, {"ref": "R2", "name": "Les Ormes"}],
            "lots": [{"ref": "L1", "residence_ref": "R1", "number": "1"},
                     {"ref": "L2", "residence_ref": "R1", "number": "2"},
                     {"ref": "L3", "residence_ref": "R2", "number": "3"},
                     {"ref": "L4", "residence_ref": "R2", "number": "4"}],
            "accounts": [{"ref": "C1", "role": "coproprietaire", "display_name": "Un", "lot_refs": ["L1"]},
                         {"ref": "C2", "role": "coproprietaire", "display_name": "Deux", "lot_refs": ["L2"]},
                         {"ref": "C3", "role": "locataire", "display_name": "Trois", "lot_refs": ["L3"]},
                         {"ref": "C4", "role": "locataire", "display_name": "Quatre", "lot_refs": ["L4"]}]}
    await tenancy.put_directory(tenant["id"], base)
    response = await tenancy.client.delete("/api/v1/directory/accounts/C4", headers=tenancy.agency(tenant["id"]))
    assert response.status in (200, 204), await response.text()
    before = len(await tenancy.account_events())

    change = {"residences": [{"ref": "R1", "name": "Le Clos"}],                      # C2 touched (and C1)
              "lots": [{"ref": "L3", "residence_ref": "R2", "number": "3 bis"},      # C3 touched
                       {"ref": "L4", "residence_ref": "R2", "number": "4 bis"}],     # C4 closed: none
              "accounts": [{"ref": "C1", "role": "bailleur", "display_name": "Un", "lot_refs": ["L1"]},
                           {"ref": "C2", "role": "coproprietaire", "display_name": "Deux", "lot_refs": ["L2"]}]}
    result = await tenancy.put_directory(tenant["id"], change)
    assert result == {"residences": {"created": 0, "updated": 1, "unchanged": 0},
                      "lots": {"created": 0, "updated": 2, "unchanged": 0},
                      "accounts": {"created": 0, "updated": 1, "unchanged": 1}}
    events = [a["payload"] for a in (await tenancy.account_events())[before:]]
    assert [(e["ref"], e["role"], e["residences"][0]["name"], e["lots"][0]["number"]) for e in events] == [
        ("C1", "bailleur", "Le Clos", "1"), ("C2", "coproprietaire", "Le Clos", "2"),
        ("C3", "locataire", "Les Ormes", "3 bis")]

    again = await tenancy.put_directory(tenant["id"], change)
    assert again == {"residences": {"created": 0, "updated": 0, "unchanged": 1},
                     "lots": {"created": 0, "updated": 0, "unchanged": 2},
                     "accounts": {"created": 0, "updated": 0, "unchanged": 2}}
    assert len(await tenancy.account_events()) == before + 3
