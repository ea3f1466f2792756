"""Signed download links: headers, ranges and validators (RFC 9110), expiry and tampering."""

from __future__ import annotations

import uuid
from urllib.parse import unquote

import pytest

from tests.integration.documents.conftest import pdf_bytes


@pytest.fixture
async def published(harness):
    tenant, residence = uuid.uuid4(), uuid.uuid4()
    copro = await harness.account(tenant_id=tenant, ref="C1", residences=[(residence, "R1")])
    content = pdf_bytes(100_000)
    document = await harness.publish(tenant, {"category": "AG_PV", "title": "PV", "date": "2025-06-12",
                                              "audience": {"residence_ref": "R1"}},
                                     content, filename="Procès-verbal \"AG\" 2025/06.pdf")
    url = await harness.link([copro], document["id"])
    return {"tenant": tenant, "copro": copro, "content": content, "document": document, "url": url}


async def test_the_file_is_streamed_with_safe_headers(harness, published):
    assert published["url"].startswith("/files/")
    response = await harness.client.get(published["url"])  # no internal token: public
    assert response.status == 200
    assert await response.read() == published["content"]
    headers = response.headers
    assert headers["Content-Type"] == "application/pdf"
    assert headers["Cache-Control"] == "private, no-store"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Accept-Ranges"] == "bytes"
    assert headers["ETag"] == f'"{published["document"]["sha256"]}"'
    assert int(headers["Content-Length"]) == len(published["content"])
    disposition = headers["Content-Disposition"]
    assert disposition.startswith("attachment; ")
    assert 'filename="' in disposition and "/" not in disposition.split('filename="')[1].split('"')[0]
    exact = unquote(disposition.split("filename*=UTF-8''")[1])
    assert exact == "06.pdf" or exact.startswith("Proc")
    assert all(ord(c) < 128 for c in disposition)


async def test_single_ranges(harness, published):
    content, url = published["content"], published["url"]
    size = len(content)
    cases = [("bytes=0-99", 0, 99), ("bytes=100-", 100, size - 1), ("bytes=-500", size - 500, size - 1),
             ("bytes=10-999999999", 10, size - 1), ("bytes=-999999999", 0, size - 1)]
    for header, start, end in cases:
        response = await harness.client.get(url, headers={"Range": header})
        assert response.status == 206, header
        assert response.headers["Content-Range"] == f"bytes {start}-{end}/{size}"
        assert await response.read() == content[start:end + 1]
        assert int(response.headers["Content-Length"]) == end - start + 1


async def test_unsatisfiable_and_ignored_ranges(harness, published):
    content, url = published["content"], published["url"]
    size = len(content)
    for header in (f"bytes={size}-", "bytes=-0"):
        response = await harness.client.get(url, headers={"Range": header})
        assert response.status == 416, header
        assert response.headers["Content-Range"] == f"bytes */{size}"
    # Multiple ranges, other units and malformed ones are ignored: the whole file.
    for header in ("bytes=0-1,5-6", "items=0-1", "bytes=5-2", "bytes=abc"):
        response = await harness.client.get(url, headers={"Range": header})
        assert response.status == 200, header
        assert await response.read() == content


async def test_validators(harness, published):
    url, etag = published["url"], f'"{published["document"]["sha256"]}"'
    not_modified = await harness.client.get(url, headers={"If-None-Match": f'"other", W/{etag}'})
    assert not_modified.status == 304
    assert not_modified.headers["ETag"] == etag
    assert await not_modified.read() == b""
    assert (await harness.client.get(url, headers={"If-None-Match": '"other"'})).status == 200
    # If-Range: the range only while the representation is the one the client has (strong match).
    same = await harness.client.get(url, headers={"Range": "bytes=0-9", "If-Range": etag})
    assert same.status == 206
    changed = await harness.client.get(url, headers={"Range": "bytes=0-9", "If-Range": '"stale"'})
    assert changed.status == 200
    assert await changed.read() == published["content"]
    weak = await harness.client.get(url, headers={"Range": "bytes=0-9", "If-Range": f"W/{etag}"})
    assert weak.status == 200


async def test_head_gives_headers_only(harness, published):
    response = await harness.client.head(published["url"])
    assert response.status == 200
    assert int(response.headers["Content-Length"]) == len(published["content"])


async def test_expired_altered_or_foreign_links_are_404(harness, published):
    url = published["url"]
    token = url.removeprefix("/files/")
    altered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert (await harness.client.get("/files/" + altered)).status == 404
    assert (await harness.client.get("/files/not-a-token")).status == 404
    # A token signed with the internal secret is not a file token.
    internal = harness.person([published["copro"]])["Authorization"].split(" ")[1]
    assert (await harness.client.get("/files/" + internal)).status == 404
    # Another person's link to a document they cannot see.
    stranger = await harness.account(tenant_id=published["tenant"], ref="L9", role="locataire")
    assert await harness.link([stranger], published["document"]["id"]) is None
    assert await harness.link([published["copro"]], uuid.uuid4()) is None
    assert await harness.link([published["copro"]], "not-a-uuid") is None
    harness.clock.advance(seconds=harness.settings.url_ttl_seconds + 1)
    expired = await harness.client.get(url)
    assert expired.status == 404
    assert (await expired.json())["error"] == "document_not_found"


async def test_readiness_checks_the_database_and_the_storage(harness):
    response = await harness.client.get("/health/ready")
    assert response.status == 200
    assert set((await response.json())["checks"]) == {"database", "storage"}
    # The blob volume goes away (unmounted): not ready, naming the storage.
    storage = harness.settings.storage_dir
    moved = storage.with_name("blobs-away")
    storage.rename(moved)
    try:
        broken = await harness.client.get("/health/ready")
        assert broken.status == 503
        assert "storage" in (await broken.json())["failing"]
    finally:
        moved.rename(storage)
    assert (await harness.client.get("/health/ready")).status == 200
