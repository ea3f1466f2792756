"""The console's activation statistics in a real browser (issue 13): a staff member reads the counts,
the table per residence and the chart; a person activates; the figures follow."""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.sync_api import expect

from tests.e2e.flows import accounts_with_credentials, activate, console_staff, verify_from_email
from tests.e2e.system import unique_email

MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre")
PCT = "\u202f%"


def _two_residences(tenant) -> dict:
    """C2 has a lot in each residence: it counts in both rows."""
    directory = {
        "residences": [{"ref": "R1", "name": "Résidence Les Tilleuls", "address": "3 rue des Lilas, 75012 Paris"},
                       {"ref": "R2", "name": "Le Clos", "address": "8 allée du Clos, 69003 Lyon"}],
        "lots": [{"ref": "L1", "residence_ref": "R1", "number": "1", "kind": "appartement"},
                 {"ref": "L2", "residence_ref": "R1", "number": "2", "kind": "appartement"},
                 {"ref": "L3", "residence_ref": "R2", "number": "3", "kind": "appartement"}],
        "accounts": [{"ref": ref, "role": "coproprietaire", "display_name": f"M. {ref} {tenant.client_code}",
                      "lot_refs": lots} for ref, lots in (("C1", ["L1"]), ("C2", ["L2", "L3"]), ("C3", ["L3"]))],
    }
    tenant.put_directory(directory)
    return directory


def _cells(page, residence: str):
    return page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=residence)).get_by_role("cell")


def _figure(page, term: str):
    return page.get_by_role("term").filter(has_text=term).locator("xpath=following-sibling::dd[1]")


def test_the_statistics_follow_an_activation(system, new_journey):
    tenant = system.new_tenant(name="Syndic Statistiques E2E")
    directory = _two_residences(tenant)
    accounts = accounts_with_credentials(tenant, directory, "C1", "C2")
    staff = new_journey()
    console_staff(staff, system, tenant, display_name="Sam Stats", email=unique_email("stats"))

    staff.click("Statistiques")
    staff.see_heading("Statistiques d'activation")
    expect(_figure(staff.page, "Comptes")).to_have_text("3")
    expect(_figure(staff.page, "Activés")).to_have_text(f"0 (0{PCT})")
    expect(_figure(staff.page, "En attente")).to_have_text("2")
    expect(_figure(staff.page, "Sans accès")).to_have_text("1")
    expect(_cells(staff.page, "Résidence Les Tilleuls (R1)")).to_have_text(["2", "0", "2", "0", f"0{PCT}"])
    expect(_cells(staff.page, "Le Clos (R2)")).to_have_text(["2", "0", "1", "1", f"0{PCT}"])

    person, person_email = new_journey(), unique_email("stats-person")
    activate(person, tenant, accounts["C1"], person_email)
    verify_from_email(person, system, person_email)

    staff.page.reload()
    expect(_figure(staff.page, "Activés")).to_have_text(f"1 (33{PCT})")
    expect(_figure(staff.page, "En attente")).to_have_text("1")
    expect(_cells(staff.page, "Résidence Les Tilleuls (R1)")).to_have_text(["2", "1", "1", "0", f"50{PCT}"])
    expect(_cells(staff.page, "Le Clos (R2)")).to_have_text(["2", "0", "1", "1", f"0{PCT}"])
    chart = staff.page.get_by_role("img", name="Activations par mois des 12 derniers mois")
    expect(chart).to_be_visible()
    staff.page.get_by_text("Données du graphique").click()
    now = datetime.now(UTC)
    this_month = staff.page.get_by_role("row").filter(
        has=staff.page.get_by_role("rowheader", name=f"{MONTHS[now.month - 1]} {now.year}"))
    expect(this_month.get_by_role("cell")).to_have_text(["1", "1", f"33{PCT}"])
    staff.checkpoint("console-stats")

    staff.page.get_by_label("Regrouper par").select_option(label="Semaine (52 dernières semaines)")
    staff.click("AFFICHER")
    expect(staff.page.get_by_role("img", name="Activations par semaine des 52 dernières semaines")).to_be_visible()
