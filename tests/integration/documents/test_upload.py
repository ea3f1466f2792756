"""Agency upload and withdrawal: limits, type checks, consistency, idempotency, error shape."""

from __future__ import annotations

import hashlib
import json
import uuid

import pytest

from tests.integration.documents.conftest import docx_bytes, pdf_bytes


@pytest.fixture
async def directory(harness):
    tenant = uuid.uuid4()
    residence = uuid.uuid4()
    copro = await harness.account(tenant_id=tenant, ref="C001", residences=[(residence, "R1")])
    locataire = await harness.account(tenant_id=tenant, ref="L001", role="locataire", residences=[(residence, "R1")])
    return {"tenant": tenant, "residence": residence, "copro": copro, "locataire": locataire}


def meta(category="AG_PV", audience=None, **extra):
    return {"category": category, "title": "Procès-verbal de l'AG du 12 juin 2026", "date": "2026-06-12",
            "audience": audience or {"residence_ref": "R1"}, **extra}


async def test_upload_returns_the_hash_size_and_detected_type(harness, directory):
    content = pdf_bytes(5000)
    response = await harness.upload(directory["tenant"], meta(), content, filename="pv.bin")
    assert response.status == 201
    body = await response.json()
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    assert body["size"] == len(content)
    assert body["content_type"] == "application/pdf"
    uuid.UUID(body["id"])
    # The blob is stored content-addressed under the storage directory, complete.
    stored = harness.settings.storage_dir / body["sha256"][:2] / body["sha256"][2:4] / body["sha256"]
    assert stored.read_bytes() == content
    assert list(harness.settings.effective_spool_dir.iterdir()) == []


async def test_office_and_image_formats_are_accepted_by_content(harness, directory):
    samples = {
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document": docx_bytes(),
        "application/msword": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600,
        "image/png": b"\x89PNG\r\n\x1a\n" + b"\0" * 100,
        "image/jpeg": b"\xff\xd8\xff\xe0" + b"\0" * 100,
        "image/gif": b"GIF89a" + b"\0" * 100,
        "image/webp": b"RIFF\x10\0\0\0WEBPVP8 " + b"\0" * 100,
    }
    for index, (expected, content) in enumerate(samples.items()):
        metadata = meta("LOT_APPEL", {"account_ref": "C001"}, title=f"Appel {index}")
        response = await harness.upload(directory["tenant"], metadata, content, filename="x.doc")
        assert response.status == 201, (expected, await response.text())
        assert (await response.json())["content_type"] == expected


async def test_other_types_are_refused_with_415(harness, directory):
    # One database for all the cases: each case is a separate upload that must change nothing.
    for content in (b"MZ\x90\x00 executable", b"<html><script>alert(1)</script></html>",
                    b"PK\x03\x04 not really a zip", b""):
        response = await harness.upload(directory["tenant"], meta(), content, filename="document.pdf")
        assert response.status == 415, content
        body = await response.json()
        assert body["error"] == "unsupported_file_type" and body["errors"] == []
    assert (await harness.listing([directory["copro"]]))["items"] == []


async def test_a_plain_zip_is_not_an_office_document(harness, directory):
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("evil.exe", "MZ")
    response = await harness.upload(directory["tenant"], meta(), buffer.getvalue(), filename="a.docx")
    assert response.status == 415


async def test_a_file_over_the_limit_is_refused_with_413_and_leaves_nothing(harness, directory):
    limit = harness.settings.max_upload_bytes
    response = await harness.upload(directory["tenant"], meta(), pdf_bytes(limit + 1))
    assert response.status == 413
    assert (await response.json())["error"] == "file_too_large"
    assert list(harness.settings.effective_spool_dir.iterdir()) == []
    assert (await harness.listing([directory["copro"]]))["items"] == []
    # Exactly at the limit is fine.
    assert (await harness.upload(directory["tenant"], meta(), pdf_bytes(limit))).status == 201


async def test_a_body_announced_far_over_the_limit_is_refused_before_reading(harness, directory):
    limit = harness.settings.max_upload_bytes
    response = await harness.client.post(
        "/api/v1/documents", data=b"x" * (limit + 2 * 1024 * 1024),
        headers={**harness.agency(directory["tenant"]), "Content-Type": "multipart/form-data; boundary=zz"})
    assert response.status == 413


INVALID = [
    (meta("NOPE"), "metadata.category"),
    (meta(audience={"residence_ref": "R404"}), "metadata.audience.residence_ref"),
    (meta("LOT_APPEL", {"account_ref": "C404"}), "metadata.audience.account_ref"),
    (meta("LOC_QUITT", {"residence_ref": "R1"}), "metadata.audience"),
    (meta("CS_BANQUE", {"residence_ref": "R1"}), "metadata.audience"),
    (meta("AG_PV", {"residence_ref": "R1", "council_only": True}), "metadata.audience"),
    (meta("CS_BANQUE", {"account_ref": "C001"}), "metadata.audience"),
    (meta("LOC_QUITT", {"account_ref": "C001"}), "metadata.audience"),
    (meta("LOT_APPEL", {"account_ref": "L001"}), "metadata.audience"),
    (meta(audience={"residence_ref": "R1", "account_ref": "C001"}), "metadata.audience"),
    (meta(audience={"account_ref": "C001", "council_only": True}), "metadata.audience"),
    ({**meta(), "date": "2026-13-01"}, "metadata.date"),
    ({**meta(), "title": "  "}, "metadata.title"),
    ({**meta(), "extra": 1}, "metadata.extra"),
]

async def test_invalid_metadata_is_422_with_the_path(harness, directory):
    for metadata, path in INVALID:
        response = await harness.upload(directory["tenant"], metadata)
        assert response.status == 422, await response.text()
        body = await response.json()
        assert body["error"] == "validation_failed"
        assert path in [e["path"] for e in body["errors"]], (path, body)
        assert all(e["message"] for e in body["errors"])
    assert (await harness.listing([directory["copro"]]))["items"] == []


async def test_refs_of_another_tenant_do_not_resolve(harness, directory):
    other_tenant = uuid.uuid4()
    response = await harness.upload(other_tenant, meta())
    assert response.status == 422
    assert (await response.json())["errors"][0]["path"] == "metadata.audience.residence_ref"


async def test_malformed_bodies_are_400(harness, directory):
    tenant = directory["tenant"]
    no_file = await harness.client.post("/api/v1/documents", data=harness.form(meta(), None),
                                        headers=harness.agency(tenant))
    assert no_file.status == 400
    assert [e["path"] for e in (await no_file.json())["errors"]] == ["file"]
    no_meta = await harness.client.post("/api/v1/documents", data=harness.form(None, pdf_bytes()),
                                        headers=harness.agency(tenant))
    assert no_meta.status == 400
    bad_json = await harness.upload(tenant, "{not json")
    assert bad_json.status == 422
    assert (await bad_json.json())["errors"] == [{"path": "metadata", "message": "metadata is not valid JSON"}]
    not_multipart = await harness.client.post("/api/v1/documents", json=meta(), headers=harness.agency(tenant))
    assert not_multipart.status == 400


async def test_file_part_may_come_before_the_metadata(harness, directory):
    import aiohttp

    data = aiohttp.FormData()
    data.add_field("file", pdf_bytes(), filename="a.pdf")
    data.add_field("metadata", json.dumps(meta()), content_type="application/json")
    response = await harness.client.post("/api/v1/documents", data=data, headers=harness.agency(directory["tenant"]))
    assert response.status == 201


async def test_identical_reupload_returns_the_existing_document(harness, directory):
    content = pdf_bytes(3000)
    first = await harness.upload(directory["tenant"], meta(), content)
    again = await harness.upload(directory["tenant"], meta(title="Another title"), content)
    assert first.status == 201 and again.status == 200
    assert (await again.json())["id"] == (await first.json())["id"]
    # Same content to another audience or category is another document.
    council_meta = meta("CS_BANQUE", {"residence_ref": "R1", "council_only": True})
    council = await harness.upload(directory["tenant"], council_meta, content)
    assert council.status == 201
    assert (await council.json())["id"] != (await first.json())["id"]
    listing = await harness.listing([directory["copro"]])
    assert len(listing["items"]) == 1


async def test_only_agency_callers_upload(harness, directory):
    response = await harness.client.post("/api/v1/documents", data=harness.form(meta(), pdf_bytes()),
                                         headers=harness.person([directory["copro"]]))
    assert response.status == 403
    unauthenticated = await harness.client.post("/api/v1/documents", data=harness.form(meta(), pdf_bytes()))
    assert unauthenticated.status == 401


async def test_withdraw_hides_at_once_and_is_tenant_scoped(harness, directory):
    document = await harness.publish(directory["tenant"], meta())
    url = await harness.link([directory["copro"]], document["id"])
    assert url is not None
    other = await harness.client.delete(f"/api/v1/documents/{document['id']}", headers=harness.agency(uuid.uuid4()))
    assert other.status == 404
    assert (await other.json())["error"] == "document_not_found"
    response = await harness.client.delete(f"/api/v1/documents/{document['id']}",
                                           headers=harness.agency(directory["tenant"]))
    assert response.status == 204
    assert (await harness.listing([directory["copro"]]))["items"] == []
    assert (await harness.listing([directory["copro"]]))["facets"] == {"categories": {}, "years": {}}
    assert await harness.link([directory["copro"]], document["id"]) is None
    assert (await harness.client.get(url)).status == 404
    again = await harness.client.delete(f"/api/v1/documents/{document['id']}",
                                        headers=harness.agency(directory["tenant"]))
    assert again.status == 204
    missing = await harness.client.delete(f"/api/v1/documents/{uuid.uuid4()}",
                                          headers=harness.agency(directory["tenant"]))
    assert missing.status == 404
    # A withdrawn document can be published again (a new document).
    republished = await harness.upload(directory["tenant"], meta())
    assert republished.status == 201


async def test_concurrent_identical_uploads_make_one_document(harness, directory):
    import asyncio

    content = pdf_bytes(50_000)
    responses = await asyncio.gather(*(harness.upload(directory["tenant"], meta(), content) for _ in range(5)))
    statuses = sorted(r.status for r in responses)
    ids = {(await r.json())["id"] for r in responses}
    assert statuses.count(201) == 1 and statuses.count(200) == 4, statuses
    assert len(ids) == 1
    listing = await harness.listing([directory["copro"]])
    assert [d["id"] for d in listing["items"]] == list(ids)
    assert listing["facets"]["categories"] == {"AG_PV": 1}
    async with harness.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 1
