"""The S3 store against a real S3-compatible HTTP server (moto's server mode): upload in parts,
content addressing, full and ranged downloads, ZIP, through the service like in production."""

from __future__ import annotations

import hashlib
import io
import uuid
import zipfile
from datetime import UTC, datetime

import boto3
import pytest
from moto.server import ThreadedMotoServer

from common.clock import FrozenClock
from common.db import migrate
from common.testing import free_port
from services.documents.app import TRACKS, create_app
from services.documents.storage import S3Store
from tests.integration.documents.conftest import Harness, make_settings, pdf_bytes


@pytest.fixture(scope="module")
def s3_endpoint():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
async def s3_harness(fresh_database, tmp_path, aiohttp_client, exchange_name, s3_endpoint):
    bucket = f"docs-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="eu-west-3", aws_access_key_id="test",
                          aws_secret_access_key="test")
    client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-3"})
    await migrate(fresh_database, TRACKS)
    settings = make_settings(fresh_database, tmp_path, exchange_name, storage_backend="s3", s3_bucket=bucket,
                             s3_endpoint_url=s3_endpoint, s3_access_key_id="test", s3_secret_access_key="test",
                             max_upload_bytes=20 * 1024 * 1024)
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    app = create_app(settings, clock=clock, relay=False)
    test_client = await aiohttp_client(app)
    harness = Harness(client=test_client, app=app, clock=clock, settings=settings)
    harness.s3 = client
    harness.bucket = bucket
    return harness


async def test_upload_and_download_through_s3(s3_harness):
    harness = s3_harness
    tenant, residence = uuid.uuid4(), uuid.uuid4()
    account = await harness.account(tenant_id=tenant, ref="C1", residences=[(residence, "R1")])
    # Larger than one part (8 MiB): a multipart upload.
    content = pdf_bytes(S3Store.PART_SIZE + 123_457)
    document = await harness.publish(tenant, {"category": "AG_PV", "title": "PV", "date": "2025-06-12",
                                              "audience": {"residence_ref": "R1"}}, content)
    sha = hashlib.sha256(content).hexdigest()
    assert document["sha256"] == sha
    stored = harness.s3.get_object(Bucket=harness.bucket, Key=f"blobs/{sha[:2]}/{sha[2:4]}/{sha}")["Body"].read()
    assert stored == content
    # Nothing on the local disk but the (empty) spool.
    assert list(harness.settings.effective_spool_dir.iterdir()) == []
    url = await harness.link([account], document["id"])
    response = await harness.client.get(url)
    assert response.status == 200 and await response.read() == content
    ranged = await harness.client.get(url, headers={"Range": "bytes=8388600-8388700"})
    assert ranged.status == 206
    assert await ranged.read() == content[8388600:8388701]
    tail = await harness.client.get(url, headers={"Range": "bytes=-10"})
    assert await tail.read() == content[-10:]
    # Same content for another audience: a second document, one object.
    council = await harness.publish(tenant, {"category": "CS_BANQUE", "title": "Banque", "date": "2025-06-13",
                                             "audience": {"residence_ref": "R1", "council_only": True}}, content)
    assert council["id"] != document["id"]
    listed = harness.s3.list_objects_v2(Bucket=harness.bucket)["Contents"]
    assert [o["Key"] for o in listed] == [f"blobs/{sha[:2]}/{sha[2:4]}/{sha}"]
    small = pdf_bytes(3000)
    await harness.publish(tenant, {"category": "CP_INFO", "title": "Info", "date": "2025-01-01",
                                   "audience": {"residence_ref": "R1"}}, small)
    link = await harness.client.post("/v1/archives/link", json={"year": 2025}, headers=harness.person([account]))
    archive = await harness.client.get((await link.json())["url"])
    with zipfile.ZipFile(io.BytesIO(await archive.read())) as zipped:
        assert sorted(len(zipped.read(n)) for n in zipped.namelist()) == [len(small), len(content)]


async def test_refused_uploads_leave_nothing_in_the_bucket(s3_harness):
    harness = s3_harness
    tenant, residence = uuid.uuid4(), uuid.uuid4()
    await harness.account(tenant_id=tenant, ref="C1", residences=[(residence, "R1")])
    response = await harness.upload(tenant, {"category": "AG_PV", "title": "PV", "date": "2025-06-12",
                                             "audience": {"residence_ref": "R1"}}, b"MZ not a pdf")
    assert response.status == 415
    assert harness.s3.list_objects_v2(Bucket=harness.bucket).get("Contents", []) == []
