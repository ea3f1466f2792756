"""Passkeys in headless Chromium with a virtual authenticator (Chrome DevTools WebAuthn domain,
through Playwright's CDP session), issue 15: added in Profil, asked after the password, used alone
to log in, removed; the notices emailed.

WebAuthn refuses an IP address as the relying party: this module runs its own system whose public
address is ``http://localhost:<port>`` (the gateway still listens on 127.0.0.1).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.browser import Journey
from tests.e2e.flows import (
    PASSWORD,
    accounts_with_credentials,
    activated_person,
    expect_logged_in,
    login,
    logout,
    open_login,
    residence_directory,
)
from tests.e2e.system import System, unique_email


class LocalhostSystem(System):
    @property
    def base_url(self) -> str:
        return f"http://localhost:{self.gateway.port}"


@pytest.fixture(scope="module")
def system(database_url, amqp_url, tmp_path_factory):
    running = LocalhostSystem(database_url=database_url, amqp_url=amqp_url,
                              workdir=tmp_path_factory.mktemp("e2e-passkeys"))
    try:
        running.start()
    except Exception:
        running.stop()
        raise
    yield running
    running.stop()


def virtual_authenticator(j: Journey) -> tuple[object, str]:
    cdp = j.page.context.new_cdp_session(j.page)
    cdp.send("WebAuthn.enable")
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True}})
    return cdp, added["authenticatorId"]


def test_a_passkey_added_then_used_after_the_password_then_alone_then_removed(system, new_journey):
    tenant = system.new_tenant()
    directory = residence_directory(tenant, ("C1", "coproprietaire", None))
    account = accounts_with_credentials(tenant, directory, "C1")["C1"]
    email = unique_email("passkey")
    j = new_journey()
    cdp, authenticator = virtual_authenticator(j)
    activated_person(j, system, tenant, account, email)

    # Profil: add a passkey; the person's first factor brings the recovery codes.
    j.click("Profil")
    j.see_heading("Double authentification")
    j.click("Ajouter une clé d'accès")
    j.see_heading("Ajouter une clé d'accès")
    j.fill("Nom de la clé", "Ordinateur du bureau")
    j.checkpoint("passkey-new")
    j.click("CRÉER LA CLÉ D'ACCÈS")
    j.see_heading("Vos codes de secours")
    j.click("J'ai noté mes codes")
    j.see("Ordinateur du bureau")
    j.checkpoint("profile-passkey")
    credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    assert len(credentials) == 1 and credentials[0]["isResidentCredential"]
    system.wait_for_email(email, subject="Nouvelle clé d'accès ajoutée")

    # After the password: the passkey instead of a code.
    login(j, tenant, email, PASSWORD)
    j.see_heading("Code de vérification")
    j.click("Utiliser ma clé d'accès")
    j.see_heading("Connexion avec une clé d'accès")
    j.checkpoint("login-passkey")
    j.click("UTILISER MA CLÉ D'ACCÈS")
    expect_logged_in(j)

    # Alone, without the password, where the browser offers it.
    logout(j)
    open_login(j, tenant, shot=None)
    j.click("J'ai déjà un compte")
    j.click("Se connecter avec une clé d'accès")
    j.click("UTILISER MA CLÉ D'ACCÈS")
    expect_logged_in(j)

    # Without the authenticator's user verification, the passwordless login is refused.
    cdp.send("WebAuthn.setUserVerified", {"authenticatorId": authenticator, "isUserVerified": False})
    logout(j)
    open_login(j, tenant, shot=None)
    j.click("J'ai déjà un compte")
    j.click("Se connecter avec une clé d'accès")
    j.click("UTILISER MA CLÉ D'ACCÈS")
    j.see("La clé d'accès")
    expect(j.action("Se déconnecter")).to_have_count(0)
    cdp.send("WebAuthn.setUserVerified", {"authenticatorId": authenticator, "isUserVerified": True})

    # Removed with the password: the login is the guide's again.
    login(j, tenant, email, PASSWORD)
    j.click("Utiliser ma clé d'accès")
    j.click("UTILISER MA CLÉ D'ACCÈS")
    expect_logged_in(j)
    j.click("Profil")
    j.fill("Mot de passe (pour retirer « Ordinateur du bureau »)", PASSWORD)
    j.click("Retirer la clé « Ordinateur du bureau »")
    j.see("La clé d'accès a été retirée de votre compte.")
    system.wait_for_email(email, subject="Clé d'accès retirée")
    login(j, tenant, email, PASSWORD)
    expect_logged_in(j)
