"""Browser side of the journeys: labels-first locators, axe-core checks and screenshots.

Every page a journey reaches is passed to :meth:`Journey.checkpoint`: it injects axe-core, records
serious and critical violations (the ``journey`` fixture fails the test at teardown when there are
any, so a functional failure and an accessibility failure read apart), and the first time a page
name is seen in the session, saves full-page screenshots at 390 px and 1280 px wide under
``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

ROOT = Path(__file__).resolve().parents[2]
AXE_PATH = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
WIDTHS = (390, 1280)
BLOCKING_IMPACTS = ("serious", "critical")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

_shot_names: set[str] = set()


def label(text: str) -> re.Pattern:
    """A case- and space-insensitive exact match, so ``CONTINUER`` matches a styled "Continuer"."""
    words = [re.escape(w) for w in text.split()]
    return re.compile(r"^\s*" + r"\s+".join(words) + r"\s*$", re.IGNORECASE)


def contains(text: str) -> re.Pattern:
    words = [re.escape(w) for w in text.split()]
    return re.compile(r"\s+".join(words), re.IGNORECASE)


@dataclass
class Journey:
    """One browser page driven by visible labels, with the system it talks to."""

    page: Page
    system: object
    violations: list[str] = field(default_factory=list)

    # ---- navigation and locators ----
    def goto(self, path_or_url: str) -> None:
        url = path_or_url if path_or_url.startswith("http") else self.system.url(path_or_url)
        self.page.goto(url)

    def action(self, text: str) -> Locator:
        """The button or link whose accessible name is ``text`` (either role: pages may use both)."""
        name = label(text)
        return self.page.get_by_role("button", name=name).or_(self.page.get_by_role("link", name=name)).first

    def click(self, text: str) -> None:
        self.action(text).click()

    def field(self, text: str) -> Locator:
        """The form control labelled ``text`` (a trailing required-field ``*`` is allowed)."""
        words = [re.escape(w) for w in text.split()]
        name = re.compile(r"^\s*" + r"\s+".join(words) + r"\s*\*?\s*$", re.IGNORECASE)
        return self.page.get_by_label(name).first

    def fill(self, text: str, value: str) -> None:
        self.field(text).fill(value)

    def see(self, text: str, *, timeout: float = 10_000) -> None:
        expect(self.page.get_by_text(contains(text)).first).to_be_visible(timeout=timeout)

    def see_heading(self, text: str) -> None:
        expect(self.page.get_by_role("heading", name=contains(text)).first).to_be_visible()

    def absent(self, text: str) -> None:
        expect(self.page.get_by_text(contains(text))).to_have_count(0)

    # ---- accessibility and screenshots ----
    def checkpoint(self, name: str) -> None:
        """Check the current page with axe-core and screenshot it (once per page name per session)."""
        self.page.wait_for_load_state("load")
        self.axe(name)
        if name not in _shot_names:
            _shot_names.add(name)
            self.screenshots(name)

    def axe(self, name: str) -> None:
        if not self.page.evaluate("() => typeof window.axe !== 'undefined'"):
            self.page.add_script_tag(path=str(AXE_PATH))
        result = self.page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
            ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
            " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))")
        for violation in result:
            if violation["impact"] in BLOCKING_IMPACTS:
                self.violations.append(f"{name} [{self.page.url}]: {violation['impact']} {violation['id']} "
                                       f"({violation['help']}) at {violation['nodes']}")

    def screenshots(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        original = self.page.viewport_size
        for width in WIDTHS:
            self.page.set_viewport_size({"width": width, "height": 844 if width < 600 else 900})
            self.page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
        if original:
            self.page.set_viewport_size(original)
