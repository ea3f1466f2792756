"""Test harness: real PostgreSQL and RabbitMQ, isolated state per test, an SMTP sink.

PostgreSQL and RabbitMQ come from TEST_DATABASE_URL / TEST_AMQP_URL, else the local defaults.
When neither answers and a Docker engine does, testcontainers starts them. Otherwise the run
stops at once with one line saying how to start them: never a silent skip.
"""

from __future__ import annotations

import os
import socket
import uuid
from urllib.parse import urlsplit

import pytest

from common.testing import SmtpSink, create_test_database, drop_test_database

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
HOW_TO_START = (
    "start them with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start; "
    "rabbitmq-server -detached (or see README.md 'Running PostgreSQL and RabbitMQ')"
)


def _answers(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=1):
            return True
    except OSError:
        return False


def _docker_available() -> bool:
    try:
        import docker

        docker.from_env().ping()
        return True
    except Exception:
        return False


_containers: list = []


def _resolve_backends() -> tuple[str, str]:
    database_url = os.environ.get("TEST_DATABASE_URL", DEFAULT_DATABASE_URL)
    amqp_url = os.environ.get("TEST_AMQP_URL", DEFAULT_AMQP_URL)
    db_ok, amqp_ok = _answers(database_url, 5432), _answers(amqp_url, 5672)
    if db_ok and amqp_ok:
        return database_url, amqp_url
    if _docker_available():
        if not db_ok:
            from testcontainers.postgres import PostgresContainer

            pg = PostgresContainer("postgres:16-alpine", username="postgres", password="postgres").start()
            _containers.append(pg)
            database_url = pg.get_connection_url(driver=None)
        if not amqp_ok:
            from testcontainers.rabbitmq import RabbitMqContainer

            mq = RabbitMqContainer("rabbitmq:3.13-management-alpine").start()
            _containers.append(mq)
            amqp_url = f"amqp://guest:guest@{mq.get_container_host_ip()}:{mq.get_exposed_port(5672)}/"
        return database_url, amqp_url
    checks = (("PostgreSQL at " + database_url, db_ok), ("RabbitMQ at " + amqp_url, amqp_ok))
    missing = [name for name, ok in checks if not ok]
    pytest.exit(f"{' and '.join(missing)} not reachable and no Docker engine; {HOW_TO_START}", returncode=3)


def pytest_sessionstart(session):
    database_url, amqp_url = _resolve_backends()
    os.environ["TEST_DATABASE_URL"] = database_url
    os.environ["TEST_AMQP_URL"] = amqp_url


def pytest_sessionfinish(session, exitstatus):
    for container in _containers:
        container.stop()


@pytest.fixture(scope="session")
def database_url() -> str:
    """The server every test database is created on (DSN of its admin database)."""
    return os.environ["TEST_DATABASE_URL"]


@pytest.fixture(scope="session")
def amqp_url() -> str:
    return os.environ["TEST_AMQP_URL"]


@pytest.fixture
async def fresh_database(database_url):
    """A new empty database for this test, dropped afterwards; yields its DSN."""
    dsn = await create_test_database(database_url)
    yield dsn
    await drop_test_database(dsn)


@pytest.fixture
async def exchange_name(amqp_url):
    """A topic exchange of this test's own, so that tests never see each other's events.

    Afterwards the exchange and every consumer queue declared on it in this process are
    deleted: quorum queues are Raft groups, and hundreds left behind wear down a shared broker.
    """
    name = f"test.events.{uuid.uuid4().hex[:12]}"
    yield name
    await delete_broker_objects(amqp_url, exchange=name)


async def delete_broker_objects(amqp_url: str, *, exchange: str) -> None:
    import aio_pika

    from common.consumer import declared_queue_names

    queues = sorted(q for q in declared_queue_names() if q.startswith(exchange + "."))
    connection = await aio_pika.connect(amqp_url, timeout=10)
    try:
        channel = await connection.channel()
        for queue in queues:
            await channel.queue_delete(queue)
        await channel.exchange_delete(exchange)
    finally:
        await connection.close()


@pytest.fixture
def smtp_sink():
    sink = SmtpSink().start()
    yield sink
    sink.stop()
