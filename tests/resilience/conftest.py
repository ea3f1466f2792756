"""Resilience tests: the whole system as real processes (tests/e2e/system.py), faults injected on
loopback only (SIGKILL, a private RabbitMQ node, a TCP proxy in front of PostgreSQL, the SMTP sink's
failure modes). On a failure the tail of every service log is attached to the report."""

from __future__ import annotations

import pytest

from tests.e2e.system import System


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        running = next((v for v in getattr(item, "funcargs", {}).values() if isinstance(v, System)), None)
        if running is not None:
            report.sections.append(("service logs (tail)", f"dead services: {running.dead_services()}\n"
                                    + running.logs(25) + f"\nfull logs in {running.logs_dir}"))
