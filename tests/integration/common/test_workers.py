"""``<PREFIX>_WORKERS``: several processes of one service on one port, as an operator runs them.

Which process answered a connection is read from the kernel (Linux ``/proc``): the server side of
the connection is a socket that exactly one worker holds.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from pathlib import Path

import aiohttp
import pytest

from common.internal_auth import issue_token
from common.testing import free_port, wait_until
from tests.integration.common.test_processes import base_env

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads /proc (Linux)")

SECRET = "integration-workers-secret-" + "x" * 16


def children_of(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def _socket_inode(local_port: int, remote_port: int) -> int | None:
    """The inode of the server side of 127.0.0.1:remote_port -> 127.0.0.1:local_port."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1], fields[2]
        if int(local.split(":")[1], 16) == local_port and int(remote.split(":")[1], 16) == remote_port:
            return int(fields[9])
    return None


def owner_of(inode: int, pids: set[int]) -> int | None:
    target = f"socket:[{inode}]"
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) == target:
                    return pid
            except OSError:
                continue
    return None


def alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


async def start(env: dict) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "services.identity", env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def wait_ready(port: int) -> None:
    async with aiohttp.ClientSession() as session:
        async def ready():
            try:
                async with session.get(f"http://127.0.0.1:{port}/health/ready") as response:
                    return response.status == 200
            except aiohttp.ClientError:
                return False

        await wait_until(ready, timeout=60, message="identity ready")


async def stop(proc: asyncio.subprocess.Process) -> str:
    if proc.returncode is None:
        proc.kill()
    _out, err = await proc.communicate()
    return err.decode()


@pytest.fixture
def identity_env(fresh_database, amqp_url):
    port = free_port()
    env = base_env(IDENTITY_DATABASE_URL=fresh_database, IDENTITY_PORT=str(port), AMQP_URL=amqp_url,
                   IDENTITY_WORKERS="2", IDENTITY_TENANCY_URL="", INTERNAL_AUTH_SECRET=SECRET,
                   EVENTS_EXCHANGE=f"test.workers.{uuid.uuid4().hex[:8]}")
    return port, env


async def test_workers_share_the_port_answer_from_distinct_pids_and_stop_on_sigterm(identity_env):
    port, env = identity_env
    proc = await start(env)
    try:
        await wait_ready(port)
        workers = children_of(proc.pid)
        assert len(workers) == 2, workers
        answered: set[int] = set()
        requests = 0
        for _ in range(200):
            # A new connection each time: the kernel picks the worker that accepts it.
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")  # kept alive while we look
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), head
            inode = _socket_inode(port, writer.get_extra_info("sockname")[1])
            owner = owner_of(inode, workers) if inode else None
            writer.close()
            requests += 1
            if owner is not None:
                answered.add(owner)
            if answered == workers:
                break
        assert answered == workers, f"only {answered} of {workers} answered in {requests} connections"
        # Metrics through the shared port are the sum over the workers, whichever answers the scrape.
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/metrics") as response:
            text = await response.text()
        counted = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                      if line.startswith("http_requests_total{") and 'route="/health/live"' in line)
        assert counted == requests, text[:2000]

        proc.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(proc.communicate(), 45)
        assert proc.returncode == 0, err.decode()[-3000:]
        assert '"service.stopped"' in err.decode()
        assert not any(alive(pid) for pid in workers), "a worker outlived the supervisor"
    finally:
        await stop(proc)


async def test_a_worker_that_dies_stops_the_service_with_an_error(identity_env):
    port, env = identity_env
    proc = await start(env)
    try:
        await wait_ready(port)
        workers = sorted(children_of(proc.pid))
        os.kill(workers[0], signal.SIGKILL)
        _out, err = await asyncio.wait_for(proc.communicate(), 45)
        assert proc.returncode == 1
        assert '"worker.exited"' in err.decode()
        assert not alive(workers[1])
    finally:
        await stop(proc)


async def test_beyond_hashing_saturation_the_workers_answer_429_busy(identity_env):
    port, env = identity_env
    # Two workers share two hashing threads (one each), one waiting login per thread: 4 in flight at most.
    env = {**env, "IDENTITY_HASH_WORKERS": "2", "IDENTITY_HASH_QUEUE_PER_WORKER": "1",
           "IDENTITY_ARGON2_MEMORY_KIB": "19456", "IDENTITY_ARGON2_TIME_COST": "2"}
    proc = await start(env)
    try:
        await wait_ready(port)

        async def login(session: aiohttp.ClientSession, n: int) -> tuple[int, dict]:
            token = issue_token(SECRET, issuer="gateway", audience="identity", ip=f"198.51.100.{n}")
            async with session.post(f"http://127.0.0.1:{port}/v1/login",
                                    json={"email": f"nobody{n}@example.org", "password": "Whatever-123"},
                                    headers={"Authorization": f"Internal {token}"}) as response:
                return response.status, await response.json()

        connector = aiohttp.TCPConnector(limit=0, force_close=True)
        async with aiohttp.ClientSession(connector=connector) as session:
            answers = await asyncio.gather(*(login(session, n) for n in range(60)))
        busy = [body for status, body in answers if status == 429]
        assert busy and all(body["error"] == "busy" for body in busy), answers
        assert any(status == 401 for status, _ in answers), answers  # those admitted were verified
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.communicate(), 45)
