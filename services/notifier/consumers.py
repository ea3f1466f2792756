"""The notifier's event consumer: its queue, the event types it listens to, error translation."""

from __future__ import annotations

from aiohttp import web

from common.consumer import Consumer, Handler, PermanentError, TransientError
from common.db import POOL
from common.events import Envelope
from services.notifier.domain import EVENT_TYPES
from services.notifier.errors import DeliveryDeferred, DeliveryRefused
from services.notifier.service import Notifier
from services.notifier.settings import NotifierSettings

CONSUMER_NAME = "notifier"


def make_handler(notifier: Notifier) -> Handler:
    """The consumer's handler: the notifier's own errors become retry (transient) or park (permanent)."""

    async def handle(conn, envelope: Envelope) -> None:
        try:
            await notifier.handle(conn, envelope)
        except DeliveryRefused as exc:
            raise PermanentError(str(exc)) from exc
        except DeliveryDeferred as exc:
            raise TransientError(str(exc)) from exc

    return handle


def consumer_factory(settings: NotifierSettings, notifier_of):
    """A factory for ``install_consumer``: the quorum queue ``notifier`` bound to our event types."""

    def factory(app: web.Application) -> Consumer:
        return Consumer(CONSUMER_NAME, amqp_url=settings.amqp_url, exchange=settings.events_exchange,
                        routing_keys=list(EVENT_TYPES), pool=app[POOL], handler=make_handler(notifier_of(app)),
                        retry_delays=settings.retry_delays, prefetch=settings.consumer_prefetch)

    return factory
