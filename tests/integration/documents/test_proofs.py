"""Proof of availability (issue 14): audience snapshot, access log, append-only at the database,
the proof report (JSON, CSV, PDF) with the SHA-256 recomputed from the stored blob."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import uuid

import asyncpg
import pytest
from pypdf import PdfReader

from services.documents.routes import STORE
from tests.integration.documents.conftest import pdf_bytes


@pytest.fixture
async def published(harness):
    tenant, residence = uuid.uuid4(), uuid.uuid4()
    first = await harness.account(tenant_id=tenant, ref="C1", residences=[(residence, "R1")])
    second = await harness.account(tenant_id=tenant, ref="C2", residences=[(residence, "R1")])
    content = pdf_bytes(50_000)
    document = await harness.publish(tenant, {"category": "AG_PV", "title": "PV de l'AG du 12 juin",
                                              "date": "2026-06-12", "audience": {"residence_ref": "R1"}}, content)
    return {"tenant": tenant, "residence": residence, "first": first, "second": second, "content": content,
            "document": document, "person": str(uuid.uuid4())}


async def _accesses(harness) -> int:
    async with harness.pool.acquire() as conn:
        return await conn.fetchval("SELECT count(*) FROM document_access")


async def _get_logged(harness, url):
    """GET a file link and wait (with a deadline) for its access row: it is written after the last byte."""
    before = await _accesses(harness)
    got = await harness.client.get(url)
    await got.read()
    deadline = asyncio.get_running_loop().time() + 5
    while await _accesses(harness) == before:
        assert asyncio.get_running_loop().time() < deadline, "no access row"
        await asyncio.sleep(0.02)
    return got


async def _download(harness, accounts, document_id, person_id) -> int:
    response = await harness.client.post(f"/v1/documents/{document_id}/link",
                                         headers=harness.person(accounts, person_id))
    if response.status != 200:
        return response.status
    return (await _get_logged(harness, (await response.json())["url"])).status


async def _proof(harness, tenant, document_id, fmt=None, accept=None):
    params = {"format": fmt} if fmt else {}
    headers = {**harness.agency(tenant), **({"Accept": accept} if accept else {})}
    return await harness.client.get(f"/api/v1/documents/{document_id}/proof", params=params, headers=headers)


async def test_audience_snapshot_and_each_download_are_recorded(harness, published):
    doc_id = published["document"]["id"]
    assert await _download(harness, [published["first"]], doc_id, published["person"]) == 200
    assert await _download(harness, [published["first"]], doc_id, published["person"]) == 200
    response = await _proof(harness, published["tenant"], doc_id)
    assert response.status == 200
    proof = await response.json()
    assert [a["account_ref"] for a in proof["audience_at_publication"]] == ["C1", "C2"]
    assert {a["account_ref"]: a["opened"] for a in proof["audience_at_publication"]} == {"C1": True, "C2": False}
    assert [(a["account_ref"], a["person_id"], a["kind"], a["success"]) for a in proof["accesses"]] == [
        ("C1", published["person"], "download", True)] * 2
    assert proof["summary"] == {"audience": 2, "opened": 1, "accesses": 2, "failed_accesses": 0, "to_send_by_post": 0}
    assert {a["delivery"] for a in proof["audience_at_publication"]} == {None}  # a PV is not a notification here
    listing = await (await harness.client.get("/api/v1/documents", headers=harness.agency(published["tenant"]))).json()
    assert listing["items"][0]["to_send_by_post"] is None
    assert proof["document"]["published_at"] == published["document"]["published_at"]


async def test_the_persons_listing_says_when_they_opened_each_document(harness, published):
    doc_id = published["document"]["id"]

    async def opened_at():
        response = await harness.client.get("/v1/documents", headers=harness.person([published["first"]],
                                                                                      published["person"]))
        return (await response.json())["items"][0]["opened_at"]

    assert await opened_at() is None
    await _download(harness, [published["first"]], doc_id, published["person"])
    assert await opened_at() == harness.clock.now().isoformat()


async def test_the_report_hash_matches_the_stored_file(harness, published):
    proof = await (await _proof(harness, published["tenant"], published["document"]["id"])).json()
    expected = hashlib.sha256(published["content"]).hexdigest()
    assert proof["integrity"] == {"stored_sha256": expected, "computed_sha256": expected, "matches": True,
                                  "checked_at": harness.clock.now().isoformat()}
    # The blob on disk is what is hashed: a tampered file is reported, not hidden.
    store = harness.app[STORE]
    blob = store.path(expected)
    blob.write_bytes(published["content"] + b"tampered")
    proof = await (await _proof(harness, published["tenant"], published["document"]["id"])).json()
    assert proof["integrity"]["matches"] is False
    assert proof["integrity"]["computed_sha256"] != expected


async def test_pdf_and_csv_reports(harness, published):
    doc_id = published["document"]["id"]
    await _download(harness, [published["second"]], doc_id, published["person"])
    response = await _proof(harness, published["tenant"], doc_id, fmt="pdf")
    assert response.status == 200 and response.content_type == "application/pdf"
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(await response.read())).pages)
    assert "Preuve de mise à disposition" in text
    assert hashlib.sha256(published["content"]).hexdigest() in text.replace("\n", "")
    assert "OUI" in text and "C2" in text and "Téléchargement" in text
    response = await _proof(harness, published["tenant"], doc_id, accept="text/csv")
    assert response.status == 200 and response.content_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO((await response.read()).decode("utf-8-sig")), delimiter=";"))
    assert [(r["event"], r["account_ref"], r["success"]) for r in rows] == [
        ("published", "", ""), ("in_audience", "C1", ""), ("in_audience", "C2", ""), ("download", "C2", "yes")]


async def test_a_withdrawn_documents_proof_stays_and_refused_accesses_count(harness, published):
    doc_id = published["document"]["id"]
    response = await harness.client.post(f"/v1/documents/{doc_id}/link",
                                         headers=harness.person([published["first"]], published["person"]))
    url = (await response.json())["url"]
    await _get_logged(harness, url)
    withdrawn = await harness.client.delete(f"/api/v1/documents/{doc_id}", headers=harness.agency(published["tenant"]))
    assert withdrawn.status == 204
    assert (await _get_logged(harness, url)).status == 404  # the same link, after the withdrawal
    proof = await (await _proof(harness, published["tenant"], doc_id)).json()
    assert proof["document"]["withdrawn_at"] is not None
    assert [(a["kind"], a["success"], a["account_ref"]) for a in proof["accesses"]] == [
        ("download", True, "C1"), ("download", False, None)]
    assert len(proof["audience_at_publication"]) == 2 and proof["integrity"]["matches"] is True


async def test_per_account_report(harness, published):
    doc_id = published["document"]["id"]
    await _download(harness, [published["first"]], doc_id, published["person"])
    response = await harness.client.get("/api/v1/documents/proof", params={"account_ref": "C1"},
                                        headers=harness.agency(published["tenant"]))
    assert response.status == 200
    proof = await response.json()
    assert proof["account"]["ref"] == "C1"
    [document] = proof["documents"]
    assert document["id"] == doc_id and document["in_audience_at_publication"] is True
    assert document["first_opened_at"] is not None and len(document["accesses"]) == 1
    pdf = await harness.client.get("/api/v1/documents/proof", params={"account_ref": "C1", "format": "pdf"},
                                   headers=harness.agency(published["tenant"]))
    assert "compte C1" in PdfReader(io.BytesIO(await pdf.read())).pages[0].extract_text()
    missing = await harness.client.get("/api/v1/documents/proof", headers=harness.agency(published["tenant"]))
    assert missing.status == 422
    unknown = await harness.client.get("/api/v1/documents/proof", params={"account_ref": "NOPE"},
                                       headers=harness.agency(published["tenant"]))
    assert unknown.status == 422


async def test_another_agency_gets_404(harness, published):
    response = await _proof(harness, uuid.uuid4(), published["document"]["id"])
    assert response.status == 404
    assert (await _proof(harness, published["tenant"], "not-a-uuid")).status == 404


@pytest.mark.parametrize("statement", [
    "UPDATE document_access SET success = NOT success",
    "DELETE FROM document_access",
    "TRUNCATE document_access",
    "UPDATE document_audience SET account_ref = 'X'",
    "DELETE FROM document_audience",
    "DELETE FROM documents",
    "UPDATE documents SET sha256 = 'x'",
    "UPDATE documents SET published_at = now() - interval '1 day'",
])
async def test_the_evidence_is_append_only_at_the_database(harness, published, statement):
    await _download(harness, [published["first"]], published["document"]["id"], published["person"])
    async with harness.pool.acquire() as conn:
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute(statement)
        assert await conn.fetchval("SELECT count(*) FROM document_access") == 1
        assert await conn.fetchval("SELECT count(*) FROM document_audience") == 2


async def test_each_document_of_a_zip_is_logged_as_an_archive_access(harness, published):
    tenant = published["tenant"]
    second = await harness.publish(tenant, {"category": "AG_PV", "title": "PV de l'AG du 3 juin", "date": "2026-06-03",
                                            "audience": {"residence_ref": "R1"}})
    response = await harness.client.post("/v1/archives/link", json={"year": 2026},
                                         headers=harness.person([published["second"]], published["person"]))
    assert response.status == 200
    url = (await response.json())["url"]
    got = await harness.client.get(url)
    await got.read()
    deadline = asyncio.get_running_loop().time() + 5
    while await _accesses(harness) < 2:
        assert asyncio.get_running_loop().time() < deadline, "the ZIP's members were not logged"
        await asyncio.sleep(0.02)
    for document_id in (published["document"]["id"], second["id"]):
        proof = await (await _proof(harness, tenant, document_id)).json()
        assert [(a["kind"], a["account_ref"], a["success"]) for a in proof["accesses"]] == [("archive", "C2", True)]
