"""Event envelope and the transactional outbox write.

Producers never publish inside a request: they call :func:`write_event` with the connection of
the business transaction, so the event exists if and only if the state change committed. The
relay (``common.relay``) publishes it afterwards. See docs/events.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["EXCHANGE", "Envelope", "EnvelopeError", "parse_envelope", "write_event", "write_events"]

EXCHANGE = "moncompte.events"


class EnvelopeError(ValueError):
    """A message body is not a valid event envelope (bad JSON, missing or unknown fields)."""


class Envelope(BaseModel):
    """What travels on the bus. ``id`` is the deduplication key of every consumer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: uuid.UUID
    type: str = Field(pattern=r"^[a-z]+\.[a-z_]+$", max_length=100)
    version: int = Field(ge=1)
    occurred_at: datetime
    tenant_id: uuid.UUID | None = None
    correlation_id: str | None = Field(default=None, max_length=128)
    payload: dict[str, Any]

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


def parse_envelope(body: bytes) -> Envelope:
    """Parse a message body strictly; raise :class:`EnvelopeError` with the reason."""
    try:
        return Envelope.model_validate_json(body)
    except ValidationError as exc:
        raise EnvelopeError(f"invalid envelope: {exc.error_count()} error(s): "
                            f"{exc.errors(include_url=False)[0]['msg']}") from exc


_INSERT_OUTBOX = """
INSERT INTO outbox (id, type, version, occurred_at, tenant_id, correlation_id, payload)
VALUES ($1, $2, $3, $4, $5, $6, $7)
"""

# The payload arrives as JSON text (write_events): cast, not encoded again by the pool's json codec.
_INSERT_OUTBOX_TEXT = """
INSERT INTO outbox (id, type, version, occurred_at, tenant_id, correlation_id, payload)
VALUES ($1, $2, $3, $4, $5, $6, $7::text::json)
"""


async def write_event(
    conn: asyncpg.Connection,
    *,
    type: str,
    payload: dict[str, Any],
    tenant_id: uuid.UUID | str | None = None,
    correlation_id: str | None = None,
    version: int = 1,
    occurred_at: datetime | None = None,
) -> Envelope:
    """Insert an event into this service's outbox, inside the caller's transaction.

    ``conn`` must come from a pool made by :func:`common.db.create_pool` (jsonb codec).
    """
    envelope = Envelope(
        id=uuid.uuid4(),
        type=type,
        version=version,
        occurred_at=occurred_at or datetime.now(UTC),
        tenant_id=uuid.UUID(str(tenant_id)) if tenant_id else None,
        correlation_id=correlation_id,
        payload=payload,
    )
    await conn.execute(
        _INSERT_OUTBOX,
        envelope.id, envelope.type, envelope.version, envelope.occurred_at, envelope.tenant_id,
        envelope.correlation_id, payload,
    )
    return envelope


async def write_events(
    conn: asyncpg.Connection,
    *,
    type: str,
    payloads: Sequence[str],
    tenant_id: uuid.UUID | str | None = None,
    correlation_id: str | None = None,
    version: int = 1,
    occurred_at: datetime | None = None,
) -> int:
    """Insert one event per payload, given as JSON objects already serialized, in one round trip.

    For bulk producers that serialize their payloads while the database works on something else
    (the directory import): the text is stored as given, so it must be a JSON object.
    """
    if not payloads:
        return 0
    occurred_at = occurred_at or datetime.now(UTC)
    tenant = uuid.UUID(str(tenant_id)) if tenant_id else None
    await conn.executemany(_INSERT_OUTBOX_TEXT, [(uuid.uuid4(), type, version, occurred_at, tenant, correlation_id,
                                                  payload) for payload in payloads])
    return len(payloads)
