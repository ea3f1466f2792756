"""Steps the journeys share, written with the guide's labels (spec/guide-extranet.txt)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from playwright.sync_api import expect

from tests.e2e.browser import Journey, contains, label
from tests.e2e.system import System, Tenant, link_in, unique_email

# Meets every criterion of the default policy (6+ characters, upper, lower, digit, special).
PASSWORD = "Azerty1*moncompte"


def strong_password() -> str:
    return "Mc-" + uuid.uuid4().hex[:10] + "A1!"


@dataclass
class Account:
    ref: str
    display_name: str
    login: str
    password: str


def residence_directory(tenant: Tenant, *accounts: tuple[str, str, str | None], council: tuple[str, ...] = (),
                        residence_name: str = "Résidence Les Tilleuls") -> dict:
    """One residence with one lot per account; ``accounts`` are ``(ref, role, suggested email)``."""
    directory = {
        "residences": [{"ref": "R1", "name": residence_name, "address": "3 rue des Lilas, 75012 Paris"}],
        "lots": [],
        "accounts": [],
    }
    for number, (ref, role, email) in enumerate(accounts, start=1):
        directory["lots"].append({"ref": f"L{number}", "residence_ref": "R1", "number": str(number),
                                  "kind": "appartement"})
        account = {"ref": ref, "role": role, "display_name": f"M. {ref} {tenant.client_code}",
                   "lot_refs": [f"L{number}"], "council": ref in council}
        if email:
            account["email"] = email
        directory["accounts"].append(account)
    tenant.put_directory(directory)
    return directory


def accounts_with_credentials(tenant: Tenant, directory: dict, *refs: str) -> dict[str, Account]:
    names = {a["ref"]: a["display_name"] for a in directory["accounts"]}
    issued = tenant.issue_credentials(*refs)
    return {ref: Account(ref, names[ref], issued[ref]["login"], issued[ref]["password"]) for ref in refs}


def open_login(j: Journey, tenant: Tenant, *, shot: str | None = "login-welcome") -> None:
    j.goto(tenant.login_path())
    j.see_heading("Mon compte immobilier")
    j.see("choisissez l'option qui vous correspond")
    if shot:
        j.checkpoint(shot)


def enter_provisional(j: Journey, account: Account, *, option: str = "Je n'ai pas de compte",
                      shot: str | None = "activation-credentials") -> None:
    j.click(option)
    j.fill("Identifiant provisoire", account.login)
    j.fill("Mot de passe provisoire", account.password)
    if shot:
        j.checkpoint(shot)
    j.click("CONTINUER")


def choose_email(j: Journey, email: str, *, expect_suggested: str | None = None, shot: str | None = None) -> None:
    j.see_heading("Sécuriser mon compte")
    field = j.field("Adresse email")
    if expect_suggested is not None:
        expect(field).to_have_value(expect_suggested)
    if shot:
        j.checkpoint(shot)
    field.fill(email)
    j.click("CONTINUER")


def choose_password(j: Journey, password: str, *, shot: str | None = None) -> None:
    j.see("Au moins 6 caractères")
    j.fill("Nouveau mot de passe", password)
    j.fill("Confirmation", password)
    j.page.get_by_label(contains("CGU")).check()
    if shot:
        j.checkpoint(shot)
    j.click("CRÉER MON COMPTE")


def see_pending(j: Journey, email: str, *, shot: str | None = None) -> None:
    j.see("Un email vous a été envoyé à l'adresse")
    j.see(email)
    if shot:
        j.checkpoint(shot)


def activate(j: Journey, tenant: Tenant, account: Account, email: str, password: str = PASSWORD, *,
             shots: bool = False, suggested: str | None = None) -> None:
    """From the login URL to the "email sent" page (the email is not verified yet)."""
    open_login(j, tenant, shot="login-welcome" if shots else None)
    enter_provisional(j, account, shot="activation-credentials" if shots else None)
    choose_email(j, email, expect_suggested=suggested, shot="activation-email" if shots else None)
    choose_password(j, password, shot="activation-password" if shots else None)
    see_pending(j, email, shot="activation-pending" if shots else None)


def verify_from_email(j: Journey, system: System, email: str, *, count: int = 1, shots: bool = False) -> str:
    """Open the ``count``-th verification email's link and press VALIDER MON EMAIL; return the link."""
    mail = system.wait_for_email(email, count=count, subject="Confirmation de votre adresse email")
    assert "webmaster@moncompte.immo" in str(mail.message["From"])
    assert "VALIDER MON EMAIL" in mail.html()
    link = link_in(mail, "/activation/verify")
    j.goto(link)
    if shots:
        j.checkpoint("verify-email")
    j.click("VALIDER MON EMAIL")
    j.see("Votre email a bien été validé")
    if shots:
        j.checkpoint("email-verified")
    return link


# IDENTITY_RESEND_COOLDOWN_SECONDS of the e2e system (60 in production): long enough to see the
# page wait on a loaded machine, short enough to wait for.
RESEND_COOLDOWN_SECONDS = 6

LOGIN_INVALID = "Adresse mail ou mot de passe incorrect."
PROVISIONAL_INVALID = "Identifiant ou mot de passe provisoire incorrect."


def fill_login(j: Journey, email: str, password: str) -> None:
    j.fill("Adresse mail", email)
    j.fill("Mot de passe", password)
    j.click("SE CONNECTER")


def logout(j: Journey) -> None:
    """End the browser's session when it has one (so that a refused login reads as refused)."""
    button = j.page.get_by_role("button", name=label("Se déconnecter"))
    if button.count():
        button.first.click()
        expect(j.page.get_by_role("button", name=label("Se déconnecter"))).to_have_count(0)


def login(j: Journey, tenant: Tenant, email: str, password: str, *, shot: str | None = None) -> None:
    """From the tenant's login URL, "J'ai déjà un compte", then the login form (after logging out)."""
    open_login(j, tenant, shot=None)
    logout(j)
    open_login(j, tenant, shot=None)
    j.click("J'ai déjà un compte")
    if shot:
        j.checkpoint(shot)
    fill_login(j, email, password)


def expect_logged_in(j: Journey) -> None:
    expect(j.action("Profil")).to_be_visible()
    expect(j.action("Se déconnecter")).to_be_visible()


def expect_login_refused(j: Journey) -> None:
    j.see(LOGIN_INVALID)
    expect(j.action("Se déconnecter")).to_have_count(0)


def activated_person(j: Journey, system: System, tenant: Tenant, account: Account, email: str,
                     password: str = PASSWORD) -> None:
    """Activation, verification and a first login: the person is on the dashboard."""
    activate(j, tenant, account, email, password)
    verify_from_email(j, system, email)
    login(j, tenant, email, password)
    expect_logged_in(j)


def console_staff(j: Journey, system: System, tenant: Tenant, *, role: str = "gestionnaire",
                  display_name: str = "", email: str | None = None, password: str | None = None) -> tuple[str, str]:
    """The operator invites a staff member; they accept from the email and log in to the console."""
    email, password = email or unique_email("staff"), password or strong_password()
    system.operator.call("POST", "/api/v1/staff", {"tenant_id": tenant.id, "email": email, "role": role,
                                                   "display_name": display_name})
    accept_console_invitation(j, system, email, password)
    console_log_in(j, email, password)
    return email, password


def accept_console_invitation(j: Journey, system: System, email: str, password: str) -> None:
    mail = system.wait_for_email(email, subject="Invitation à la console")
    j.goto(link_in(mail, "/agence/invitation"))
    j.see_heading("Votre accès à la console")
    j.see(email)
    j.fill("Mot de passe", password)
    j.fill("Confirmation du mot de passe", password)
    j.click("VALIDER MON ACCÈS")
    j.see("Votre accès est prêt")


def console_log_in(j: Journey, email: str, password: str) -> None:
    j.fill("Adresse mail professionnelle", email)
    j.fill("Mot de passe", password)
    j.click("SE CONNECTER")
    j.see_heading("Annuaire")
