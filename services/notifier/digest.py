"""The document digest: one email per person (and tenant) for the documents of one window.

The consumer records one ``digest_items`` row per (document event, recipient) in its
transaction. The flusher finds groups whose oldest item is older than the window, locks the
group's rows (``FOR UPDATE SKIP LOCKED``: replicas never send the same group), sends one email,
and in the same transaction records the deliveries and deletes the items. A crash before that
commit leaves the items in place: the group is sent again later with the same ``Message-ID``
(derived from the grouped event ids), the same accepted window as for the other emails.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import datetime, timedelta

from common.logging import get_logger
from services.notifier import domain, rendering
from services.notifier import repository as sql
from services.notifier.errors import DeliveryDeferred, DeliveryRefused
from services.notifier.service import Notifier
from services.notifier.smtp import SmtpPermanentError, SmtpTemporaryError

log = get_logger(__name__)
GROUPS_PER_ROUND = 100
DIGEST = "documents.digest"  # the metrics' kind for digest emails


class DigestFlusher:
    """Background task sending due digests; :meth:`flush_once` is the unit of work (tests call it)."""

    def __init__(self, notifier: Notifier, *, poll_seconds: float = 1.0) -> None:
        self.notifier = notifier
        self.poll_seconds = poll_seconds
        self._task: asyncio.Task | None = None
        self._stopping = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="notifier:digest")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            # A round in progress finishes (its transaction commits or rolls back), then the loop ends.
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                sent = await self.flush_once()
            except Exception:
                log.exception("digest.round_failed")
                sent = 0
            if sent < GROUPS_PER_ROUND:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.poll_seconds)

    async def flush_once(self) -> int:
        """Send every digest due now; return how many groups were handled (sent, deferred or failed)."""
        now = self.notifier.clock.now()
        groups = await self.notifier.pool.fetch(sql.DUE_DIGEST_GROUPS, now, GROUPS_PER_ROUND)
        handled = 0
        for group in groups:
            handled += await self._flush_group(group["person_id"], group["tenant_id"], now)
        return handled

    async def _flush_group(self, person_id: uuid.UUID, tenant_id: uuid.UUID, now: datetime) -> int:
        notifier = self.notifier
        async with notifier.pool.acquire() as conn, conn.transaction():
            items = await conn.fetch(sql.LOCK_DIGEST_GROUP, person_id, tenant_id)
            # Re-check under the lock: another replica may have sent part of the group meanwhile.
            if not items or min(i["due_at"] for i in items) > now \
                    or any(i["retry_at"] and i["retry_at"] > now for i in items):
                return 0
            event_ids = [i["event_id"] for i in items]
            try:
                recipient = domain.ascii_address(items[-1]["email"])
            except domain.MalformedEvent as exc:
                await self._fail(conn, event_ids, person_id, tenant_id, items[-1]["email"].lower(),
                                 "<none>", now, str(exc))
                return 1
            address = items[-1]["email"].lower()  # the key the consumer checks before enqueueing again
            key = domain.digest_key(event_ids, recipient)
            message_id = domain.message_id(key, notifier.settings.mail_from)
            attempts = max(i["attempts"] for i in items) + 1
            try:
                brand = await notifier.tenancy.branding(tenant_id)
                lines = [rendering.DocumentLine(i["document"].get("title") or "",
                                                i["document"].get("category_label") or "",
                                                i["document"].get("date") or "") for i in items]
                rendered = rendering.documents_email(lines, brand, public_base_url=notifier.settings.public_base_url)
                message = rendering.build_message(rendered, sender=notifier.settings.mail_from, recipient=recipient,
                                                  message_id=message_id, date=now, brand=brand)
                await notifier.send(message, recipient=recipient)
            except (SmtpTemporaryError, DeliveryDeferred) as exc:
                delays = notifier.settings.digest_retry_delays
                if attempts > len(delays):
                    await self._fail(conn, event_ids, person_id, tenant_id, address, message_id, now,
                                     f"retries exhausted: {exc}")
                    return 1
                await conn.execute(sql.DEFER_DIGEST_ITEMS, person_id, event_ids, attempts,
                                   now + timedelta(seconds=delays[attempts - 1]), str(exc))
                await conn.execute(sql.UPSERT_DIGEST_DELIVERIES, event_ids, address, tenant_id, message_id,
                                   "retrying", str(exc), None, now)
                notifier.count(DIGEST, "deferred")
                log.warning("digest.deferred", person_id=str(person_id), attempts=attempts, reason=str(exc))
                return 1
            except (SmtpPermanentError, DeliveryRefused) as exc:
                await self._fail(conn, event_ids, person_id, tenant_id, address, message_id, now, str(exc))
                return 1
            await conn.execute(sql.UPSERT_DIGEST_DELIVERIES, event_ids, address, tenant_id, message_id,
                               "sent", None, now, now)
            await conn.execute(sql.DELETE_DIGEST_ITEMS, person_id, event_ids)
            notifier.count(DIGEST, "sent")
            log.info("digest.sent", person_id=str(person_id), tenant_id=str(tenant_id), documents=len(event_ids))
            return 1

    async def _fail(self, conn, event_ids, person_id, tenant_id, address, message_id, now, reason: str) -> None:
        await conn.execute(sql.UPSERT_DIGEST_DELIVERIES, event_ids, address, tenant_id, message_id,
                           "failed", reason, None, now)
        await conn.execute(sql.DELETE_DIGEST_ITEMS, person_id, event_ids)
        self.notifier.count(DIGEST, "refused")
        log.warning("digest.failed", person_id=str(person_id), reason=reason)
