"""The relay wired in the tenancy app publishes its outbox on the events exchange (real RabbitMQ)."""

from __future__ import annotations

import json

import aio_pika

from common.testing import free_port, wait_until
from services.tenancy.app import create_app
from tests.integration.tenancy.conftest import Tenancy, make_tenancy, sample_directory


async def test_tenancy_events_reach_the_exchange_with_their_routing_keys(fresh_database, exchange_name, amqp_url,
                                                                        aiohttp_client):
    connection = await aio_pika.connect_robust(amqp_url, timeout=15)  # fail, never hang, if the broker is stuck
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(exchange, routing_key="tenancy.#")
        received: list[tuple[str, dict]] = []

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                received.append((message.routing_key, json.loads(message.body)))

        await queue.consume(on_message)

        base: Tenancy = await make_tenancy(fresh_database, exchange_name, aiohttp_client,
                                           f"http://127.0.0.1:{free_port()}")
        client = await aiohttp_client(create_app(base.settings))  # with the relay this time
        tenancy = Tenancy(client=client, dsn=base.dsn, settings=base.settings)
        tenant = await tenancy.onboard()
        await tenancy.put_directory(tenant["id"], sample_directory())
        await client.delete("/api/v1/directory/accounts/C1", headers=tenancy.agency(tenant["id"]))

        await wait_until(lambda: len(received) >= 3, timeout=20, message="3 tenancy events on the exchange")
        keys = sorted(key for key, _ in received)
        # The import's 3 accounts travel in one tenancy.accounts_upserted batch.
        assert keys == ["tenancy.account_closed", "tenancy.accounts_upserted", "tenancy.tenant_onboarded"]
        for key, envelope in received:
            assert envelope["type"] == key and envelope["tenant_id"] == tenant["id"]
        batch = next(envelope for key, envelope in received if key == "tenancy.accounts_upserted")
        assert sorted(row[1] for row in batch["payload"]["accounts"]) == ["C1", "C2", "C3"]
    finally:
        await connection.close()
