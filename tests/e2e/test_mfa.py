"""Second factor in headless Chromium (issue 15): an authenticator app enrolled in Profil, the
code asked after the password, a recovery code used once, the reset asking for a code, and the
notices emailed."""

from __future__ import annotations

import re
import time

import pyotp
from playwright.sync_api import expect

from tests.e2e.browser import Journey
from tests.e2e.flows import (
    PASSWORD,
    accounts_with_credentials,
    activate,
    activated_person,
    expect_logged_in,
    login,
    residence_directory,
    strong_password,
    verify_from_email,
)
from tests.e2e.system import link_in, unique_email

ADDED_SUBJECT = "Application d'authentification ajoutée"
RECOVERY_SUBJECT = "Code de secours utilisé"
REMOVED_SUBJECT = "Application d'authentification retirée"


def fresh_code(secret: str, used: set[int]) -> str:
    """The app's code for a time step never accepted before (identity refuses a replay and an older
    step): the next period's code is within the window; beyond that, wait for the clock."""
    step = max(int(time.time()) // 30, max(used, default=0) + 1)
    while step > int(time.time()) // 30 + 1:
        time.sleep(1)
    used.add(step)
    return pyotp.TOTP(secret).generate_otp(step)


def enrol_app(j: Journey, used: set[int]) -> tuple[str, list[str]]:
    j.click("Profil")
    j.see_heading("Double authentification")
    j.click("Ajouter une application d'authentification")
    j.see_heading("Ajouter une application d'authentification")
    expect(j.page.get_by_role("img", name=re.compile("QR code"))).to_be_visible()
    secret = j.page.locator("#totp-secret").inner_text().replace(" ", "")
    j.checkpoint("mfa-enrol")
    j.fill("Code à 6 chiffres", "000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    j.click("ACTIVER")
    j.see("Code incorrect")
    j.checkpoint("mfa-enrol-wrong-code")
    j.fill("Code à 6 chiffres", fresh_code(secret, used))
    j.click("ACTIVER")
    j.see_heading("Vos codes de secours")
    codes = [c.strip() for c in j.page.locator(".recovery-codes code").all_inner_texts()]
    assert len(codes) == 10
    j.checkpoint("mfa-recovery-codes")
    j.click("J'ai noté mes codes")
    j.see("La double authentification est activée")
    j.see("Codes de secours restants")
    return secret, codes


def test_authenticator_app_enrolment_login_recovery_code_and_reset(system, new_journey):
    tenant = system.new_tenant()
    directory = residence_directory(tenant, ("C1", "coproprietaire", None))
    account = accounts_with_credentials(tenant, directory, "C1")["C1"]
    email = unique_email("mfa")
    j = new_journey()
    activated_person(j, system, tenant, account, email)
    used: set[int] = set()
    secret, codes = enrol_app(j, used)
    system.wait_for_email(email, subject=ADDED_SUBJECT)

    # Login: the password, then the code.
    login(j, tenant, email, PASSWORD)
    j.see_heading("Code de vérification")
    j.checkpoint("login-code")
    j.fill("Code de vérification", "12345")
    j.click("VALIDER")
    j.see("Code incorrect ou déjà utilisé")
    j.fill("Code de vérification", fresh_code(secret, used))
    j.click("VALIDER")
    expect_logged_in(j)

    # A recovery code works once, and the person is told.
    login(j, tenant, email, PASSWORD)
    j.fill("Code de vérification", codes[0])
    j.click("VALIDER")
    expect_logged_in(j)
    system.wait_for_email(email, subject=RECOVERY_SUBJECT)
    login(j, tenant, email, PASSWORD)
    j.fill("Code de vérification", codes[0])
    j.click("VALIDER")
    j.see("Code incorrect ou déjà utilisé")

    # A reset asks for a code as well.
    j.click("Recommencer la connexion")
    j.click("Mot de passe oublié")
    j.fill("Identifiant provisoire / adresse mail", email)
    j.click("ENVOYER LA DEMANDE")
    mail = system.wait_for_email(email, subject="Réinitialisation de votre mot de passe")
    j.goto(link_in(mail, "/password/reset"))
    j.see("saisissez aussi un code")
    new_password = strong_password()
    j.fill("Nouveau mot de passe", new_password)
    j.fill("Confirmation", new_password)
    j.checkpoint("password-reset-code")
    j.click("RÉINITIALISER MON MOT DE PASSE")
    j.see("Ce champ est obligatoire")
    j.fill("Nouveau mot de passe", new_password)
    j.fill("Confirmation", new_password)
    j.fill("Code de vérification", codes[1])
    j.click("RÉINITIALISER MON MOT DE PASSE")
    j.see_heading("Votre mot de passe a bien été réinitialisé")

    # Removing the app (password required): the next login is the guide's again.
    login(j, tenant, email, new_password)
    j.fill("Code de vérification", fresh_code(secret, used))
    j.click("VALIDER")
    expect_logged_in(j)
    j.click("Profil")
    j.fill("Mot de passe (pour retirer l'application)", new_password)
    j.click("Retirer l'application d'authentification")
    j.see("L'application d'authentification a été retirée")
    system.wait_for_email(email, subject=REMOVED_SUBJECT)
    login(j, tenant, email, new_password)
    expect_logged_in(j)


def test_a_council_member_is_led_to_enrol_when_the_agency_requires_it(system, new_journey):
    from tests.e2e.flows import accept_console_invitation, console_log_in

    tenant = system.new_tenant(name="Syndic Double Authentification E2E")
    # Set first: identity caches an agency's settings for a minute.
    tenant.api.call("PATCH", "/api/v1/agency", {"settings": {"mfa_requirement": "council"}})
    directory = residence_directory(tenant, ("C1", "coproprietaire", None), ("C2", "coproprietaire", None),
                                    council=("C1",))
    accounts = accounts_with_credentials(tenant, directory, "C1", "C2")

    # A member of the council: after the password, the enrolment, then the recovery codes, then the dashboard.
    member, email = new_journey(), unique_email("conseil")
    activate(member, tenant, accounts["C1"], email)
    verify_from_email(member, system, email)
    login(member, tenant, email, PASSWORD)
    member.see_heading("Sécurisez votre compte")
    member.see("Votre agence demande une double authentification")
    expect(member.action("Se déconnecter")).to_have_count(0)
    member.checkpoint("login-enrol-required")
    secret = member.page.locator("#totp-secret").inner_text().replace(" ", "")
    used: set[int] = set()
    member.fill("Code à 6 chiffres", fresh_code(secret, used))
    member.click("ACTIVER")
    member.see_heading("Vos codes de secours")
    member.checkpoint("login-enrol-codes")
    member.click("J'ai noté mes codes")
    expect_logged_in(member)
    system.wait_for_email(email, subject=ADDED_SUBJECT)
    # The app cannot be removed while the agency requires it.
    member.click("Profil")
    member.fill("Mot de passe (pour retirer l'application)", PASSWORD)
    member.click("Retirer l'application d'authentification")
    member.see("Votre agence demande une double authentification")

    # Another co-owner, not on the council: the guide's journey, unchanged.
    other, other_email = new_journey(), unique_email("copro")
    activated_person(other, system, tenant, accounts["C2"], other_email)

    # The console shows the requirement and changes it.
    admin_email, admin_password = unique_email("admin-mfa"), strong_password()
    system.operator.call("POST", "/api/v1/staff", {"tenant_id": tenant.id, "email": admin_email, "role": "admin",
                                                   "display_name": "Alice Admin"})
    admin = new_journey()
    accept_console_invitation(admin, system, admin_email, admin_password)
    console_log_in(admin, admin_email, admin_password)
    admin.click("Réglages")
    expect(admin.page.get_by_label("Exigée des membres du conseil syndical")).to_be_checked()
    admin.page.get_by_label("Exigée de toutes les personnes").check()
    admin.checkpoint("console-settings-mfa")
    admin.click("ENREGISTRER L'EXIGENCE")
    admin.see("Exigence de double authentification enregistrée.")
    expect(admin.page.get_by_label("Exigée de toutes les personnes")).to_be_checked()
    admin.see("Double authentification : Exigée de toutes les personnes")
    assert tenant.api.call("GET", "/api/v1/agency")["settings"]["mfa_requirement"] == "all"
