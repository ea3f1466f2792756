"""Use cases of the notifier: turn one event into emails, record every delivery.

:meth:`Notifier.handle` is the consumer's handler: it runs inside the consumer's transaction on
``conn`` (the one that also records the event as processed), so an email is recorded as sent
in the same commit that marks its event processed.

The one window we accept (documented, not hidden): the relay accepts the email, then the
process dies (or the database fails) before that commit. The event is then delivered again and
the email is sent a second time, with the same ``Message-ID`` (derived from the event id and
the recipient), which lets mail clients and relays collapse the duplicate. Closing the window
would need two-phase commit with SMTP, which does not exist.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
from prometheus_client import CollectorRegistry, Counter, Histogram

from common.clock import Clock, SystemClock
from common.events import Envelope
from common.logging import get_logger
from services.notifier import domain, rendering
from services.notifier import repository as sql
from services.notifier.clients import IdentityClient, TenancyClient
from services.notifier.domain import Branding, MalformedEvent
from services.notifier.errors import DeliveryDeferred, DeliveryRefused
from services.notifier.settings import NotifierSettings
from services.notifier.smtp import SmtpPermanentError, SmtpSender, SmtpTemporaryError

log = get_logger(__name__)
RECORD_TIMEOUT_SECONDS = 5.0


class DeliveryMetrics:
    """Prometheus: emails by kind (event type) and outcome, and the time the relay took to accept."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.emails = Counter("notifier_emails", "Emails by event type and outcome (sent, deferred, refused)",
                              ["kind", "outcome"], registry=registry)
        self.smtp_seconds = Histogram("notifier_smtp_seconds", "Time from SMTP hand-off to the relay's answer",
                                      registry=registry,
                                      buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))

    def count(self, kind: str, outcome: str) -> None:
        self.emails.labels(kind, outcome).inc()


@dataclass
class Notifier:
    """Everything a handler needs; one per process, shared by the consumer and the digest flusher."""

    pool: asyncpg.Pool
    tenancy: TenancyClient
    identity: IdentityClient
    sender: SmtpSender
    settings: NotifierSettings
    clock: Clock = SystemClock()  # noqa: RUF009 (stateless, safe to share)
    metrics: DeliveryMetrics | None = None

    def count(self, kind: str, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.count(kind, outcome)

    async def send(self, message: bytes, *, recipient: str) -> None:
        """Hand one email to the relay (timed); raises SmtpTemporaryError / SmtpPermanentError."""
        started = time.perf_counter()
        try:
            await self.sender.send(message, sender=self.settings.mail_from, recipient=recipient)
        finally:
            if self.metrics is not None:
                self.metrics.smtp_seconds.observe(time.perf_counter() - started)

    async def handle(self, conn: asyncpg.Connection, envelope: Envelope) -> None:
        """Handle one event (the consumer's handler). Raises DeliveryDeferred / DeliveryRefused."""
        try:
            payload = domain.parse_payload(envelope.type, envelope.payload)
        except MalformedEvent as exc:
            log.warning("notifier.malformed_event", event_id=str(envelope.id), event_type=envelope.type,
                        reason=str(exc))
            raise DeliveryRefused(str(exc)) from None
        if isinstance(payload, domain.DocumentPublished):
            await self._enqueue_documents(conn, envelope, payload)
            return
        if isinstance(payload, domain.ConsentChanged):
            await self._confirm_consent(conn, envelope, payload)
            return
        brand = await self.tenancy.branding(payload.tenant_id, request_id=envelope.correlation_id)
        display_name = None
        try:
            match payload:
                case domain.VerificationRequested():
                    display_name = payload.display_name
                    account = await self.tenancy.account(payload.tenant_id, payload.account_id,
                                                         request_id=envelope.correlation_id) \
                        if payload.account_id else None
                    rendered = rendering.verification_email(payload, brand, issued_at=envelope.occurred_at,
                                                            public_base_url=self.settings.public_base_url,
                                                            account=account)
                case domain.ResetRequested():
                    rendered = rendering.reset_email(payload, brand, issued_at=envelope.occurred_at,
                                                     public_base_url=self.settings.public_base_url)
                case domain.StaffInvited():
                    display_name = payload.display_name
                    rendered = rendering.staff_invitation_email(payload, brand, issued_at=envelope.occurred_at,
                                                                public_base_url=self.settings.public_base_url)
                case domain.AccountUnlinked():
                    account = await self.tenancy.account(payload.tenant_id, payload.account_id,
                                                         request_id=envelope.correlation_id)
                    rendered = rendering.account_unlinked_email(payload, brand, account=account,
                                                                public_base_url=self.settings.public_base_url)
                case domain.PasswordChanged():
                    rendered = rendering.password_changed_email(payload, brand)
                case domain.MfaChanged():
                    rendered = rendering.mfa_changed_email(payload, brand)
                case domain.AccountLinked():
                    rendered = rendering.account_linked_email(payload, brand,
                                                              public_base_url=self.settings.public_base_url)
                case _:  # pragma: no cover - parse_payload knows only the types above
                    raise MalformedEvent(f"no email for {envelope.type}")
            recipient = domain.ascii_address(payload.email)
        except MalformedEvent as exc:
            log.warning("notifier.malformed_event", event_id=str(envelope.id), event_type=envelope.type,
                        reason=str(exc))
            raise DeliveryRefused(str(exc)) from None
        await self._deliver(conn, envelope, recipient=recipient, display_name=display_name,
                            rendered=rendered, brand=brand)

    async def _deliver(self, conn: asyncpg.Connection, envelope: Envelope, *, recipient: str,
                       display_name: str | None, rendered: rendering.Rendered, brand: Branding) -> None:
        key = domain.delivery_key(envelope.id, recipient)
        address = recipient.lower()
        if await conn.fetchval(sql.GET_DELIVERY_STATUS, envelope.id, address) == "sent":
            log.info("notifier.duplicate_skipped", event_id=str(envelope.id), event_type=envelope.type)
            return
        sender = self.settings.mail_from
        message_id = domain.message_id(key, sender)
        now = self.clock.now()
        message = rendering.build_message(rendered, sender=sender, recipient=recipient, message_id=message_id,
                                          date=now, brand=brand, display_name=display_name)
        try:
            await self.send(message, recipient=recipient)
        except SmtpTemporaryError as exc:
            self.count(envelope.type, "deferred")
            await self._record_outside(envelope, address, message_id, "retrying", str(exc))
            log.warning("notifier.smtp_deferred", event_id=str(envelope.id), event_type=envelope.type,
                        reason=str(exc))
            raise DeliveryDeferred(str(exc)) from None
        except SmtpPermanentError as exc:
            self.count(envelope.type, "refused")
            await self._record_outside(envelope, address, message_id, "failed", str(exc))
            log.warning("notifier.smtp_refused", event_id=str(envelope.id), event_type=envelope.type,
                        reason=str(exc))
            raise DeliveryRefused(str(exc)) from None
        accepted = self.clock.now()
        await conn.execute(sql.UPSERT_DELIVERY, envelope.id, address, envelope.type, brand.id, message_id,
                           "sent", None, accepted, accepted)
        self.count(envelope.type, "sent")
        log.info("notifier.sent", event_id=str(envelope.id), event_type=envelope.type, tenant_id=str(brand.id))

    async def _record_outside(self, envelope: Envelope, address: str, message_id: str, status: str,
                              error: str) -> None:
        """Record a failed attempt on another connection: the handler's transaction will roll back.

        Best effort with a short timeout: if every pooled connection is held by handlers, waiting
        could deadlock them, and the event is retried (or parked with the reason) anyway.
        """
        now = self.clock.now()
        try:
            async with self.pool.acquire(timeout=RECORD_TIMEOUT_SECONDS) as other:
                await other.execute(sql.UPSERT_DELIVERY, envelope.id, address, envelope.type, envelope.tenant_id,
                                    message_id, status, error, None, now)
        except (TimeoutError, asyncpg.PostgresError, OSError) as exc:
            log.warning("notifier.record_failed", event_id=str(envelope.id), error=type(exc).__name__)

    async def _enqueue_documents(self, conn: asyncpg.Connection, envelope: Envelope,
                                 payload: domain.DocumentPublished) -> None:
        """Record one pending digest item per recipient; the flusher sends them when the window closes."""
        # A convocation or fund call reaches by email only the accounts that consented to it
        # (documents lists the others in paper_account_ids: the agency sends those by post).
        paper = set(payload.paper_account_ids)
        accounts = [a for a in payload.audience_account_ids if a not in paper]
        if not accounts:
            log.info("notifier.no_consent", event_id=str(envelope.id), document_id=str(payload.document_id),
                     by_post=len(paper))
            return
        recipients = await self.identity.recipients(accounts, tenant_id=payload.tenant_id,
                                                    request_id=envelope.correlation_id)
        if not recipients:
            log.info("notifier.no_recipients", event_id=str(envelope.id), document_id=str(payload.document_id))
            return
        now = self.clock.now()
        document = {"document_id": str(payload.document_id), "title": payload.title,
                    "category_label": payload.category_label or payload.category, "date": payload.date}
        await conn.execute(sql.INSERT_DIGEST_ITEMS, envelope.id, payload.tenant_id, document, now,
                           now + timedelta(seconds=self.settings.digest_window_seconds),
                           [r.person_id for r in recipients], [r.email for r in recipients])
        log.info("notifier.digest_enqueued", event_id=str(envelope.id), recipients=len(recipients))

    async def _confirm_consent(self, conn: asyncpg.Connection, envelope: Envelope,
                               payload: domain.ConsentChanged) -> None:
        """Confirm a consent change by email to the person who made it (their verified address)."""
        recipients = await self.identity.recipients([payload.account_id], tenant_id=payload.tenant_id,
                                                    request_id=envelope.correlation_id)
        recipient = next((r for r in recipients if r.person_id == payload.person_id), None)
        if recipient is None:  # the account left the person since: nobody to confirm to
            log.info("notifier.no_recipients", event_id=str(envelope.id), account_id=str(payload.account_id))
            return
        brand = await self.tenancy.branding(payload.tenant_id, request_id=envelope.correlation_id)
        rendered = rendering.consent_changed_email(payload, brand, email=recipient.email,
                                                   public_base_url=self.settings.public_base_url)
        await self._deliver(conn, envelope, recipient=domain.ascii_address(recipient.email), display_name=None,
                            rendered=rendered, brand=brand)
