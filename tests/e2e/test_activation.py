"""Activation journeys in the browser: mono lot, a mistyped email, a resent verification email
(the page says until when it waits, the button comes back after the cooldown)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from gateway.waiting import clock_time
from scripts.seed_demo import make_pdf
from tests.e2e.flows import (
    PASSWORD,
    PROVISIONAL_INVALID,
    RESEND_COOLDOWN_SECONDS,
    accounts_with_credentials,
    activate,
    choose_email,
    choose_password,
    enter_provisional,
    expect_logged_in,
    expect_login_refused,
    fill_login,
    login,
    open_login,
    residence_directory,
    see_pending,
    verify_from_email,
)
from tests.e2e.system import link_in, unique_email


def test_mono_lot_activation_then_login_shows_that_accounts_documents_only(system, journey):
    tenant = system.new_tenant(kind="syndic")
    suggested = unique_email("suggested")
    directory = residence_directory(tenant, ("C1", "coproprietaire", suggested), ("C2", "coproprietaire", None))
    account = accounts_with_credentials(tenant, directory, "C1")["C1"]
    mine = tenant.upload_pdf(title="Appel de fonds du 3e trimestre", category="LOT_APPEL",
                             audience={"account_ref": "C1"})
    theirs = tenant.upload_pdf(title="Compte individuel du voisin", category="LOT_COMPTE",
                               audience={"account_ref": "C2"})
    shared = tenant.upload_pdf(title="Procès-verbal de l'AG du 12 juin 2026", category="AG_PV",
                               audience={"residence_ref": "R1"})
    assert mine["id"] and theirs["id"] and shared["id"]
    email = unique_email("mono")

    activate(journey, tenant, account, email, PASSWORD, shots=True, suggested=suggested)
    # Until the address is verified the person cannot log in.
    login(journey, tenant, email, PASSWORD, shot="login-form")
    expect_login_refused(journey)
    journey.checkpoint("login-refused")

    verify_from_email(journey, system, email, shots=True)
    journey.click("CONNECTEZ-VOUS")
    fill_login(journey, email, PASSWORD)
    expect_logged_in(journey)
    journey.see("Appel de fonds du 3e trimestre")
    journey.see("Procès-verbal de l'AG du 12 juin 2026")
    journey.absent("Compte individuel du voisin")
    # Grouped under the French group names of DOCUMENT-CATEGORIES.md.
    journey.see_heading("Mon lot")
    journey.see_heading("Assemblées générales")
    journey.checkpoint("dashboard")
    # The download is the very file the agency uploaded.
    with journey.page.expect_download() as download:
        journey.click("Télécharger Appel de fonds du 3e trimestre")
    assert download.value.path().read_bytes() == make_pdf("Appel de fonds du 3e trimestre")

    # Once activated, the provisional credentials are dead.
    open_login(journey, tenant, shot=None)
    enter_provisional(journey, account, shot=None)
    journey.see(PROVISIONAL_INVALID)
    journey.checkpoint("activation-credentials-refused")


def test_mistyped_email_is_corrected_by_resetting_the_activation(system, journey):
    tenant = system.new_tenant()
    directory = residence_directory(tenant, ("C1", "coproprietaire", None))
    account = accounts_with_credentials(tenant, directory, "C1")["C1"]
    right = unique_email("right")
    typo = right.replace("@example.org", "@exmaple.org")

    activate(journey, tenant, account, typo, PASSWORD)
    typo_mail = system.wait_for_email(typo, subject="Confirmation de votre adresse email")
    journey.click("Réinitialiser l'activation de votre compte")
    choose_email(journey, right)
    choose_password(journey, PASSWORD)
    see_pending(journey, right)

    # The link sent to the mistyped address no longer works...
    journey.goto(link_in(typo_mail, "/activation/verify"))
    journey.click("VALIDER MON EMAIL")
    journey.see_heading("Ce lien n'est plus valide")
    journey.checkpoint("verify-email-refused")
    # ...the new one does, and the person logs in with the right address.
    verify_from_email(journey, system, right)
    login(journey, tenant, right, PASSWORD)
    expect_logged_in(journey)
    login(journey, tenant, typo, PASSWORD)
    expect_login_refused(journey)


def _shown_time(journey, sentence: str) -> str:
    """The "14 h 32" of the information on the page, which must read exactly ``sentence`` around it."""
    text = journey.page.get_by_role("status").filter(has_text="Vous pourrez").inner_text()
    match = re.fullmatch(re.escape(sentence).replace("TIME", r"(\d{1,2}\s+h\s+\d{2})"), text.strip())
    assert match, text
    return match.group(1)


def _times_between(start: datetime, end: datetime) -> set[str]:
    """Every "HH h MM" the page may show for a cooldown that started between ``start`` and ``end``."""
    cooldown = timedelta(seconds=RESEND_COOLDOWN_SECONDS)
    return {clock_time(start + cooldown + timedelta(seconds=s))
            for s in range(int((end - start).total_seconds()) + 2)}


def test_verification_email_can_be_sent_again_once_the_page_says_so(system, journey):
    tenant = system.new_tenant()
    directory = residence_directory(tenant, ("C1", "locataire", None))
    account = accounts_with_credentials(tenant, directory, "C1")["C1"]
    email = unique_email("resend")
    resend = journey.action("Demander le renvoi de l'email")

    before = datetime.now(UTC)
    activate(journey, tenant, account, email, PASSWORD)
    # Right after CRÉER MON COMPTE: information (not an error) saying when, and the button disabled.
    shown = _shown_time(journey, "Un email vient de vous être envoyé. "
                                 "Vous pourrez en demander un nouveau à partir de TIME.")
    assert shown in _times_between(before, datetime.now(UTC))
    expect(resend).to_be_disabled()
    expect(journey.page.locator(".error")).to_have_count(0)
    journey.checkpoint("activation-resend-wait")
    system.wait_for_email(email, subject="Confirmation de votre adresse email")

    # After the cooldown a reload shows the button enabled (decided by the server: no script needed).
    deadline = time.monotonic() + RESEND_COOLDOWN_SECONDS + 20
    while resend.is_disabled():
        assert time.monotonic() < deadline, "the resend button stayed disabled after the cooldown"
        journey.page.wait_for_timeout(500)
        journey.page.reload()
    journey.absent("Vous pourrez en demander un nouveau")

    before = datetime.now(UTC)
    resend.click()
    shown = _shown_time(journey, "Un nouvel email vient de vous être envoyé. "
                                 "Vous pourrez en demander un nouveau à partir de TIME.")
    assert shown in _times_between(before, datetime.now(UTC))
    expect(resend).to_be_disabled()
    see_pending(journey, email)
    journey.checkpoint("activation-resent")
    second = system.wait_for_email(email, count=2, subject="Confirmation de votre adresse email")
    assert "/activation/verify" in link_in(second, "/activation/verify")

    verify_from_email(journey, system, email, count=2)
    login(journey, tenant, email, PASSWORD)
    expect_logged_in(journey)
