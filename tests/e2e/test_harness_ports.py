"""The harness under a port race: a system of its own, in a module without a browser (sync Playwright
keeps its event loop marked as running in this thread, and the harness creates its databases with
asyncio.run)."""

from __future__ import annotations

import socket

from common.testing import free_port
from tests.e2e import system as harness


def test_a_port_taken_before_its_service_binds_starts_the_system_on_new_ports(database_url, amqp_url, tmp_path,
                                                                              monkeypatch):
    # Another process of the machine binds tenancy's port between free_port's check and tenancy's own
    # bind (a CI run failed on "address already in use" this way): the system starts anyway.
    running = harness.System(database_url=database_url, amqp_url=amqp_url, workdir=tmp_path,
                             logs_dir=tmp_path / "logs")
    names = iter([s.name for s in running.services])  # start() draws one port per service, in order
    squatter = socket.socket()  # no SO_REUSEPORT: the service's bind must fail

    def free_port_then_squat_tenancy() -> int:
        port = free_port()
        if next(names, None) == "tenancy":
            squatter.bind(("127.0.0.1", port))
            squatter.listen()
        return port

    monkeypatch.setattr(harness, "free_port", free_port_then_squat_tenancy)
    try:
        running.start()
        squatted = squatter.getsockname()[1]
        assert running.by_name("tenancy").port != squatted
        assert "address already in use" in (tmp_path / "logs" / "tenancy.log").read_text()
        # Every process was given the others' new ports: the gateway reaches tenancy.
        tenant = running.new_tenant(name="Syndic du Port Repris")
        assert tenant.client_code
    finally:
        squatter.close()
        running.stop()
