"""Fixtures of the end-to-end tests: one running system for the e2e package, one headless Chromium
per module.

The system is started once (see :mod:`tests.e2e.system`); every test creates its own tenants,
accounts and email addresses, so tests are independent and can run in any order. On a failure
the tail of every service log is attached to the report (full logs in ``test-artifacts/logs/``).
"""

from __future__ import annotations

import os
import shutil

import pytest
from playwright.sync_api import sync_playwright

from tests.e2e.browser import AXE_PATH, CHROMIUM_ARGS, SCREENSHOTS, WIDTHS, Journey
from tests.e2e.flows import RESEND_COOLDOWN_SECONDS
from tests.e2e.system import System


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/e2e/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="package")
def system(database_url, amqp_url, tmp_path_factory):
    """The five services running as subprocesses against fresh databases and a unique exchange."""
    # A short resend cooldown through its documented setting: the resend journey sees the page wait
    # and the button come back, in seconds instead of a minute.
    running = System(database_url=database_url, amqp_url=amqp_url, workdir=tmp_path_factory.mktemp("e2e-system"),
                     extra_env={"IDENTITY_RESEND_COOLDOWN_SECONDS": str(RESEND_COOLDOWN_SECONDS)})
    try:
        running.start()
    except Exception:
        running.stop()
        raise
    yield running
    running.stop()


# Module scope, not session: sync Playwright keeps its event loop marked as running in this thread
# while it is alive, which would break every asyncio test that pytest runs after the e2e modules.
@pytest.fixture(scope="module")
def browser():
    if not AXE_PATH.exists():
        pytest.fail(f"axe-core is missing at {AXE_PATH}: run `npm ci --no-audit --no-fund` at the repo root")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_journey(browser, system):
    """A factory of independent browser sessions (each its own cookies), checked by axe at teardown."""
    journeys: list[Journey] = []
    contexts = []

    def make() -> Journey:
        # bypass_csp: the gateway forbids inline scripts, and axe-core is injected as one.
        context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900}, bypass_csp=True)
        context.set_default_timeout(15_000)
        contexts.append(context)
        journey = Journey(context.new_page(), system)
        journeys.append(journey)
        return journey

    yield make
    for context in contexts:
        context.close()
    violations = [v for j in journeys for v in j.violations]
    if violations:
        pytest.fail("accessibility (axe-core, serious/critical):\n" + "\n".join(violations), pytrace=False)


@pytest.fixture
def journey(new_journey) -> Journey:
    return new_journey()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and "system" in item.fixturenames:
        running = item.funcargs.get("system")
        if isinstance(running, System):
            dead = running.dead_services()
            report.sections.append(("service logs (tail)", (f"dead services: {dead}\n" if dead else "")
                                    + running.logs(30) + f"\nfull logs in {running.logs_dir}"))


# Pages whose screenshots are kept in docs/screenshots/ (refresh: E2E_UPDATE_DOCS_SCREENSHOTS=1).
DOC_SCREENSHOTS = ("login-welcome", "activation-credentials", "activation-email", "activation-password",
                   "activation-pending", "activation-resend-wait",
                   "email-verified", "login-form", "dashboard", "dashboard-multi-agency",
                   "merge-password", "password-forgot", "password-reset", "profile", "help-syndic",
                   # the second factor (issue 15)
                   "mfa-enrol", "mfa-recovery-codes", "login-code", "password-reset-code", "login-enrol-required",
                   "passkey-new", "profile-passkey",
                   # the agency console (issue 13) and the legal proofs (issue 14)
                   "console-login", "console-directory", "console-team", "console-unlink", "console-settings",
                   "console-settings-mfa", "console-import-errors", "console-invitation-invalid",
                   "console-documents", "console-compliance", "console-stats", "console-proof", "console-consents",
                   "profile-consents")


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("E2E_UPDATE_DOCS_SCREENSHOTS") != "1":
        return
    target = SCREENSHOTS.parents[1] / "docs" / "screenshots"
    target.mkdir(parents=True, exist_ok=True)
    for name in DOC_SCREENSHOTS:
        for width in WIDTHS:
            shot = SCREENSHOTS / f"{name}-{width}.png"
            if shot.exists():
                shutil.copy2(shot, target / shot.name)
