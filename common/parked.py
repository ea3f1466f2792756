"""Operator command for parked event messages: list them, replay them into their consumer's queue.

    python -m common.parked list   --queue notifier [--limit 100] [--json]
    python -m common.parked replay --queue notifier [--limit N] [--id EVENT_ID]

``--queue`` is the consumer's main queue (its name; ``notifier.parked`` is accepted too). The
broker comes from ``--amqp-url``, else the ``AMQP_URL`` environment variable, else the local
default. Listing never removes anything (messages are read without ack and requeued when the
channel closes). Replaying publishes each message back to the consumer's main queue only (not to
the exchange, so other consumers are untouched) with its attempt count reset, waits for the
broker's confirm, then removes it from the parking queue. Replayed events that were already
handled are deduplicated by the consumer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from dataclasses import asdict, dataclass

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from common.consumer import ATTEMPT_HEADER, DETAIL_HEADER, REASON_HEADER

__all__ = ["ParkedMessage", "list_parked", "main", "replay_parked"]

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
_PARKING_HEADERS = {REASON_HEADER, DETAIL_HEADER, ATTEMPT_HEADER, "x-parked-at", "x-parked-by", "x-last-error",
                    "x-original-routing-key", "x-death", "x-first-death-exchange", "x-first-death-queue",
                    "x-first-death-reason", "x-delivery-count"}


@dataclass(frozen=True)
class ParkedMessage:
    """One parked message as an operator sees it."""

    message_id: str | None
    event_type: str | None
    reason: str
    detail: str
    parked_at: str | None
    attempts: int
    body: str


def _names(queue: str) -> tuple[str, str]:
    main = queue.removesuffix(".parked")
    return main, f"{main}.parked"


def _header(message: AbstractIncomingMessage, name: str):
    value = (message.headers or {}).get(name)
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _describe(message: AbstractIncomingMessage) -> ParkedMessage:
    # Messages dead-lettered by the broker itself (delivery limit) carry x-first-death-reason only.
    reason = _header(message, REASON_HEADER) or _header(message, "x-first-death-reason") or "unknown"
    return ParkedMessage(
        message_id=message.message_id,
        event_type=message.type or _header(message, "x-original-routing-key") or message.routing_key,
        reason=str(reason),
        detail=str(_header(message, DETAIL_HEADER) or ""),
        parked_at=_header(message, "x-parked-at"),
        attempts=int(_header(message, ATTEMPT_HEADER) or 0),
        body=message.body.decode(errors="replace"),
    )


async def list_parked(amqp_url: str, queue: str, *, limit: int = 100) -> list[ParkedMessage]:
    """Up to ``limit`` parked messages of ``queue``'s consumer, left in place."""
    _main, parked = _names(queue)
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        source = await channel.get_queue(parked, ensure=True)
        found = []
        for _ in range(limit):
            message = await source.get(no_ack=False, fail=False)
            if message is None:
                break
            found.append(_describe(message))
        # Closing the channel without acking requeues everything that was read.
    return found


async def replay_parked(amqp_url: str, queue: str, *, limit: int | None = None, event_id: str | None = None) -> int:
    """Move parked messages back to the consumer's main queue; return how many were replayed.

    With ``event_id`` only that message is replayed; the others stay parked.
    """
    main, parked = _names(queue)
    connection = await aio_pika.connect(amqp_url)
    replayed = 0
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        source = await channel.get_queue(parked, ensure=True)
        await channel.get_queue(main, ensure=True)
        while limit is None or replayed < limit:
            message = await source.get(no_ack=False, fail=False)
            if message is None:
                break
            if event_id is not None and message.message_id != event_id:
                continue  # left unacked: requeued when the channel closes
            headers = {k: v for k, v in (message.headers or {}).items() if k not in _PARKING_HEADERS}
            copy = aio_pika.Message(
                message.body, headers=headers, content_type=message.content_type, message_id=message.message_id,
                correlation_id=message.correlation_id, type=message.type, timestamp=message.timestamp,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            await channel.default_exchange.publish(copy, routing_key=main, mandatory=True)
            await message.ack()
            replayed += 1
    return replayed


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m common.parked", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["list", "replay"])
    parser.add_argument("--queue", required=True, help="the consumer's queue name (e.g. notifier)")
    parser.add_argument("--amqp-url", default=os.environ.get("AMQP_URL", DEFAULT_AMQP_URL))
    parser.add_argument("--limit", type=int, default=None, help="at most this many messages")
    parser.add_argument("--id", dest="event_id", default=None, help="replay only this event id")
    parser.add_argument("--json", action="store_true", help="list as JSON lines")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            messages = asyncio.run(list_parked(args.amqp_url, args.queue, limit=args.limit or 100))
            for message in messages:
                if args.json:
                    print(json.dumps(asdict(message), ensure_ascii=False))
                else:
                    print(f"{message.message_id}\t{message.event_type}\t{message.reason}\t"
                          f"{message.parked_at or '-'}\tattempts={message.attempts}\t{message.detail}")
            print(f"{len(messages)} parked message(s) in {_names(args.queue)[1]}", file=sys.stderr)
        else:
            count = asyncio.run(replay_parked(args.amqp_url, args.queue, limit=args.limit, event_id=args.event_id))
            print(f"replayed {count} message(s) into {_names(args.queue)[0]}", file=sys.stderr)
    except aio_pika.exceptions.ChannelNotFoundEntity:
        print(f"no such queue: {_names(args.queue)[1]}", file=sys.stderr)
        return 1
    except (OSError, aio_pika.exceptions.AMQPConnectionError) as exc:
        print(f"cannot reach the broker: {type(exc).__name__}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
