"""The agency's reading routes: ``GET /api/v1/documents`` (its documents, filters, keyset pages) and
``GET /api/v1/documents/compliance`` (the décret 2019-502 check per residence), against PostgreSQL."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.documents.conftest import pdf_bytes


@pytest.fixture
async def agency(harness):
    tenant, r1, r2 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    copro = await harness.account(tenant_id=tenant, ref="C001", residences=[(r1, "R1")])
    await harness.account(tenant_id=tenant, ref="C002", residences=[(r2, "R2")])
    return {"tenant": tenant, "copro": copro}


def meta(category, title, day, **audience):
    return {"category": category, "title": title, "date": day, "audience": audience or {"residence_ref": "R1"}}


async def get(harness, tenant, path, **query):
    response = await harness.client.get(path, params={k: str(v) for k, v in query.items()},
                                        headers=harness.agency(tenant))
    return response.status, await response.json()


async def test_the_agency_lists_its_documents_newest_first_with_audience_and_filters(harness, agency):
    tenant = agency["tenant"]
    pv = await harness.publish(tenant, meta("AG_PV", "PV AG 2025", "2025-06-12"), pdf_bytes(seed="pv"))
    harness.clock.advance(seconds=60)
    cs = await harness.publish(tenant, meta("CS_LISTE", "Liste 2026", "2026-01-10", residence_ref="R1",
                                            council_only=True), pdf_bytes(seed="cs"))
    harness.clock.advance(seconds=60)
    appel = await harness.publish(tenant, meta("LOT_APPEL", "Appel T1 2026", "2026-01-01", account_ref="C001"),
                                  pdf_bytes(seed="appel"))
    harness.clock.advance(seconds=60)
    other = await harness.publish(tenant, meta("CP_RCP", "Règlement R2", "2001-01-01", residence_ref="R2"),
                                  pdf_bytes(seed="rcp"))
    # Another agency's documents never show.
    stranger = uuid.uuid4()
    await harness.account(tenant_id=stranger, ref="C001", residences=[(uuid.uuid4(), "R1")])
    await harness.publish(stranger, meta("AG_PV", "PV d'ailleurs", "2025-06-12"))

    status, page = await get(harness, tenant, "/api/v1/documents")
    assert status == 200
    assert [i["id"] for i in page["items"]] == [other["id"], appel["id"], cs["id"], pv["id"]]
    assert page["residences"] == [{"ref": "R1", "name": "Résidence R1"}, {"ref": "R2", "name": "Résidence R2"}]
    by_id = {i["id"]: i for i in page["items"]}
    assert by_id[pv["id"]]["audience"] == {"residence_ref": "R1"}
    assert by_id[cs["id"]]["audience"] == {"residence_ref": "R1", "council_only": True}
    assert by_id[appel["id"]]["audience"] == {"account_ref": "C001"}
    first = by_id[pv["id"]]
    assert (first["category_label"], first["date"], first["sha256"], first["withdrawn_at"]) == (
        "Procès-verbal d'assemblée générale (3 dernières AG)", "2025-06-12", pv["sha256"], None)
    assert first["size"] == pv["size"] and first["content_type"] == "application/pdf"

    # residence_ref: documents of the residence, its council and its accounts.
    _, page = await get(harness, tenant, "/api/v1/documents", residence_ref="R1")
    assert {i["id"] for i in page["items"]} == {pv["id"], cs["id"], appel["id"]}
    _, page = await get(harness, tenant, "/api/v1/documents", residence_ref="NOPE")
    assert page["items"] == []
    _, page = await get(harness, tenant, "/api/v1/documents", category="AG_PV")
    assert [i["id"] for i in page["items"]] == [pv["id"]]
    _, page = await get(harness, tenant, "/api/v1/documents", year=2026)
    assert {i["id"] for i in page["items"]} == {cs["id"], appel["id"]}
    _, page = await get(harness, tenant, "/api/v1/documents", q="appel t1")
    assert [i["id"] for i in page["items"]] == [appel["id"]]
    _, page = await get(harness, tenant, "/api/v1/documents", q="100%")
    assert page["items"] == []

    # Withdrawn documents stay listed, with their withdrawal time, and filter by status.
    assert (await harness.client.delete(f"/api/v1/documents/{pv['id']}", headers=harness.agency(tenant))).status == 204
    _, page = await get(harness, tenant, "/api/v1/documents", status="withdrawn")
    assert [i["id"] for i in page["items"]] == [pv["id"]]
    assert page["items"][0]["withdrawn_at"] is not None
    _, page = await get(harness, tenant, "/api/v1/documents", status="published")
    assert pv["id"] not in {i["id"] for i in page["items"]}


async def test_pages_follow_the_cursor_without_gaps_or_repeats(harness, agency):
    tenant = agency["tenant"]
    published = []
    for n in range(5):
        published.append((await harness.publish(tenant, meta("CP_INFO", f"Note {n}", "2026-03-01"),
                                                pdf_bytes(seed=f"note{n}")))["id"])
        if n % 2:
            harness.clock.advance(seconds=1)  # some share their publication time: the id breaks the tie
    seen, cursor = [], None
    while True:
        _, page = await get(harness, tenant, "/api/v1/documents", limit=2, **({"cursor": cursor} if cursor else {}))
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(published) and len(seen) == 5


async def test_bad_filters_are_422(harness, agency):
    tenant = agency["tenant"]
    for query in ({"category": "NOPE"}, {"status": "deleted"}, {"year": "abc"}, {"cursor": "!!"}, {"limit": 0}):
        status, body = await get(harness, tenant, "/api/v1/documents", **query)
        assert status == 422, query
        assert body["errors"]


async def test_only_agencies_read_these_routes(harness, agency):
    person = harness.person([agency["copro"]])
    for path in ("/api/v1/documents", "/api/v1/documents/compliance"):
        assert (await harness.client.get(path, headers=person)).status == 403
        assert (await harness.client.get(path)).status == 401


async def test_compliance_per_residence_changes_when_documents_arrive_and_leave(harness, agency):
    tenant = agency["tenant"]
    harness.clock.set(harness.clock.now().replace(year=2026, month=12, day=3, hour=10))
    status, body = await get(harness, tenant, "/api/v1/documents/compliance", residence_ref="R1")
    assert status == 200
    assert body["today"] == "2026-12-03"
    [r1] = body["residences"]
    items = {i["category"]: i for i in r1["items"]}
    assert (r1["ref"], r1["name"], r1["ag_date"]) == ("R1", "Résidence R1", None)
    assert items["CP_RCP"]["status"] == "missing"
    assert r1["summary"]["present"] == 0

    rcp = await harness.publish(tenant, meta("CP_RCP", "Règlement", "2001-05-01"), pdf_bytes(seed="r"))
    for year in (2024, 2025, 2026):
        await harness.publish(tenant, meta("LOT_APPEL", f"Appel {year}", f"{year}-01-01", account_ref="C001"),
                              pdf_bytes(seed=f"a{year}"))
    await harness.publish(tenant, meta("AG_PV", "PV 2026", "2026-06-12"), pdf_bytes(seed="pv"))
    _, body = await get(harness, tenant, "/api/v1/documents/compliance", residence_ref="R1")
    items = {i["category"]: i for i in body["residences"][0]["items"]}
    assert body["residences"][0]["ag_date"] == "2026-06-12"
    assert (items["AG_PV"]["status"], items["AG_PV"]["count"], items["AG_PV"]["expected"]) == ("incomplete", 1, 3)
    assert (items["LOT_APPEL"]["status"], items["LOT_APPEL"]["count"]) == ("present", 1)
    # Published today, i.e. after the AG of June: updated since the 3 months before it.
    assert items["CP_RCP"]["status"] == "present"

    # All residences at once; R2 is untouched by R1's documents.
    _, body = await get(harness, tenant, "/api/v1/documents/compliance")
    assert [r["ref"] for r in body["residences"]] == ["R1", "R2"]
    r2 = {i["category"]: i for i in body["residences"][1]["items"]}
    assert r2["CP_RCP"]["status"] == "missing" and r2["LOT_APPEL"]["status"] == "missing"

    await harness.client.delete(f"/api/v1/documents/{rcp['id']}", headers=harness.agency(tenant))
    _, body = await get(harness, tenant, "/api/v1/documents/compliance", residence_ref="R1")
    assert {i["category"]: i for i in body["residences"][0]["items"]}["CP_RCP"]["status"] == "missing"

    status, body = await get(harness, tenant, "/api/v1/documents/compliance", residence_ref="NOPE")
    assert status == 422


async def test_the_console_user_who_published_or_withdrew_is_kept_and_cannot_be_rewritten(harness, agency):
    import asyncpg

    from common.internal_auth import issue_token
    from tests.integration.documents.conftest import SECRET

    tenant, publisher, withdrawer = agency["tenant"], uuid.uuid4(), uuid.uuid4()

    def console(staff_id) -> dict:
        token = issue_token(SECRET, issuer="gateway", audience="documents", act="agency", tid=str(tenant),
                            sid=str(staff_id), srole="gestionnaire")
        return {"Authorization": f"Internal {token}"}

    response = await harness.client.post("/api/v1/documents", headers=console(publisher), data=harness.form(
        meta("AG_PV", "PV console", "2025-06-12"), pdf_bytes(seed="console"), "pv.pdf"))
    assert response.status == 201
    by_console = await response.json()
    by_software = await harness.publish(tenant, meta("AG_PV", "PV logiciel", "2024-06-12"), pdf_bytes(seed="api"))
    deleted = await harness.client.delete(f"/api/v1/documents/{by_console['id']}", headers=console(withdrawer))
    assert deleted.status == 204
    _, page = await get(harness, tenant, "/api/v1/documents")
    by_id = {i["id"]: i for i in page["items"]}
    assert (by_id[by_console["id"]]["published_by_staff"], by_id[by_console["id"]]["withdrawn_by_staff"]) == (
        str(publisher), str(withdrawer))
    assert (by_id[by_software["id"]]["published_by_staff"], by_id[by_software["id"]]["withdrawn_by_staff"]) == (
        None, None)
    async with harness.pool.acquire() as conn:
        with pytest.raises(asyncpg.RaiseError):
            await conn.execute("UPDATE documents SET published_by_staff = $1 WHERE id = $2", uuid.uuid4(),
                               uuid.UUID(by_software["id"]))
        with pytest.raises(asyncpg.RaiseError):
            await conn.execute("UPDATE documents SET withdrawn_by_staff = $1 WHERE id = $2", uuid.uuid4(),
                               uuid.UUID(by_console["id"]))
