"""The help page ("Besoin d'aide pour se connecter ?") shows each tenant's own contact."""

from __future__ import annotations

from tests.e2e.flows import open_login


def test_each_tenant_has_its_own_help_page(system, journey):
    first = system.new_tenant(kind="syndic", support={"email": "aide@syndic-un.example.org",
                                                      "phone": "01 11 11 11 11", "hours": "9h-12h"})
    second = system.new_tenant(kind="gerance", support={"email": "contact@gerance-deux.example.org",
                                                        "phone": "02 22 22 22 22", "hours": "14h-17h"})
    for tenant, other in ((first, second), (second, first)):
        open_login(journey, tenant, shot=None)
        journey.click("Besoin d'aide pour se connecter ?")
        journey.see(tenant.support["email"])
        journey.see(tenant.support["phone"])
        journey.see(tenant.support["hours"])
        journey.absent(other.support["email"])
        journey.checkpoint(f"help-{tenant.onboarded['kind']}")
    # The legal pages linked from every page's footer.
    journey.click("CGU")
    journey.see_heading("Conditions générales d'utilisation")
    journey.checkpoint("cgu")
    journey.click("Politique de confidentialité")
    journey.see_heading("Politique de confidentialité")
    journey.checkpoint("privacy")


def test_unknown_and_suspended_tenants_get_a_clear_french_page(system, journey):
    journey.goto("/login?client=NOPE-E2E&societe=00")
    journey.see_heading("Adresse de connexion inconnue")
    journey.checkpoint("tenant-unknown")

    tenant = system.new_tenant(name="Agence suspendue E2E")
    system.operator.call("PATCH", f"/api/v1/tenants/{tenant.id}", {"status": "suspended"})
    journey.goto(tenant.login_path())
    journey.see_heading("Espace indisponible")
    journey.see("Agence suspendue E2E")
    journey.absent("Je n'ai pas de compte")
    journey.checkpoint("tenant-suspended")
