"""What can go wrong while notifying, split by what the consumer should do about it.

:class:`DeliveryDeferred` and its subclasses: try the whole event again later (the consumer's
``TransientError``). :class:`DeliveryRefused` and its subclasses: it will never work; park the
event with the reason (the consumer's ``PermanentError``).
"""

from __future__ import annotations


class NotifierError(Exception):
    """Root of the notifier's errors (none of them reaches an HTTP client)."""


class DeliveryDeferred(NotifierError):
    """A dependency (SMTP relay, tenancy, identity) is unavailable for now: retry later."""


class UpstreamUnavailable(DeliveryDeferred):
    """tenancy or identity is unreachable, failing, or refused our internal token."""


class DeliveryRefused(NotifierError):
    """The event can never be delivered: bad payload, unknown tenant, or the relay said 5xx."""


class UnknownTenant(DeliveryRefused):
    """tenancy does not know the event's tenant (404)."""
