"""A private RabbitMQ node for fault tests: stopping it disturbs no other test.

    node = RabbitNode(tmp_path)
    await node.start()           # own node name, ports, data, logs, cookie; no plugins
    node.amqp_url                # amqp://guest:guest@127.0.0.1:<port>/
    await node.stop()            # really stops the broker (SIGTERM, or kill=True for SIGKILL)
    await node.start()           # same node and data: durable queues and exchanges survive
    await node.stop()

Uses the installed ``rabbitmq-server`` (started directly, not through the wrapper that switches
user) with a generated config file, an empty enabled-plugins file and HOME pointing inside the
temporary folder (so the Erlang cookie is fresh and its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import uuid
from pathlib import Path

import aio_pika

from common.testing import free_port, wait_until

SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"


class RabbitNode:
    """One RabbitMQ node of its own under ``base`` (a temporary directory)."""

    def __init__(self, base: Path) -> None:
        self.base = Path(base)
        self.name = f"mctest{uuid.uuid4().hex[:10]}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        self.amqp_url = f"amqp://guest:guest@127.0.0.1:{self.port}/"
        self.process: subprocess.Popen | None = None
        for folder in ("home", "mnesia", "log"):
            (self.base / folder).mkdir(parents=True, exist_ok=True)
        (self.base / "enabled_plugins").write_text("[].\n")
        (self.base / "rabbitmq-env.conf").write_text("")
        (self.base / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\n"
            "loopback_users.guest = true\n"
            "disk_free_limit.absolute = 50MB\n"
        )

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        env.update(
            HOME=str(self.base / "home"),
            RABBITMQ_NODENAME=self.name,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(self.base / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.base / "log"),
            RABBITMQ_CONFIG_FILE=str(self.base / "rabbitmq.conf"),
            RABBITMQ_CONF_ENV_FILE=str(self.base / "rabbitmq-env.conf"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.base / "enabled_plugins"),
            RABBITMQ_LOGS=str(self.base / "log" / "rabbit.log"),
            ERL_EPMD_ADDRESS="127.0.0.1",
        )
        return env

    async def start(self, timeout: float = 60.0) -> None:
        """Start the node and wait until it accepts AMQP connections."""
        log = (self.base / "log" / "stdout.log").open("ab")
        self.process = subprocess.Popen(  # noqa: ASYNC220 - returns at once, the node runs in the background
            [SERVER], env=self._env(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"rabbitmq node exited with {self.process.returncode}; see {self.base / 'log'}")
            try:
                connection = await aio_pika.connect(self.amqp_url, timeout=2)
                await connection.close()
                return
            except Exception:
                if loop.time() > deadline:
                    await self.stop(kill=True)
                    raise RuntimeError(f"rabbitmq node not ready after {timeout}s; see {self.base / 'log'}") from None
                await asyncio.sleep(0.25)

    async def _port_closed(self) -> bool:
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            return True
        writer.close()
        return False

    async def stop(self, *, kill: bool = False, timeout: float = 60.0) -> None:
        """Stop the node (gracefully, or SIGKILL with ``kill=True``) and wait until it is gone."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL if kill else signal.SIGTERM)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while process.poll() is None:
            if loop.time() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
            await asyncio.sleep(0.1)
        # The Erlang VM may outlive the wrapper shell for a moment: wait for the port to close,
        # then make sure nothing of the group is left.
        with contextlib.suppress(AssertionError):
            await wait_until(self._port_closed, timeout=max(0.1, deadline - loop.time()), interval=0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
