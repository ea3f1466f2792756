"""Merging accounts ("Je fusionne mes comptes"): in one agency, and across two agencies."""

from __future__ import annotations

from tests.e2e.browser import Journey
from tests.e2e.flows import (
    PASSWORD,
    Account,
    accounts_with_credentials,
    activated_person,
    enter_provisional,
    expect_logged_in,
    login,
    open_login,
    residence_directory,
)
from tests.e2e.system import Tenant, unique_email


def merge(j: Journey, tenant: Tenant, account: Account, email: str, password: str, *, shots: bool = False) -> None:
    open_login(j, tenant, shot=None)
    enter_provisional(j, account, option="Je fusionne mes comptes", shot="merge-credentials" if shots else None)
    field = j.field("Adresse email")
    field.fill(email)
    j.click("CONTINUER")
    j.see_heading("Fusion de comptes")
    j.see("Vous disposez de plusieurs comptes Extranet")
    j.see(email)
    if shots:
        j.checkpoint("merge-password")
    j.fill("Mot de passe", password)
    j.click("CONTINUER")


def test_two_accounts_in_one_agency_are_merged(system, new_journey):
    tenant = system.new_tenant()
    directory = residence_directory(tenant, ("C1", "coproprietaire", None), ("C2", "coproprietaire", None))
    accounts = accounts_with_credentials(tenant, directory, "C1", "C2")
    tenant.upload_pdf(title="Appel de fonds lot 1", category="LOT_APPEL", audience={"account_ref": "C1"})
    tenant.upload_pdf(title="Appel de fonds lot 2", category="LOT_APPEL", audience={"account_ref": "C2"})
    email = unique_email("merge")
    journey, second = new_journey(), new_journey()

    activated_person(journey, system, tenant, accounts["C1"], email)
    journey.see("Appel de fonds lot 1")
    journey.absent("Appel de fonds lot 2")

    # In another browser: a wrong password links nothing, the right one merges.
    merge(second, tenant, accounts["C2"], email, "Wrong-password-1!", shots=True)
    second.see("Mot de passe incorrect.")
    second.checkpoint("merge-refused")
    second.fill("Mot de passe", PASSWORD)
    second.click("CONTINUER")
    second.see("Vos comptes ont bien été fusionnés")
    second.checkpoint("merge-done")

    login(journey, tenant, email, PASSWORD)
    expect_logged_in(journey)
    journey.see("Appel de fonds lot 1")
    journey.see("Appel de fonds lot 2")
    journey.see(accounts["C1"].display_name)
    journey.see(accounts["C2"].display_name)
    journey.checkpoint("dashboard-merged")


def test_account_of_a_second_agency_is_merged_from_that_agencys_url(system, journey):
    syndic = system.new_tenant(kind="syndic", name="Syndic des Tilleuls E2E")
    gerance = system.new_tenant(kind="gerance", name="Gérance du Parc E2E")
    d1 = residence_directory(syndic, ("C1", "coproprietaire", None))
    d2 = residence_directory(gerance, ("B1", "bailleur", None), residence_name="Immeuble du Parc")
    first = accounts_with_credentials(syndic, d1, "C1")["C1"]
    second = accounts_with_credentials(gerance, d2, "B1")["B1"]
    syndic.upload_pdf(title="Convocation AG syndic", category="AG_CONVOC", audience={"residence_ref": "R1"})
    gerance.upload_pdf(title="Compte rendu de gestion T2", category="BAI_CRG", audience={"account_ref": "B1"})
    email = unique_email("multi")

    activated_person(journey, system, syndic, first, email)
    journey.absent("Gérance du Parc E2E")
    merge(journey, gerance, second, email, PASSWORD)
    journey.see("Vos comptes ont bien été fusionnés")

    for tenant in (gerance, syndic):
        login(journey, tenant, email, PASSWORD)
        expect_logged_in(journey)
        journey.see("Syndic des Tilleuls E2E")
        journey.see("Gérance du Parc E2E")
        journey.see("Convocation AG syndic")
        journey.see("Compte rendu de gestion T2")
    journey.checkpoint("dashboard-multi-agency")


def test_activating_with_an_address_already_in_use_turns_into_a_merge(system, journey):
    tenant = system.new_tenant()
    directory = residence_directory(tenant, ("C1", "coproprietaire", None), ("C2", "coproprietaire", None))
    accounts = accounts_with_credentials(tenant, directory, "C1", "C2")
    email = unique_email("known")
    activated_person(journey, system, tenant, accounts["C1"], email)

    open_login(journey, tenant, shot=None)
    enter_provisional(journey, accounts["C2"], option="Je n'ai pas de compte", shot=None)
    journey.field("Adresse email").fill(email)
    journey.click("CONTINUER")
    journey.see_heading("Fusion de comptes")
    journey.fill("Mot de passe", PASSWORD)
    journey.click("CONTINUER")
    journey.see("Vos comptes ont bien été fusionnés")

    login(journey, tenant, email, PASSWORD)
    journey.see(accounts["C1"].display_name)
    journey.see(accounts["C2"].display_name)
