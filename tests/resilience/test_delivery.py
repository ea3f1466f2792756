"""Email delivery under faults, with the whole system running (shared broker): the notifier
SIGKILLed mid-stream and restarted, the SMTP relay answering 421 for a while, one recipient
refused with 550. Each test ends with the ledger: every email event identity produced was sent
exactly once (one delivery row, one message in the SMTP sink) or parked with its reason.
"""

from __future__ import annotations

import asyncio
import os
import signal

import asyncpg
import pytest

from common.testing import wait_until
from tests.resilience.support import (
    Walker,
    fresh_accounts,
    ledger,
    running_system,
    sent_message_ids,
    sink_message_ids,
    start_activation,
    unique_email,
)

ACCOUNTS = 40
# Message-IDs the relay accepted just before a notifier crash (may be in the sink twice): the
# ledgers of later tests in this module see them too.
REPEATABLE: set[str] = set()


@pytest.fixture(scope="module")
def system(database_url, amqp_url, tmp_path_factory):
    # Room for a 421 spell of a few seconds before the consumer's schedule is exhausted.
    with running_system(database_url, amqp_url, tmp_path_factory.mktemp("delivery"),
                        extra_env={"NOTIFIER_RETRY_DELAYS": "[0.5, 1, 2, 4, 8]"}) as running:
        yield running


@pytest.fixture(scope="module")
def accounts(system):
    return fresh_accounts(system, "Syndic des Pannes", ACCOUNTS)


async def _statuses(system) -> dict[str, str]:
    conn = await asyncpg.connect(system.by_name("notifier").database_url)
    try:
        return {r["recipient"]: r["status"] for r in await conn.fetch("SELECT recipient, status FROM deliveries")}
    finally:
        await conn.close()


async def test_notifier_killed_mid_stream_delivers_every_email_once_after_restart(system, accounts):
    first = await asyncio.gather(*(start_activation(system, accounts, f"crash-a{n}") for n in range(8)))
    # Kill while the first emails are going out (at least one sent, not necessarily all).
    await wait_until(lambda: any(system.emails_to(e) for e in first), timeout=30, interval=0.02,
                     message="a first email")
    system.kill("notifier")
    await _sink_settled(system)
    # Emails the relay accepted whose delivery the notifier had not committed when it died: the
    # redelivered event sends them again (same Message-ID). Only these may arrive twice; see
    # test_email_accepted_just_before_a_crash_is_never_lost_and_a_repeat_keeps_its_message_id for that window.
    in_flight = frozenset(sink_message_ids(system) - await sent_message_ids(system))
    REPEATABLE.update(in_flight)
    # Activations go on while the notifier is down: their events wait in its queue.
    second = await asyncio.gather(*(start_activation(system, accounts, f"crash-b{n}") for n in range(4)))
    assert not any(system.emails_to(e) for e in second)
    await asyncio.to_thread(system.restart, "notifier")
    for email in first + second:
        await asyncio.to_thread(system.wait_for_email, email, timeout=60)
    counts = await ledger(system, may_repeat=frozenset(REPEATABLE))
    assert counts["parked"] == 0, counts
    assert counts["repeated"] <= len(in_flight)
    assert all(len(system.emails_to(e)) == 1 for e in second)


async def test_email_accepted_just_before_a_crash_is_never_lost_and_a_repeat_keeps_its_message_id(system, accounts):
    """The documented window (services/notifier/README.md): SMTP has no transaction with our
    database, so a crash after the server's 250 and before the commit sends the email again on
    redelivery. Delivery is at-least-once there; the repeat carries the same Message-ID, which
    mail clients merge. Choosing at-most-once instead would lose an email, which locks a person
    out of the activation."""
    target = unique_email("window")
    notifier = system.by_name("notifier")

    def crash_on_target(envelope) -> None:
        if target.lower() in [r.lower() for r in envelope.rcpt_tos] and notifier.process.poll() is None:
            os.kill(notifier.process.pid, signal.SIGKILL)  # before the notifier reads the 250

    system.sink.on_accept(crash_on_target)
    try:
        tenant, login, password = next(accounts)
        walker = Walker(system.base_url, tenant)
        try:
            await walker.start_activation(login, password, target)
        finally:
            await walker.close()
        await wait_until(lambda: notifier.process.poll() is not None, timeout=30, message="the crash")
    finally:
        system.sink.on_accept(None)
    notifier.process.wait()
    await asyncio.to_thread(system.restart, "notifier")
    await asyncio.to_thread(system.wait_for_email, target, timeout=60)
    copies = system.emails_to(target)
    REPEATABLE.update(str(m.message["Message-ID"]).strip() for m in copies)
    await ledger(system, may_repeat=frozenset(REPEATABLE))
    assert 1 <= len(copies) <= 2
    assert len({str(m.message["Message-ID"]).strip() for m in copies}) == 1


async def test_smtp_421_for_a_while_then_delivered_once(system, accounts):
    system.sink.fail_temporarily("421 4.7.0 Service not available, try again later")
    try:
        emails = await asyncio.gather(*(start_activation(system, accounts, f"busy{n}") for n in range(3)))

        async def deferred() -> bool:
            statuses = await _statuses(system)
            return all(statuses.get(e) == "retrying" for e in emails)

        await wait_until(deferred, timeout=30, interval=0.1, message="the three deliveries deferred")
        assert not any(system.emails_to(e) for e in emails)
    finally:
        system.sink.recover()
    for email in emails:
        await asyncio.to_thread(system.wait_for_email, email, timeout=60)
    counts = await ledger(system, may_repeat=frozenset(REPEATABLE))
    assert counts["parked"] == 0, counts
    assert {e: len(system.emails_to(e)) for e in emails} == {e: 1 for e in emails}
    assert {e: s for e, s in (await _statuses(system)).items() if e in emails} == {e: "sent" for e in emails}


async def test_smtp_550_for_one_recipient_parks_it_and_delivers_the_others(system, accounts):
    refused = unique_email("refused")
    system.sink.reject(refused, "550 5.1.1 No such user")
    try:
        tenant, login, password = next(accounts)
        walker = Walker(system.base_url, tenant)
        try:
            await walker.start_activation(login, password, refused)
        finally:
            await walker.close()
        others = await asyncio.gather(*(start_activation(system, accounts, f"fine{n}") for n in range(3)))
        for email in others:
            await asyncio.to_thread(system.wait_for_email, email, timeout=60)
        await wait_until(lambda: _refused_is_final(system, refused), timeout=30, message="the refusal recorded")
        counts = await ledger(system, may_repeat=frozenset(REPEATABLE))
    finally:
        system.sink.recover()
    assert counts["parked"] == 1, counts
    assert system.emails_to(refused) == []
    assert {e: len(system.emails_to(e)) for e in others} == {e: 1 for e in others}
    conn = await asyncpg.connect(system.by_name("notifier").database_url)
    try:
        row = await conn.fetchrow("SELECT status, last_error FROM deliveries WHERE recipient = $1", refused)
    finally:
        await conn.close()
    assert row["status"] == "failed" and "550" in row["last_error"]


async def _refused_is_final(system, address: str) -> bool:
    return (await _statuses(system)).get(address) == "failed"


async def test_every_event_written_is_eventually_published(system):
    await asyncio.to_thread(system.new_tenant, name="Syndic du Registre")

    async def tenancy_outbox_empty() -> bool:
        conn = await asyncpg.connect(system.by_name("tenancy").database_url)
        try:
            return await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
        finally:
            await conn.close()

    await wait_until(tenancy_outbox_empty, timeout=15, interval=0.5, message="tenancy's outbox drained")


async def _sink_settled(system) -> None:
    """Let the SMTP sink's thread finish the sessions whose data was already sent before the kill."""
    seen: list[int] = []

    def stable() -> bool:
        seen.append(len(system.sink.messages))
        return len(seen) >= 4 and len(set(seen[-4:])) == 1

    await wait_until(stable, timeout=10, interval=0.2, message="the SMTP sink settled")
