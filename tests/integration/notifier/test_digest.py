"""Document digests: pending items recorded by the handler, one email per person per window."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from services.notifier import domain
from services.notifier.digest import DigestFlusher
from services.notifier.errors import DeliveryDeferred
from tests.integration.notifier.conftest import envelope, handle, unique_email


def published(tenant: dict, title: str, *accounts: uuid.UUID) -> object:
    return envelope(domain.DOCUMENT_PUBLISHED, {
        "document_id": str(uuid.uuid4()), "tenant_id": tenant["id"], "title": title, "category": "appel_fonds",
        "category_label": "Appels de fonds", "date": "2026-01-15", "audience_account_ids": [str(a) for a in accounts]})


async def _pending(notifier) -> int:
    return await notifier.pool.fetchval("SELECT count(*) FROM digest_items")


async def test_documents_published_together_reach_each_person_in_one_email(notifier, upstreams, smtp_sink, clock):
    tenant = upstreams.add_tenant()
    flat, parking = uuid.uuid4(), uuid.uuid4()
    anne, bruno = unique_email("anne"), unique_email("bruno")
    upstreams.link(parking, anne, upstreams.link(flat, anne))  # one person, two accounts
    upstreams.link(flat, bruno)
    events = [published(tenant, "Appel T1", flat), published(tenant, "Badge parking", parking),
              published(tenant, "Appel T2", flat)]
    flusher = DigestFlusher(notifier)

    for event in events:
        await handle(notifier, event)
        clock.advance(seconds=10)
    assert await flusher.flush_once() == 0  # the window (60 s from the first) is still open
    assert smtp_sink.messages == []

    clock.advance(seconds=31)
    assert await flusher.flush_once() == 2
    [to_anne], [to_bruno] = smtp_sink.to(anne), smtp_sink.to(bruno)
    assert to_anne.subject == "3 nouveaux documents disponibles"
    assert all(title in to_anne.text() for title in ("Appel T1", "Badge parking", "Appel T2"))
    assert to_bruno.subject == "2 nouveaux documents disponibles" and "Badge parking" not in to_bruno.text()
    assert "CONSULTER MES DOCUMENTS" in to_anne.html()
    rows = await notifier.pool.fetch("SELECT status, message_id FROM deliveries WHERE recipient = $1", anne.lower())
    assert len(rows) == 3 and {r["status"] for r in rows} == {"sent"}
    assert {r["message_id"] for r in rows} == {to_anne.message["Message-ID"]}
    assert await _pending(notifier) == 0

    clock.advance(seconds=120)
    assert await flusher.flush_once() == 0
    await handle(notifier, events[0])  # the same event again: already delivered, nothing pending
    assert await _pending(notifier) == 0 and len(smtp_sink.messages) == 2


async def test_a_refused_person_is_recorded_and_the_others_are_delivered(notifier, upstreams, smtp_sink, clock):
    tenant = upstreams.add_tenant()
    account = uuid.uuid4()
    ok, refused = unique_email("ok"), unique_email("refused")
    upstreams.link(account, ok)
    upstreams.link(account, refused)
    smtp_sink.reject(refused, "550 5.1.1 No such user")
    event = published(tenant, "PV AG", account)

    await handle(notifier, event)
    clock.advance(seconds=61)
    await DigestFlusher(notifier).flush_once()

    assert len(smtp_sink.to(ok)) == 1 and smtp_sink.to(refused) == []
    failed = await notifier.pool.fetchrow("SELECT * FROM deliveries WHERE event_id = $1 AND recipient = $2",
                                          event.id, refused.lower())
    assert failed["status"] == "failed" and failed["last_error"] == "550 5.1.1 No such user"
    assert await _pending(notifier) == 0


async def test_temporary_failure_waits_for_the_retry_delay_then_sends_once(notifier, upstreams, smtp_sink, clock):
    tenant = upstreams.add_tenant()
    account = uuid.uuid4()
    email = unique_email()
    upstreams.link(account, email)
    flusher = DigestFlusher(notifier)
    await handle(notifier, published(tenant, "Relevé de charges", account))
    clock.advance(seconds=61)
    smtp_sink.fail_temporarily()

    await flusher.flush_once()
    row = await notifier.pool.fetchrow("SELECT status, attempts, last_error FROM deliveries WHERE recipient = $1",
                                       email.lower())
    assert (row["status"], row["attempts"]) == ("retrying", 1) and "451" in row["last_error"]
    smtp_sink.recover()
    clock.advance(seconds=29)  # first retry delay is 30 s
    assert await flusher.flush_once() == 0
    clock.advance(seconds=2)
    assert await flusher.flush_once() == 1
    assert len(smtp_sink.to(email)) == 1
    assert (await notifier.pool.fetchval("SELECT status FROM deliveries WHERE recipient = $1", email.lower())) == "sent"


async def test_two_flushers_at_once_send_each_digest_once(notifier, upstreams, smtp_sink, clock):
    tenant = upstreams.add_tenant()
    addresses = []
    for n in range(6):
        account = uuid.uuid4()
        addresses.append(unique_email(f"p{n}"))
        upstreams.link(account, addresses[-1])
        await handle(notifier, published(tenant, f"Document {n}", account))
    clock.advance(seconds=61)

    await asyncio.gather(DigestFlusher(notifier).flush_once(), DigestFlusher(notifier).flush_once())

    assert sorted(len(smtp_sink.to(a)) for a in addresses) == [1] * 6


class _DiesAfterSending:
    """A sender whose process 'dies' right after the relay accepted the email (before the commit)."""

    def __init__(self, real) -> None:
        self.real = real

    async def send(self, message, *, sender, recipient):
        await self.real.send(message, sender=sender, recipient=recipient)
        raise SystemError("killed after SMTP acceptance")


async def test_a_crash_before_the_commit_keeps_the_digest_and_resends_it_with_the_same_message_id(
        notifier, upstreams, smtp_sink, clock):
    tenant = upstreams.add_tenant()
    account = uuid.uuid4()
    email = unique_email()
    upstreams.link(account, email)
    await handle(notifier, published(tenant, "Avis d'échéance", account))
    clock.advance(seconds=61)
    working, notifier.sender = notifier.sender, _DiesAfterSending(notifier.sender)

    with pytest.raises(SystemError):
        await DigestFlusher(notifier).flush_once()
    notifier.sender = working
    assert await _pending(notifier) == 1  # nothing was lost
    await DigestFlusher(notifier).flush_once()

    first, second = smtp_sink.to(email)  # the documented window: at most one duplicate...
    assert first.message["Message-ID"] == second.message["Message-ID"]  # ...that clients can collapse
    assert await _pending(notifier) == 0


async def test_no_recipient_means_no_email_and_identity_down_is_deferred(notifier, upstreams, smtp_sink, clock):
    tenant = upstreams.add_tenant()
    await handle(notifier, published(tenant, "Personne", uuid.uuid4()))
    assert await _pending(notifier) == 0
    upstreams.down = True
    with pytest.raises(DeliveryDeferred, match="identity answered 503"):
        await handle(notifier, published(tenant, "Plus tard", uuid.uuid4()))
