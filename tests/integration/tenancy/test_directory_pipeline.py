"""A directory import runs in chunks (TENANCY_DIRECTORY_IMPORT_CHUNK), each upserted while the service
prepares the next one and the previous one's events: chunks are invisible from outside. Here the
chunks hold 3 accounts and the events 2, so that every boundary is crossed by a small document."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from common.clock import FrozenClock
from common.db import create_pool
from common.testing import free_port
from services.tenancy import directory_import
from services.tenancy.directory_import import DirectoryDocument
from services.tenancy.directory_sources import AccountList
from services.tenancy.domain import Account
from tests.integration.tenancy.conftest import Tenancy, make_tenancy

CHUNK, BATCH = 3, 2


@pytest.fixture
async def tenancy(fresh_database, exchange_name, aiohttp_client) -> Tenancy:
    return await make_tenancy(fresh_database, exchange_name, aiohttp_client, f"http://127.0.0.1:{free_port()}",
                              directory_import_chunk=CHUNK, directory_event_batch=BATCH)


def _directory(n: int, *, name: str = "Nom") -> dict:
    return {"residences": [{"ref": "R1", "name": "Les Tilleuls"}, {"ref": "R2", "name": "Les Ormes"}],
            "lots": [{"ref": f"L{i}", "residence_ref": f"R{1 + i % 2}", "number": str(i)} for i in range(n + 1)],
            "accounts": [{"ref": f"C{i:02d}", "role": "coproprietaire", "display_name": f"{name} {i}",
                          "lot_refs": [f"L{i}"] + ([f"L{i + 1}"] if i % 4 == 0 else [])} for i in range(n)]}


async def _stored_accounts(tenancy: Tenancy, tenant_id: str) -> list[tuple]:
    conn = await asyncpg.connect(tenancy.dsn)
    try:
        rows = await conn.fetch("SELECT a.ref, a.display_name, array(SELECT l.ref FROM unnest(a.lot_ids) u(id)"
                                " JOIN lots l ON l.id = u.id ORDER BY l.ref) AS lots FROM accounts a"
                                " WHERE a.tenant_id = $1 ORDER BY a.ref", tenant_id)
    finally:
        await conn.close()
    return [(r["ref"], r["display_name"], list(r["lots"])) for r in rows]


async def test_every_chunk_is_written_and_every_account_is_in_one_event(tenancy: Tenancy):
    n = 11  # chunks of 3, 3, 3, 2; events of 2 across the chunks' edges
    tenant = await tenancy.onboard()
    result = await tenancy.put_directory(tenant["id"], _directory(n))
    assert result["accounts"] == {"created": n, "updated": 0, "unchanged": 0}
    stored = await _stored_accounts(tenancy, tenant["id"])
    assert [ref for ref, *_ in stored] == [f"C{i:02d}" for i in range(n)]
    assert stored[4] == ("C04", "Nom 4", ["L4", "L5"])

    batches = await tenancy.outbox("tenancy.accounts_upserted")
    assert [len(b["payload"]["accounts"]) for b in batches] == [2, 2, 2, 2, 2, 1]  # full batches, one remainder
    events = await tenancy.account_events()
    assert [e["payload"]["ref"] for e in events] == [f"C{i:02d}" for i in range(n)]
    c04 = events[4]["payload"]
    assert [(lot["ref"], lot["number"], lot["residence_ref"]) for lot in c04["lots"]] == [("L4", "4", "R1"),
                                                                                         ("L5", "5", "R2")]
    assert [r["name"] for r in c04["residences"]] == ["Les Tilleuls", "Les Ormes"]
    # A batch names the residences of its own accounts' lots only.
    assert [r["ref"] for r in batches[0]["payload"]["residences"]] == ["R1", "R2"]
    assert [r["ref"] for r in batches[-1]["payload"]["residences"]] == ["R1"]  # C10: L10 only

    # Unchanged, then changed in the third and fourth chunks only.
    again = await tenancy.put_directory(tenant["id"], _directory(n))
    assert again["accounts"] == {"created": 0, "updated": 0, "unchanged": n}
    changed = _directory(n)
    for i in (7, 9, 10):
        changed["accounts"][i]["display_name"] = "Autre"
    result = await tenancy.put_directory(tenant["id"], changed)
    assert result["accounts"] == {"created": 0, "updated": 3, "unchanged": n - 3}
    later = (await tenancy.account_events())[n:]
    assert [(e["payload"]["ref"], e["payload"]["display_name"]) for e in later] == [
        ("C07", "Autre"), ("C09", "Autre"), ("C10", "Autre")]


async def test_an_account_written_in_one_chunk_is_not_touched_again_by_a_renamed_residence(tenancy: Tenancy):
    """A renamed residence gives an event to each of its accounts, once: those the document rewrote
    (in any chunk) carry their new row, the others their current one."""
    n = 8
    tenant = await tenancy.onboard()
    await tenancy.put_directory(tenant["id"], _directory(n))
    before = len(await tenancy.account_events())

    change = _directory(n)
    change["residences"][0]["name"] = "Le Clos"          # R1: the even lots, so C00, C02, C04 (+L5), C06
    change["accounts"][6]["display_name"] = "Autre"       # third chunk, also on R1
    change["accounts"][7]["display_name"] = "Encore"      # third chunk, on R2 only
    result = await tenancy.put_directory(tenant["id"], change)
    assert result["residences"]["updated"] == 1 and result["accounts"]["updated"] == 2
    events = [e["payload"] for e in (await tenancy.account_events())[before:]]
    # R1 holds the even lots: C00, C02, C04 are touched, C06 is rewritten (and on R1), C07 is
    # rewritten (on R2 only); C01, C03, C05 (R2 only, unchanged) get nothing.
    assert sorted((e["ref"], e["display_name"]) for e in events) == [
        ("C00", "Nom 0"), ("C02", "Nom 2"), ("C04", "Nom 4"), ("C06", "Autre"), ("C07", "Encore")]
    assert len(events) == 5  # nobody twice
    assert all("Le Clos" in [r["name"] for r in e["residences"]] for e in events if e["ref"] != "C07")


async def test_reference_errors_anywhere_are_reported_together_and_nothing_is_written(tenancy: Tenancy):
    n = 8
    tenant = await tenancy.onboard()
    document = _directory(n)
    document["accounts"][7]["ref"] = "C01"                 # a duplicate in the third chunk
    document["accounts"][5]["lot_refs"] = ["L404"]         # an unknown lot in the second
    document["accounts"][2]["council"] = True
    document["accounts"][2]["role"] = "locataire"          # a council member who is a tenant, in the first
    answer = await tenancy.put_directory(tenant["id"], document, expect=422)
    assert [(e["path"], e["message"]) for e in answer["errors"]] == [
        ("accounts[7].ref", "duplicate ref 'C01' (first at accounts[1].ref)"),
        ("accounts[2].council", "only a coproprietaire can be a council member"),
        ("accounts[5].lot_refs[0]", "unknown lot ref 'L404'"),
    ]
    assert answer["error_count"] == 3
    assert await _stored_accounts(tenancy, tenant["id"]) == []
    assert await tenancy.outbox("tenancy.accounts_upserted") == []


async def test_the_csv_import_runs_in_the_same_chunks(tenancy: Tenancy):
    tenant = await tenancy.onboard()
    await tenancy.put_directory(tenant["id"], {**_directory(7), "accounts": []})
    lines = ["ref;role;display_name;lot_refs"] + [f"C{i:02d};locataire;Locataire {i};L{i}" for i in range(7)]
    response = await tenancy.client.put("/api/v1/directory/accounts", data="\n".join(lines).encode(),
                                        headers={**tenancy.agency(tenant["id"]), "Content-Type": "text/csv"})
    assert response.status == 200, await response.text()
    assert (await response.json())["accounts"] == {"created": 7, "updated": 0, "unchanged": 0}
    assert [e["payload"]["ref"] for e in await tenancy.account_events()] == [f"C{i:02d}" for i in range(7)]


async def test_a_failure_while_a_chunk_is_upserted_rolls_everything_back(tenancy: Tenancy, monkeypatch):
    """The events of a chunk are built while PostgreSQL upserts the next one: if that work fails,
    the statement in flight is waited for, the transaction rolls back (nothing written, no event)
    and the connection goes back to the pool usable."""
    tenant = await tenancy.onboard()
    await tenancy.put_directory(tenant["id"], {**_directory(8), "accounts": []})
    document = DirectoryDocument(accounts=AccountList([
        Account(f"C{i:02d}", "locataire", f"Locataire {i}", None, False, [f"L{i}"], f"accounts[{i}]")
        for i in range(8)]))
    pool = await create_pool(tenancy.dsn, min_size=1, max_size=1)
    calls = []
    real_encode = directory_import.encode_batch

    def failing_encode(*args):
        calls.append(args)
        if len(calls) == 2:
            raise RuntimeError("encoding failed")
        return real_encode(*args)

    try:
        monkeypatch.setattr(directory_import, "encode_batch", failing_encode)
        with pytest.raises(RuntimeError, match="encoding failed"):
            await directory_import.import_directory(pool, tenant_id=uuid.UUID(tenant["id"]), document=document,
                                             clock=FrozenClock(),
                                             event_batch=BATCH, chunk_size=CHUNK)
        assert await _stored_accounts(tenancy, tenant["id"]) == []
        assert await tenancy.outbox("tenancy.accounts_upserted") == []

        monkeypatch.setattr(directory_import, "encode_batch", real_encode)
        result = await directory_import.import_directory(pool, tenant_id=uuid.UUID(tenant["id"]), document=document,
                                                  clock=FrozenClock(), event_batch=BATCH, chunk_size=CHUNK)
        assert result["accounts"] == {"created": 8, "updated": 0, "unchanged": 0}
    finally:
        await pool.close()


async def test_a_malformed_account_in_a_later_chunk_is_reported_with_all_others_and_nothing_is_written(
        tenancy: Tenancy):
    """Chunks 1 and 2 are valid and would be upserted before chunk 3 is read: the 422 still lists
    every malformed row (a lot too, before the accounts, as one validation of the document would),
    the reference problems are left for the next attempt, and the transaction rolls back."""
    tenant = await tenancy.onboard()
    document = _directory(10)
    document["accounts"][1]["ref"] = "C00"                # a duplicate: a reference problem, not reported
    document["accounts"][7]["role"] = "gardien"           # third chunk
    document["accounts"][9]["lot_refs"] = []              # fourth chunk
    answer = await tenancy.put_directory(tenant["id"], document, expect=422)
    assert [e["path"] for e in answer["errors"]] == ["accounts[7].role", "accounts[9].lot_refs"]
    assert answer["error_count"] == 2
    assert await _stored_accounts(tenancy, tenant["id"]) == []
    assert await tenancy.outbox("tenancy.accounts_upserted") == []

    document["lots"][3]["number"] = ""                    # and a malformed lot
    answer = await tenancy.put_directory(tenant["id"], document, expect=422)
    assert [e["path"] for e in answer["errors"]] == ["lots[3].number", "accounts[7].role", "accounts[9].lot_refs"]
    conn = await asyncpg.connect(tenancy.dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM lots WHERE tenant_id = $1", uuid.UUID(tenant["id"])) == 0
    finally:
        await conn.close()


async def test_a_malformed_csv_line_in_a_later_chunk_rolls_back_the_chunks_before(tenancy: Tenancy):
    tenant = await tenancy.onboard()
    await tenancy.put_directory(tenant["id"], {**_directory(9), "accounts": []})
    lines = ["ref;role;display_name;lot_refs;council"] + [f"C{i:02d};coproprietaire;Nom {i};L{i};0" for i in range(9)]
    lines[8] = "C07;coproprietaire;Nom 7;L7;peut-être"    # line 9, third chunk
    response = await tenancy.client.put("/api/v1/directory/accounts", data="\n".join(lines).encode(),
                                        headers={**tenancy.agency(tenant["id"]), "Content-Type": "text/csv"})
    assert response.status == 422, await response.text()
    answer = await response.json()
    assert [(e["path"], e["message"]) for e in answer["errors"]] == [
        ("line 9.council", "'peut-être' is not a yes/no value (1/0, true/false, oui/non)")]
    assert await _stored_accounts(tenancy, tenant["id"]) == []


async def test_a_reference_problem_found_while_an_earlier_chunk_is_upserted_rolls_it_back(tenancy: Tenancy):
    """Chunks 1 and 2 are valid and written; chunk 3, checked while chunk 2 is upserted, names an
    unknown lot and repeats a ref of chunk 1: both reported, nothing kept."""
    tenant = await tenancy.onboard()
    document = _directory(9)
    document["accounts"][7]["lot_refs"] = ["L404"]
    document["accounts"][8]["ref"] = "C02"
    answer = await tenancy.put_directory(tenant["id"], document, expect=422)
    assert [(e["path"], e["message"]) for e in answer["errors"]] == [
        ("accounts[8].ref", "duplicate ref 'C02' (first at accounts[2].ref)"),
        ("accounts[7].lot_refs[0]", "unknown lot ref 'L404'"),
    ]
    assert await _stored_accounts(tenancy, tenant["id"]) == []
    assert await tenancy.outbox("tenancy.accounts_upserted") == []


async def test_lots_the_documents_hint_misses_are_looked_up_with_their_chunk(tenancy: Tenancy):
    """The lots are looked up once from the refs the document shows before validation; a ref that
    validation changes (spaces trimmed) or a CSV line the hint does not read (quoted) still finds
    its lot, with its chunk."""
    tenant = await tenancy.onboard()
    document = _directory(7)
    document["accounts"][5]["lot_refs"] = [" L5 "]
    result = await tenancy.put_directory(tenant["id"], document)
    assert result["accounts"] == {"created": 7, "updated": 0, "unchanged": 0}
    assert (await _stored_accounts(tenancy, tenant["id"]))[5] == ("C05", "Nom 5", ["L5"])

    lines = ["ref;role;display_name;lot_refs"] + [f"C{i:02d};locataire;Nom {i};L{i}" for i in range(7)]
    lines[6] = 'C05;locataire;"Nom; dit Cinq";L5'
    response = await tenancy.client.put("/api/v1/directory/accounts", data="\n".join(lines).encode(),
                                        headers={**tenancy.agency(tenant["id"]), "Content-Type": "text/csv"})
    assert response.status == 200, await response.text()
    assert (await response.json())["accounts"] == {"created": 0, "updated": 7, "unchanged": 0}
    assert (await _stored_accounts(tenancy, tenant["id"]))[5] == ("C05", "Nom; dit Cinq", ["L5"])


async def test_a_wrong_lot_reports_the_accounts_problems_against_the_stored_lots_too(tenancy: Tenancy):
    """A document whose lots are wrong is checked whole before anything is written: accounts on
    lots stored earlier are fine, an account on a lot that exists nowhere is reported."""
    tenant = await tenancy.onboard()
    await tenancy.put_directory(tenant["id"], {**_directory(7), "accounts": []})
    document = {"lots": [{"ref": "L99", "residence_ref": "R404", "number": "99"}],
                "accounts": [_directory(7)["accounts"][i] for i in range(7)]}
    document["accounts"][6]["lot_refs"] = ["L77"]
    answer = await tenancy.put_directory(tenant["id"], document, expect=422)
    assert [(e["path"], e["message"]) for e in answer["errors"]] == [
        ("lots[0].residence_ref", "unknown residence ref 'R404'"),
        ("accounts[6].lot_refs[0]", "unknown lot ref 'L77'")]
    assert await _stored_accounts(tenancy, tenant["id"]) == []
