"""The operator command `python -m common.parked list|replay --queue NAME`, run as a real process."""

from __future__ import annotations

import asyncio
import json
import sys

from common.consumer import PermanentError
from common.parked import list_parked
from common.testing import free_port, wait_until


async def _run(*args: str, amqp_url: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "common.parked", *args, "--amqp-url", amqp_url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    return process.returncode, out.decode(), err.decode()


async def test_operator_lists_then_replays_parked_messages(backbone):
    fixed = {"yes": False}

    async def handler(conn, envelope):
        if not fixed["yes"]:
            raise PermanentError("no template for this event")
        await conn.execute("INSERT INTO handled (event_id, consumer) VALUES ($1, 'cli')", envelope.id)

    consumer = backbone.consumer("cli", handler)
    await consumer.start()
    await backbone.relay().start()
    ids = await backbone.write(2)
    queue = consumer.queues.main

    async def both_parked():
        return len(await list_parked(backbone.amqp_url, queue)) == 2

    await wait_until(both_parked, timeout=10, message="2 parked")

    code, out, err = await _run("list", "--queue", queue, "--json", amqp_url=backbone.amqp_url)
    assert code == 0, err
    listed = [json.loads(line) for line in out.splitlines()]
    assert {m["message_id"] for m in listed} == {str(i) for i in ids}
    assert {m["reason"] for m in listed} == {"permanent_error"}
    assert {m["detail"] for m in listed} == {"no template for this event"}
    assert f"2 parked message(s) in {queue}.parked" in err

    code, out, _err = await _run("list", "--queue", queue, amqp_url=backbone.amqp_url)
    assert code == 0
    assert all("\tpermanent_error\t" in line for line in out.splitlines())

    fixed["yes"] = True
    code, _out, err = await _run("replay", "--queue", queue, amqp_url=backbone.amqp_url)
    assert code == 0
    assert f"replayed 2 message(s) into {queue}" in err
    await wait_until(lambda: _handled(backbone), timeout=10, message="replayed events handled")
    assert await list_parked(backbone.amqp_url, queue) == []


async def _handled(backbone) -> bool:
    return await backbone.pool.fetchval("SELECT count(*) FROM handled WHERE consumer = 'cli'") == 2


async def test_unknown_queue_and_unreachable_broker_are_one_line_errors(amqp_url, exchange_name):
    code, _out, err = await _run("list", "--queue", f"{exchange_name}.nobody", amqp_url=amqp_url)
    assert code == 1
    assert err.strip() == f"no such queue: {exchange_name}.nobody.parked"

    code, _out, err = await _run("replay", "--queue", "x", amqp_url=f"amqp://guest:guest@127.0.0.1:{free_port()}/")
    assert code == 2
    assert err.strip().splitlines()[-1].startswith("cannot reach the broker")
