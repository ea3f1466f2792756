"""Pure rules of the event backbone: strict envelope parsing and queue naming."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from common.consumer import queue_names
from common.events import Envelope, EnvelopeError, parse_envelope


def _body(**overrides) -> bytes:
    fields = {
        "id": str(uuid.uuid4()), "type": "identity.password_changed", "version": 1,
        "occurred_at": datetime.now(UTC).isoformat(), "tenant_id": None, "correlation_id": "req-12345678",
        "payload": {"person_id": "p1"},
    }
    fields.update(overrides)
    return json.dumps({k: v for k, v in fields.items() if v is not ...}).encode()


def test_a_valid_envelope_round_trips():
    envelope = parse_envelope(_body())
    assert isinstance(envelope, Envelope)
    assert parse_envelope(envelope.to_bytes()) == envelope


@pytest.mark.parametrize("body", [
    b"{not json",
    b"[]",
    _body(surprise=1),
    _body(id="not-a-uuid"),
    _body(type="NoDot"),
    _body(version=0),
    _body(payload=...),
    _body(occurred_at="yesterday"),
])
def test_malformed_or_unknown_envelopes_are_rejected_with_a_reason(body):
    with pytest.raises(EnvelopeError, match="invalid envelope"):
        parse_envelope(body)


def test_queue_names_on_the_default_exchange_are_the_consumer_name():
    names = queue_names("notifier", retry_count=2)
    assert (names.main, names.retries, names.parked) == (
        "notifier", ["notifier.retry.1", "notifier.retry.2"], "notifier.parked")


def test_queue_names_on_another_exchange_are_prefixed_so_tests_never_share_queues():
    assert queue_names("notifier", exchange="test.events.ab12").main == "test.events.ab12.notifier"
    assert queue_names("notifier", exchange="test.events.ab12", queue_prefix="x.").parked == "x.notifier.parked"
