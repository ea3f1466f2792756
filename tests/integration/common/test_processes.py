"""The service processes as an operator runs them: `python -m ...`."""

import asyncio
import os
import signal
import sys

import aiohttp
import pytest

from common.testing import free_port, wait_until

SERVICES = ["services.identity", "services.tenancy", "services.documents", "services.notifier"]
PREFIX = {"services.identity": "IDENTITY", "services.tenancy": "TENANCY",
          "services.documents": "DOCUMENTS", "services.notifier": "NOTIFIER"}


async def run(args, env, timeout=60):
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", *args, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode, out.decode(), err.decode()


def base_env(**extra):
    prefixes = ("IDENTITY_", "TENANCY_", "DOCUMENTS_", "NOTIFIER_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(LOG_JSON="true", **extra)
    return env


async def test_production_with_placeholder_secret_refuses_to_start():
    env = base_env(ENVIRONMENT="production")
    env.pop("INTERNAL_AUTH_SECRET", None)
    code, _out, err = await run(["services.identity", "migrate"], env)
    assert code == 2
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1
    assert lines[0].startswith("services.identity: configuration error: INTERNAL_AUTH_SECRET is a placeholder")


@pytest.mark.parametrize("module", SERVICES)
async def test_migrate_subcommand_creates_and_migrates_the_database(module, fresh_database):
    env = base_env(**{f"{PREFIX[module]}_DATABASE_URL": fresh_database})
    code, _out, err = await run([module, "migrate"], env)
    assert code == 0, err
    assert '"migration.applied"' in err
    code, _out, err = await run([module, "migrate"], env)  # idempotent
    assert code == 0 and '"migration.applied"' not in err


async def test_service_serves_health_and_stops_cleanly_on_sigterm(fresh_database, amqp_url):
    port = free_port()
    env = base_env(IDENTITY_DATABASE_URL=fresh_database, IDENTITY_PORT=str(port), AMQP_URL=amqp_url)
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "services.identity", env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        async with aiohttp.ClientSession() as session:

            async def ready():
                try:
                    async with session.get(f"http://127.0.0.1:{port}/health/ready") as response:
                        return response.status == 200
                except aiohttp.ClientError:
                    return False

            await wait_until(ready, timeout=30, message="identity ready")
            async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                assert response.status == 200
        proc.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0
        assert '"service.stopped"' in err.decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
