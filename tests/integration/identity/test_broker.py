"""With the broker on: identity's events reach RabbitMQ and tenancy.account_closed is consumed."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import aio_pika

from common.clock import FrozenClock
from common.db import migrate
from common.events import Envelope
from common.testing import wait_until
from services.identity.__main__ import TRACKS
from services.identity.app import create_app
from services.identity.settings import IdentitySettings
from tests.integration.identity.conftest import CHEAP_ARGON2, Identity, Tenant, unique_email


async def test_events_published_and_account_closed_consumed(fresh_database, amqp_url, exchange_name, aiohttp_client):
    # A broker that accepts TCP but never answers the handshake must fail this test, not hang the suite.
    async with asyncio.timeout(60):
        await _scenario(fresh_database, amqp_url, exchange_name, aiohttp_client)


async def _scenario(fresh_database, amqp_url, exchange_name, aiohttp_client):
    await migrate(fresh_database, TRACKS)
    settings = IdentitySettings(database_url=fresh_database, tenancy_url=None, environment="test",
                                amqp_url=amqp_url, events_exchange=exchange_name, **CHEAP_ARGON2)
    connection = await aio_pika.connect(amqp_url, timeout=10)
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(exchange, "identity.#")
        clock = FrozenClock(datetime.now(UTC))
        client = await aiohttp_client(create_app(settings, clock=clock))
        identity = Identity(client, clock, settings, fresh_database, Tenant())
        cred = await identity.issue()
        email = unique_email()
        await identity.activate(cred, email)

        received = []

        async def got_linked():
            message = await queue.get(fail=False)
            if message is not None:
                await message.ack()
                received.append(json.loads(message.body))
            return any(m["type"] == "identity.account_linked" for m in received)

        await wait_until(got_linked, message="identity.account_linked published")
        assert [m["type"] for m in received] == ["identity.email_verification_requested", "identity.account_linked"]

        closed = Envelope(id=uuid.uuid4(), type="tenancy.account_closed", version=1, occurred_at=datetime.now(UTC),
                          tenant_id=identity.tenant.id,
                          payload={"account_id": cred["account_id"], "tenant_id": identity.tenant.id, "ref": "C1"})
        await exchange.publish(aio_pika.Message(closed.to_bytes(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                               routing_key="tenancy.account_closed")

        async def unlinked():
            return not await identity.sql("SELECT 1 FROM links WHERE account_id = $1::uuid", cred["account_id"])

        await wait_until(unlinked, message="account unlinked by the consumer")
        session = await (await identity.login(email)).json()
        info = await (await identity.post("/v1/sessions/introspect", {"session_id": session["session_id"]})).json()
        assert info["accounts"] == []
    finally:
        await connection.close()
