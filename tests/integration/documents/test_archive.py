"""ZIP archives of a year or a category: member names, selection, errors."""

from __future__ import annotations

import io
import uuid
import zipfile
import zlib

import pytest

from tests.integration.documents.conftest import docx_bytes, pdf_bytes


@pytest.fixture
async def person(harness):
    tenant, residence = uuid.uuid4(), uuid.uuid4()
    account = await harness.account(tenant_id=tenant, ref="C1", residences=[(residence, "R1")])
    return {"tenant": tenant, "account": account}


async def archive(harness, person, body):
    response = await harness.client.post("/v1/archives/link", json=body, headers=harness.person([person["account"]]))
    assert response.status == 200, await response.text()
    download = await harness.client.get((await response.json())["url"])
    assert download.status == 200
    return download, zipfile.ZipFile(io.BytesIO(await download.read()))


async def test_members_are_named_by_label_date_and_title_sanitized_and_unique(harness, person):
    tenant = person["tenant"]
    first, second = pdf_bytes(seed="1"), pdf_bytes(seed="2")
    for content in (first, second):
        await harness.publish(tenant, {"category": "AG_PV", "title": "PV: AG / 2025?", "date": "2025-06-12",
                                       "audience": {"residence_ref": "R1"}}, content)
    office = docx_bytes()
    await harness.publish(tenant, {"category": "LOT_APPEL", "title": "Appel T1", "date": "2025-01-02",
                                   "audience": {"account_ref": "C1"}}, office, filename="appel.docx")
    await harness.publish(tenant, {"category": "LOT_APPEL", "title": "Appel 2024", "date": "2024-01-02",
                                   "audience": {"account_ref": "C1"}})
    download, zipped = await archive(harness, person, {"year": 2025})
    assert download.headers["Content-Disposition"].startswith('attachment; filename="documents-2025.zip"')
    assert download.headers["Cache-Control"] == "private, no-store"
    names = zipped.namelist()
    assert sorted(names) == sorted([
        "Procès-verbal d'assemblée générale (3 dernières AG) - 2025-06-12 - PV_ AG _ 2025.pdf",
        "Procès-verbal d'assemblée générale (3 dernières AG) - 2025-06-12 - PV_ AG _ 2025 (2).pdf",
        "Appels de fonds (3 dernières années) - 2025-01-02 - Appel T1.docx",
    ])
    assert zipped.testzip() is None
    assert sorted(zipped.read(n) for n in names) == sorted([first, second, office])
    for info in zipped.infolist():
        assert info.CRC == zlib.crc32(zipped.read(info.filename))
    _, by_category = await archive(harness, person, {"category": "LOT_APPEL"})
    assert len(by_category.namelist()) == 2
    _, both = await archive(harness, person, {"category": "LOT_APPEL", "year": 2024})
    assert [n.split(" - ")[2] for n in both.namelist()] == ["Appel 2024.pdf"]


async def test_selection_errors(harness, person):
    headers = harness.person([person["account"]])
    for body, status in [({}, 422), ({"category": "NOPE"}, 422), ({"year": "x"}, 422), ({"year": 2025}, 404),
                         ({"year": 2025, "tenant_id": str(uuid.uuid4())}, 404)]:
        response = await harness.client.post("/v1/archives/link", json=body, headers=headers)
        assert response.status == status, body
    bad_json = await harness.client.post("/v1/archives/link", data=b"{", headers=headers)
    assert bad_json.status == 400
