"""Password journeys: forgotten password (by email and by provisional identifier), change in Profil."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.browser import Journey
from tests.e2e.flows import (
    PASSWORD,
    accounts_with_credentials,
    activated_person,
    expect_logged_in,
    expect_login_refused,
    login,
    open_login,
    residence_directory,
    strong_password,
)
from tests.e2e.system import System, Tenant, link_in, unique_email

RESET_SUBJECT = "Réinitialisation de votre mot de passe"


def ask_reset(j: Journey, tenant: Tenant, identifier: str, *, shots: bool = False) -> str:
    open_login(j, tenant, shot=None)
    j.click("J'ai déjà un compte")
    j.click("Mot de passe oublié")
    j.fill("Identifiant provisoire / adresse mail", identifier)
    if shots:
        j.checkpoint("password-forgot")
    j.click("ENVOYER LA DEMANDE")
    j.see("Si un compte correspond à cet identifiant")
    answer = j.page.locator("main").inner_text()
    if shots:
        j.checkpoint("password-forgot-sent")
    return answer


def reset_from_email(j: Journey, system: System, email: str, password: str, *, count: int, shots: bool = False):
    mail = system.wait_for_email(email, count=count, subject=RESET_SUBJECT)
    assert "RÉINITIALISER MON MOT DE PASSE" in mail.html()
    j.goto(link_in(mail, "/password/reset"))
    j.see("Au moins 6 caractères")
    j.fill("Nouveau mot de passe", password)
    j.fill("Confirmation", password)
    if shots:
        j.checkpoint("password-reset")
    j.click("RÉINITIALISER MON MOT DE PASSE")
    j.see_heading("Votre mot de passe a bien été réinitialisé")
    if shots:
        j.checkpoint("password-reset-done")


def test_forgotten_password_by_email_and_by_provisional_identifier(system, new_journey):
    tenant = system.new_tenant()
    directory = residence_directory(tenant, ("C1", "coproprietaire", None))
    account = accounts_with_credentials(tenant, directory, "C1")["C1"]
    email = unique_email("forgot")
    journey, elsewhere = new_journey(), new_journey()
    activated_person(journey, system, tenant, account, email)
    login(elsewhere, tenant, email, PASSWORD)
    expect_logged_in(elsewhere)

    # The same answer whether or not the identifier is known.
    unknown_answer = ask_reset(journey, tenant, unique_email("nobody"))
    known_answer = ask_reset(journey, tenant, email, shots=True)
    assert known_answer == unknown_answer
    new_password = strong_password()
    reset_from_email(journey, system, email, new_password, count=1, shots=True)

    login(journey, tenant, email, PASSWORD)
    expect_login_refused(journey)
    login(journey, tenant, email, new_password)
    expect_logged_in(journey)
    # The other browser's session ended with the reset.
    elsewhere.page.reload()
    elsewhere.see("Votre session a expiré")
    expect(elsewhere.action("Se déconnecter")).to_have_count(0)

    # By the provisional identifier of an activated account: the email goes to the person.
    ask_reset(journey, tenant, account.login)
    third_password = strong_password()
    reset_from_email(journey, system, email, third_password, count=2)
    login(journey, tenant, email, new_password)
    expect_login_refused(journey)
    login(journey, tenant, email, third_password)
    expect_logged_in(journey)


def test_password_change_in_profile_needs_the_old_password(system, journey):
    tenant = system.new_tenant()
    directory = residence_directory(tenant, ("C1", "coproprietaire", None))
    account = accounts_with_credentials(tenant, directory, "C1")["C1"]
    email = unique_email("profile")
    activated_person(journey, system, tenant, account, email)

    journey.click("Profil")
    journey.checkpoint("profile")
    new_password = strong_password()
    journey.fill("Ancien mot de passe", "Not-the-old-1!")
    journey.fill("Nouveau mot de passe", new_password)
    journey.fill("Confirmation", new_password)
    journey.click("Valider le mot de passe")
    journey.see("Ancien mot de passe incorrect.")
    journey.checkpoint("profile-password-refused")

    journey.fill("Ancien mot de passe", PASSWORD)
    journey.fill("Nouveau mot de passe", new_password)
    journey.fill("Confirmation", new_password)
    journey.click("Valider le mot de passe")
    journey.see("Votre mot de passe a bien été modifié.")
    journey.checkpoint("profile-password-changed")
    system.wait_for_email(email, subject="mot de passe")

    login(journey, tenant, email, PASSWORD)
    expect_login_refused(journey)
    login(journey, tenant, email, new_password)
    expect_logged_in(journey)
