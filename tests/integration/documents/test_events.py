"""Events over the real broker: documents.document_published leaves through the outbox with the
audience resolved to account ids; tenancy's directory events reach the projection."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import aio_pika
import pytest

from common.clock import FrozenClock
from common.db import migrate
from common.events import Envelope
from common.testing import wait_until
from services.documents import consumers
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


def _batch_payload(tenant, residences: dict, accounts: list[tuple]) -> dict:
    """A tenancy.accounts_upserted payload; accounts are (id, ref, role, council, status, [(lot, residence ref)])."""
    return {"tenant_id": str(tenant),
            "account_fields": ["account_id", "ref", "role", "display_name", "council", "status", "lots"],
            "lot_fields": ["ref", "number", "residence_ref"],
            "residences": [{"id": str(rid), "ref": ref, "name": f"Résidence {ref}"} for ref, rid in residences.items()],
            "accounts": [[str(aid), ref, role, f"M. {ref}", council, status, [[lot, lot, rref] for lot, rref in lots]]
                         for aid, ref, role, council, status, lots in accounts]}


async def _projection(harness: Harness, ids) -> dict:
    async with harness.pool.acquire() as conn:
        rows = await conn.fetch("SELECT id, ref, role, council, status, residence_ids, event_at"
                                " FROM accounts WHERE id = ANY($1::uuid[])", list(ids))
    return {r["id"]: dict(r) for r in rows}


async def test_a_batch_event_projects_every_account_and_a_replay_or_older_batch_changes_nothing(harness):
    tenant, r1, r2 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    ids = [uuid.uuid4() for _ in range(3)]
    payload = _batch_payload(tenant, {"R1": r1, "R2": r2}, [
        (ids[0], "C1", "coproprietaire", True, "active", [("L1", "R1"), ("L2", "R2")]),
        (ids[1], "C2", "coproprietaire", False, "active", [("L3", "R1")]),
        (ids[2], "C3", "locataire", False, "active", [("L4", "R2")])])
    at = datetime(2026, 3, 1, tzinfo=UTC)
    envelope = Envelope(id=uuid.uuid4(), type="tenancy.accounts_upserted", version=1, occurred_at=at,
                        tenant_id=tenant, payload=payload)
    async with harness.pool.acquire() as conn, conn.transaction():
        await consumers.handle(conn, envelope)
    projected = await _projection(harness, ids)
    rows = {(p["ref"], p["role"], p["council"], p["status"], tuple(p["residence_ids"])) for p in projected.values()}
    assert rows == {
        ("C1", "coproprietaire", True, "active", tuple(sorted([r1, r2]))),
        ("C2", "coproprietaire", False, "active", (r1,)),
        ("C3", "locataire", False, "active", (r2,))}
    accounts = [{"tenant_id": tenant, "account_id": i} for i in ids]
    await harness.publish(tenant, {"category": "AG_PV", "title": "PV", "date": "2025-06-12",
                                   "audience": {"residence_ref": "R1"}})
    assert len((await harness.listing(accounts[:1]))["items"]) == 1   # C1, coproprietaire of R1
    assert len((await harness.listing(accounts[2:]))["items"]) == 0   # C3, locataire

    # The same event applied again (a redelivery past the dedup row), then an older batch that
    # arrives late with other data: the projection stays as it is, row for row.
    async with harness.pool.acquire() as conn, conn.transaction():
        await consumers.handle(conn, envelope)
    assert await _projection(harness, ids) == projected
    older = _batch_payload(tenant, {"R1": r1}, [(i, f"C{n + 1}", "locataire", False, "active", [("L1", "R1")])
                                                for n, i in enumerate(ids)])
    async with harness.pool.acquire() as conn, conn.transaction():
        await consumers.handle(conn, Envelope(id=uuid.uuid4(), type="tenancy.accounts_upserted", version=1,
                                              occurred_at=at - timedelta(minutes=1), tenant_id=tenant, payload=older))
    assert await _projection(harness, ids) == projected
    # A newer single-account event (the old type, still consumed) and a newer batch both apply.
    await harness.event("tenancy.account_upserted", {
        "account_id": str(ids[2]), "tenant_id": str(tenant), "ref": "C3", "role": "coproprietaire",
        "display_name": "M. C3", "council": False, "status": "active",
        "residences": [{"id": str(r1), "ref": "R1", "name": "Résidence R1"}], "lots": []},
        occurred_at=at + timedelta(minutes=1))
    assert len((await harness.listing(accounts[2:]))["items"]) == 1
    newer = _batch_payload(tenant, {"R2": r2}, [(ids[1], "C2", "coproprietaire", False, "active", [("L3", "R2")])])
    async with harness.pool.acquire() as conn, conn.transaction():
        await consumers.handle(conn, Envelope(id=uuid.uuid4(), type="tenancy.accounts_upserted", version=1,
                                              occurred_at=at + timedelta(minutes=2), tenant_id=tenant, payload=newer))
    assert (await _projection(harness, [ids[1]]))[ids[1]]["residence_ids"] == [r2]


async def test_a_malformed_batch_is_refused_permanently(harness):
    from common.consumer import PermanentError

    tenant = uuid.uuid4()
    payload = _batch_payload(tenant, {}, [(uuid.uuid4(), "C1", "locataire", False, "active", [("L1", "R404")])])
    envelope = Envelope(id=uuid.uuid4(), type="tenancy.accounts_upserted", version=1, occurred_at=datetime.now(UTC),
                        tenant_id=tenant, payload=payload)
    with pytest.raises(PermanentError):
        async with harness.pool.acquire() as conn, conn.transaction():
            await consumers.handle(conn, envelope)


async def test_batch_and_single_directory_events_from_the_broker_are_consumed_once(
        fresh_database, tmp_path, aiohttp_client, exchange_name, broker):
    _, exchange = broker
    await migrate(fresh_database, TRACKS)
    settings = make_settings(fresh_database, tmp_path, exchange_name, consumer_enabled=True)
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    app = create_app(settings, clock=clock)
    harness = Harness(client=await aiohttp_client(app), app=app, clock=clock, settings=settings)
    tenant, residence = uuid.uuid4(), uuid.uuid4()
    batch_ids = [uuid.uuid4() for _ in range(250)]
    single_id = uuid.uuid4()
    batch = Envelope(id=uuid.uuid4(), type="tenancy.accounts_upserted", version=1, occurred_at=datetime.now(UTC),
                     tenant_id=tenant, payload=_batch_payload(tenant, {"R1": residence}, [
                         (i, f"C{n:04d}", "coproprietaire", False, "active", [(f"L{n}", "R1")])
                         for n, i in enumerate(batch_ids)]))
    single = Envelope(id=uuid.uuid4(), type="tenancy.account_upserted", version=1, occurred_at=datetime.now(UTC),
                      tenant_id=tenant, payload={
                          "account_id": str(single_id), "tenant_id": str(tenant), "ref": "S1", "role": "coproprietaire",
                          "display_name": "M. S", "council": False, "status": "active",
                          "residences": [{"id": str(residence), "ref": "R1", "name": "Résidence R1"}], "lots": []})
    for envelope in (batch, batch, single):  # the batch twice: a duplicate delivery
        await exchange.publish(aio_pika.Message(envelope.to_bytes(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                                                message_id=str(envelope.id)), routing_key=envelope.type)

    async def projected():
        return len(await _projection(harness, [*batch_ids, single_id])) == 251

    await wait_until(projected, timeout=15, interval=0.1, message="251 accounts projected")

    async def deduplicated():
        async with harness.pool.acquire() as conn:
            return await conn.fetchval("SELECT count(*) FROM processed_events WHERE event_id = ANY($1::uuid[])",
                                       [batch.id, single.id]) == 2

    await wait_until(deduplicated, timeout=15, interval=0.1, message="both events recorded once")
    await harness.publish(tenant, {"category": "AG_PV", "title": "PV", "date": "2025-06-12",
                                   "audience": {"residence_ref": "R1"}})
    assert len((await harness.listing([{"tenant_id": tenant, "account_id": batch_ids[-1]}]))["items"]) == 1
    assert len((await harness.listing([{"tenant_id": tenant, "account_id": single_id}]))["items"]) == 1
