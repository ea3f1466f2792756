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
    activated_person,
    expect_logged_in,
    login,
    residence_directory,
    strong_password,
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
