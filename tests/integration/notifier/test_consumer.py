"""The whole notifier process: events on the real RabbitMQ -> emails in the real SMTP sink."""

from __future__ import annotations

import contextlib
import uuid

import aio_pika
import pytest

from common.consumer import queue_names
from common.events import Envelope
from common.http import METRICS_REGISTRY
from common.parked import list_parked
from common.testing import wait_until
from services.notifier import domain
from services.notifier.app import RUNTIME, create_app
from tests.integration.notifier.conftest import envelope, reset_payload, unique_email, verification_payload


@pytest.fixture
async def running(make_settings, aiohttp_client, amqp_url, exchange_name):
    """Start the notifier app; yield (client, publish); delete its queues afterwards."""
    settings = make_settings(digest_window_seconds=0.3, retry_delays=(0.3,) * 12)
    app = create_app(settings)
    client = await aiohttp_client(app)
    await wait_until(lambda: app[RUNTIME].consumer is not None and app[RUNTIME].consumer.connected,
                     message="consumer attached")
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel(publisher_confirms=True)
    exchange = await channel.get_exchange(exchange_name)

    async def publish(event: Envelope | bytes, routing_key: str | None = None) -> None:
        body = event if isinstance(event, bytes) else event.to_bytes()
        key = routing_key or event.type
        await exchange.publish(aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                                                content_type="application/json"), routing_key=key)

    yield app, client, publish
    await client.close()  # stops the consumer before its queues go
    names = queue_names("notifier", exchange=exchange_name, retry_count=len(settings.retry_delays))
    for name in [names.main, names.parked, *names.retries]:
        with contextlib.suppress(Exception):
            await channel.queue_delete(name)
    with contextlib.suppress(Exception):
        await channel.exchange_delete(exchange_name)
    await connection.close()


def _count(app, outcome: str) -> float:
    value = app[METRICS_REGISTRY].get_sample_value("events_consumed_total",
                                                   {"consumer": "notifier", "outcome": outcome})
    return value or 0


async def _statuses(app, event_id) -> list[str]:
    pool = app[RUNTIME].notifier.pool
    return [r["status"] for r in await pool.fetch("SELECT status FROM deliveries WHERE event_id = $1", event_id)]


async def test_every_event_type_produces_its_email(running, upstreams, smtp_sink):
    _app, client, publish = running
    tenant = upstreams.add_tenant()
    who = {kind: unique_email(kind) for kind in ("verify", "reset", "changed", "linked", "docs")}
    account = uuid.uuid4()
    upstreams.link(account, who["docs"])
    await publish(envelope(domain.EMAIL_VERIFICATION, verification_payload(tenant, who["verify"])))
    await publish(envelope(domain.PASSWORD_RESET, reset_payload(tenant, who["reset"])))
    await publish(envelope(domain.PASSWORD_CHANGED, {
        "person_id": str(uuid.uuid4()), "email": who["changed"], "tenant_id": tenant["id"], "reason": "change",
        "changed_at": "2026-01-15T09:00:00+00:00"}))
    await publish(envelope(domain.ACCOUNT_LINKED, {
        "person_id": str(uuid.uuid4()), "email": who["linked"], "tenant_id": tenant["id"],
        "account_id": str(account), "role": "coproprietaire", "via": "activation"}))
    await publish(envelope(domain.DOCUMENT_PUBLISHED, {
        "document_id": str(uuid.uuid4()), "tenant_id": tenant["id"], "title": "PV d'AG 2025", "category": "pv_ag",
        "category_label": "Procès-verbaux d'AG", "date": "2026-01-10", "audience_account_ids": [str(account)]}))

    await wait_until(lambda: all(smtp_sink.to(address) for address in who.values()), message="five emails")
    subjects = {kind: smtp_sink.to(address)[0].subject for kind, address in who.items()}
    assert subjects == {
        "verify": "Confirmation de votre adresse email extranet",
        "reset": "Réinitialisation de votre mot de passe",
        "changed": "Votre mot de passe a été modifié",
        "linked": "Un nouveau lot est accessible avec votre identifiant",
        "docs": "Nouveau document disponible",
    }
    assert "PV d'AG 2025" in smtp_sink.to(who["docs"])[0].text()
    # The counters move after the send and its commit, a moment after the sink has the email: poll.
    expected = ('notifier_emails_total{kind="identity.email_verification_requested",outcome="sent"} 1.0',
                'notifier_emails_total{kind="documents.digest",outcome="sent"} 1.0')

    async def counted() -> bool:
        metrics = await (await client.get("/metrics")).text()
        return all(line in metrics for line in expected)

    await wait_until(counted, message="the sent emails counted in the metrics")
    ready = await client.get("/health/ready")
    assert ready.status == 200 and "broker" in (await ready.json())["checks"]


async def test_smtp_down_then_up_delivers_every_email_once(running, upstreams, smtp_sink):
    app, _client, publish = running
    tenant = upstreams.add_tenant()
    events = [envelope(domain.PASSWORD_RESET, reset_payload(tenant, unique_email())) for _ in range(3)]
    smtp_sink.fail_temporarily()
    for event in events:
        await publish(event)

    async def all_retrying():
        return [await _statuses(app, e.id) for e in events] == [["retrying"]] * 3

    await wait_until(all_retrying, message="every delivery marked retrying")
    assert smtp_sink.messages == []
    smtp_sink.recover()

    async def all_sent():
        return [await _statuses(app, e.id) for e in events] == [["sent"]] * 3

    await wait_until(all_sent, message="every delivery sent")
    for event in events:
        assert len(smtp_sink.to(event.payload["email"])) == 1
    assert _count(app, "retried") >= 3


async def test_refused_recipient_is_parked_with_the_reason_and_others_are_delivered(
        running, upstreams, smtp_sink, amqp_url, exchange_name):
    app, client, publish = running
    tenant = upstreams.add_tenant()
    refused, fine = unique_email("refused"), unique_email("fine")
    smtp_sink.reject(refused, "550 5.1.1 Mailbox unavailable")
    bad = envelope(domain.EMAIL_VERIFICATION, verification_payload(tenant, refused))
    await publish(bad)
    await publish(envelope(domain.EMAIL_VERIFICATION, verification_payload(tenant, fine)))

    await wait_until(lambda: smtp_sink.to(fine) and _count(app, "parked") == 1, message="one sent, one parked")
    assert smtp_sink.to(refused) == []
    [parked] = await list_parked(amqp_url, queue_names("notifier", exchange=exchange_name).main)
    assert parked.reason == "permanent_error" and "550 5.1.1 Mailbox unavailable" in parked.detail
    assert await _statuses(app, bad.id) == ["failed"]
    metrics = await (await client.get("/metrics")).text()
    assert 'notifier_emails_total{kind="identity.email_verification_requested",outcome="refused"} 1.0' in metrics


async def test_duplicate_event_sends_one_email(running, upstreams, smtp_sink):
    app, _client, publish = running
    tenant = upstreams.add_tenant()
    email = unique_email()
    event = envelope(domain.EMAIL_VERIFICATION, verification_payload(tenant, email))
    await publish(event)
    await publish(event)

    await wait_until(lambda: _count(app, "handled") + _count(app, "duplicate") == 2, message="both copies consumed")
    assert _count(app, "duplicate") == 1
    assert len(smtp_sink.to(email)) == 1


async def test_malformed_events_are_parked_and_the_consumer_continues(
        running, upstreams, smtp_sink, amqp_url, exchange_name):
    app, _client, publish = running
    tenant = upstreams.add_tenant()
    await publish(b"{not json", routing_key=domain.PASSWORD_RESET)
    await publish(envelope(domain.PASSWORD_RESET, {"email": "x@example.org", "tenant_id": tenant["id"]}))
    email = unique_email()
    await publish(envelope(domain.PASSWORD_RESET, reset_payload(tenant, email)))

    await wait_until(lambda: smtp_sink.to(email) and _count(app, "parked") == 2, message="two parked, one sent")
    parked = await list_parked(amqp_url, queue_names("notifier", exchange=exchange_name).main)
    reasons = sorted((p.reason, p.detail) for p in parked)
    assert reasons[0][0] == "invalid_envelope"
    assert reasons[1][0] == "permanent_error" and "identity.password_reset_requested: " in reasons[1][1]
