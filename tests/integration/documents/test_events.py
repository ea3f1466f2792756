"""Events over the real broker: documents.document_published leaves through the outbox with the
audience resolved to account ids; tenancy's directory events reach the projection."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import aio_pika
import pytest

from common.clock import FrozenClock
from common.db import migrate
from common.events import Envelope
from common.testing import wait_until
from services.documents.app import TRACKS, create_app
from tests.integration.documents.conftest import Harness, make_settings, pdf_bytes


@pytest.fixture
async def broker(amqp_url, exchange_name):
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
    yield channel, exchange
    await exchange.delete()
    await connection.close()


async def test_published_event_carries_the_audience_account_ids(relayed_harness, broker):
    harness = relayed_harness
    channel, exchange = broker
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(exchange, "documents.document_published")
    tenant, residence, elsewhere = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    council = await harness.account(tenant_id=tenant, ref="C1", council=True, residences=[(residence, "R1")])
    plain = await harness.account(tenant_id=tenant, ref="C2", residences=[(residence, "R1"), (elsewhere, "R2")])
    await harness.account(tenant_id=tenant, ref="C3", residences=[(elsewhere, "R2")])
    await harness.account(tenant_id=tenant, ref="L1", role="locataire", residences=[(residence, "R1")])
    closed = await harness.account(tenant_id=tenant, ref="C4", council=True, residences=[(residence, "R1")])
    await harness.close(closed)
    messages = []

    async def received():
        message = await queue.get(fail=False, no_ack=True)
        if message is not None:
            messages.append(json.loads(message.body))
        return len(messages) == 3

    await harness.publish(tenant, {"category": "AG_PV", "title": "PV 2025", "date": "2025-06-12",
                                   "audience": {"residence_ref": "R1"}})
    await harness.publish(tenant, {"category": "CS_BANQUE", "title": "Relevé", "date": "2025-06-13",
                                   "audience": {"residence_ref": "R1", "council_only": True}})
    appel_meta = {"category": "LOT_APPEL", "title": "Appel", "date": "2025-06-14", "audience": {"account_ref": "C2"}}
    appel_content = pdf_bytes(seed="appel")
    account_doc = await harness.publish(tenant, appel_meta, appel_content)
    await wait_until(received, timeout=15, message="three published events")
    by_title = {m["payload"]["title"]: m for m in messages}
    pv = by_title["PV 2025"]
    assert pv["type"] == "documents.document_published" and pv["tenant_id"] == str(tenant)
    assert sorted(pv["payload"]["audience_account_ids"]) == sorted([str(council["account_id"]),
                                                                    str(plain["account_id"])])
    assert pv["payload"]["category"] == "AG_PV" and pv["payload"]["date"] == "2025-06-12"
    assert pv["payload"]["category_label"] == "Procès-verbal d'assemblée générale (3 dernières AG)"
    assert by_title["Relevé"]["payload"]["audience_account_ids"] == [str(council["account_id"])]
    appel = by_title["Appel"]["payload"]
    assert appel["document_id"] == account_doc["id"] and appel["audience_account_ids"] == [str(plain["account_id"])]
    # An idempotent re-upload publishes nothing more.
    assert (await harness.upload(tenant, appel_meta, appel_content)).status == 200
    async with harness.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE type = 'documents.document_published'") == 3


async def test_directory_events_from_the_broker_update_access(fresh_database, tmp_path, aiohttp_client,
                                                              exchange_name, broker):
    _, exchange = broker
    await migrate(fresh_database, TRACKS)
    settings = make_settings(fresh_database, tmp_path, exchange_name, consumer_enabled=True)
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    app = create_app(settings, clock=clock)
    harness = Harness(client=await aiohttp_client(app), app=app, clock=clock, settings=settings)
    tenant, residence, account_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    account = {"tenant_id": tenant, "account_id": account_id}

    async def send(type_, payload):
        envelope = Envelope(id=uuid.uuid4(), type=type_, version=1, occurred_at=datetime.now(UTC), tenant_id=tenant,
                            payload=payload)
        await exchange.publish(aio_pika.Message(envelope.to_bytes(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                               routing_key=type_)

    await send("tenancy.account_upserted", {
        "account_id": str(account_id), "tenant_id": str(tenant), "ref": "C1", "role": "coproprietaire",
        "display_name": "M. Dupont", "council": False, "status": "active",
        "residences": [{"id": str(residence), "ref": "R1", "name": "Les Tilleuls"}],
        "lots": [{"ref": "L12", "number": "12", "residence_ref": "R1"}]})

    async def resolvable():
        response = await harness.upload(tenant, {"category": "AG_PV", "title": "PV", "date": "2025-06-12",
                                                 "audience": {"residence_ref": "R1"}})
        return response.status == 201

    await wait_until(resolvable, timeout=15, interval=0.1, message="the projection to know R1")
    assert len((await harness.listing([account]))["items"]) == 1
    await send("tenancy.account_closed", {"account_id": str(account_id), "tenant_id": str(tenant), "ref": "C1"})

    async def hidden():
        return (await harness.listing([account]))["items"] == []

    await wait_until(hidden, timeout=15, message="the closure to hide the documents")
