"""Pure rules of the relay."""

from __future__ import annotations

from aiormq.exceptions import DeliveryError, PublishError
from pamqp.commands import Basic
from pydantic import ValidationError

from common.events import Envelope
from common.relay import _failure_reason, retry_backoff


def test_unroutable_backoff_doubles_from_the_initial_delay_and_stops_at_the_cap():
    assert [retry_backoff(n, 1.0, 300.0) for n in range(10)] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]
    assert retry_backoff(10_000, 1.0, 300.0) == 300.0  # years of attempts never overflow


def test_failures_are_classified_so_that_only_connection_trouble_triggers_a_reconnect():
    try:
        Envelope.model_validate({"id": "nope"})
    except ValidationError as exc:
        invalid = exc
    returned = type("Returned", (), {"delivery": Basic.Return(312, "NO_ROUTE", "x", "k")})()
    assert _failure_reason(PublishError(returned, Basic.Return(312, "NO_ROUTE", "x", "k"))) == "unroutable"
    assert _failure_reason(DeliveryError(None, Basic.Nack(1))) == "nacked"
    assert _failure_reason(invalid) == "invalid"
    assert _failure_reason(ConnectionResetError()) == "connection"
    assert _failure_reason(TimeoutError()) == "connection"
