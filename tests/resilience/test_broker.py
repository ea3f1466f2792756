"""The broker goes away under the whole system: a private RabbitMQ node (its own data, ports and
cookie) is the system's AMQP_URL, so stopping it disturbs no other test.

- stopped during activations: the pages still succeed (the events wait in identity's outbox) and
  the emails arrive once the broker is back;
- restarted while messages wait in the notifier's quorum queue (notifier down): after the restart
  every queued event is delivered once.
Each ends with the email ledger.
"""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from common.testing import wait_until
from tests.integration.events.rabbit_node import RabbitNode
from tests.resilience.support import (
    EMAIL_TYPES,
    fresh_accounts,
    ledger,
    running_system,
    start_activation,
)


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    rabbit = RabbitNode(tmp_path_factory.mktemp("rabbit"))
    asyncio.run(rabbit.start())
    yield rabbit
    asyncio.run(rabbit.stop(kill=True))


@pytest.fixture(scope="module")
def system(database_url, node, tmp_path_factory):
    with running_system(database_url, node.amqp_url, tmp_path_factory.mktemp("broker")) as running:
        yield running


@pytest.fixture(scope="module")
def accounts(system):
    return fresh_accounts(system, "Syndic du Courtier Absent", 12)


async def _unpublished(system) -> int:
    conn = await asyncpg.connect(system.by_name("identity").database_url)
    try:
        return await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL AND type = ANY($1::text[])",
                                   list(EMAIL_TYPES))
    finally:
        await conn.close()


async def test_broker_stopped_during_activations_then_emails_arrive_after_it_returns(system, node, accounts):
    warm = await start_activation(system, accounts, "warm")  # the consumer's queues exist before the outage
    await asyncio.to_thread(system.wait_for_email, warm, timeout=60)
    await node.stop()
    try:
        emails = await asyncio.gather(*(start_activation(system, accounts, f"outage{n}") for n in range(3)))
        assert await _unpublished(system) == 3  # committed with the activation, waiting for the broker
        assert not any(system.emails_to(e) for e in emails)
    finally:
        await node.start()
    for email in emails:
        await asyncio.to_thread(system.wait_for_email, email, timeout=90)
    counts = await ledger(system, timeout=90)
    assert counts["parked"] == 0, counts
    assert {e: len(system.emails_to(e)) for e in emails} == {e: 1 for e in emails}
    assert system.dead_services() == []


async def test_broker_restarted_with_messages_queued_delivers_each_once(system, node, accounts):
    system.kill("notifier")
    try:
        emails = await asyncio.gather(*(start_activation(system, accounts, f"queued{n}") for n in range(3)))
        # Published: now in the notifier's quorum queue, on the broker's disk.
        await wait_until(lambda: _none_unpublished(system), timeout=60, interval=0.2, message="events published")
        await node.stop()
        await node.start()
    finally:
        await asyncio.to_thread(system.restart, "notifier")
    for email in emails:
        await asyncio.to_thread(system.wait_for_email, email, timeout=90)
    counts = await ledger(system, timeout=90)
    assert counts["parked"] == 0, counts
    assert {e: len(system.emails_to(e)) for e in emails} == {e: 1 for e in emails}


async def _none_unpublished(system) -> bool:
    return await _unpublished(system) == 0
