"""Legal proofs in a real browser (issue 14): a co-owner gives consent to electronic fund calls in
the profile (confirmed by email), opens a fund call from the dashboard, which then says
"Consulté le"; a gestionnaire reads the residence's consent register and the document's proof of
availability, and the PDF report carries the file's SHA-256 and the access."""

from __future__ import annotations

import hashlib
import io
import time

from playwright.sync_api import expect
from pypdf import PdfReader

from scripts.seed_demo import make_pdf
from tests.e2e.flows import accounts_with_credentials, activated_person, console_staff, residence_directory
from tests.e2e.system import unique_email

TITLE = "Appel de fonds du 1er trimestre 2027"
RESIDENCE = "Résidence Les Tilleuls"


def _staff_logged_in(journey, system, tenant) -> None:
    console_staff(journey, system, tenant, display_name="Paule Preuves", email=unique_email("preuves"))


def _until(check, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.5)


def test_consent_in_the_profile_the_register_and_the_proof_of_a_fund_call(system, new_journey):
    tenant = system.new_tenant(name="Syndic Preuves E2E")
    email = unique_email("copro-preuves")
    directory = residence_directory(tenant, ("C1", "coproprietaire", email), ("C2", "coproprietaire", None))
    accounts = accounts_with_credentials(tenant, directory, "C1")
    person = new_journey()
    activated_person(person, system, tenant, accounts["C1"], email)

    # The co-owner consents to fund calls by email, and only to those.
    person.click("Profil")
    person.see_heading("Notifications par voie électronique")
    person.see("art. 35-2")
    funds = person.field("Appels de fonds")
    expect(funds).not_to_be_checked()
    funds.check()
    person.click("Enregistrer mes choix")
    person.see("Vos choix sont enregistrés.")
    person.see("Accord donné le")
    expect(person.field("Appels de fonds")).to_be_checked()
    expect(person.field("Mises en demeure")).not_to_be_checked()
    person.checkpoint("profile-consents")
    confirmation = system.wait_for_email(email, subject="Votre accord pour la voie électronique a été enregistré")
    assert "Appels de fonds" in confirmation.text() and "C1" in confirmation.text()

    # A fund call for the co-owner: published, not yet opened, then opened.
    document = tenant.upload_pdf(title=TITLE, category="LOT_APPEL", audience={"account_ref": "C1"},
                                 date="2027-01-01")
    person.click("Mes documents")
    row = person.page.get_by_role("listitem").filter(has_text=TITLE)
    expect(row).to_contain_text("Publié le")
    expect(row).to_contain_text("Non consulté")
    with person.page.expect_download() as download:
        person.click(f"Télécharger {TITLE}")
    assert download.value.path().read_bytes() == make_pdf(TITLE)

    def opened() -> bool:
        person.click("Mes documents")
        return "Consulté le" in person.page.get_by_role("listitem").filter(has_text=TITLE).inner_text()

    _until(opened, "the dashboard never said the fund call was opened")
    person.checkpoint("dashboard-opened")

    # The agency: the register of the residence, then the proof of the fund call.
    staff = new_journey()
    _staff_logged_in(staff, system, tenant)
    staff.click("Consentements")
    staff.see_heading("Registre des consentements")
    staff.page.get_by_label("Résidence").select_option(label=RESIDENCE)
    staff.click("AFFICHER")
    c1 = staff.page.get_by_role("row").filter(has=staff.page.get_by_role("rowheader", name="C1"))
    expect(c1).to_contain_text("Accord depuis le")
    c2 = staff.page.get_by_role("row").filter(has=staff.page.get_by_role("rowheader", name="C2"))
    expect(c2.first).to_contain_text("Pas d'accord : courrier")
    staff.see("Accord donné")
    staff.checkpoint("console-consents")

    staff.click("Documents")
    staff.click(f"Preuve de mise à disposition de « {TITLE} »")
    staff.see_heading("Preuve de mise à disposition")
    staff.see("Oui : le fichier conservé est identique à celui mis en ligne.")
    staff.see("Voie électronique (consentement donné)")
    expect(staff.page.get_by_role("row").filter(has_text="Téléchargement")).to_contain_text("Réussi")
    staff.checkpoint("console-proof")
    with staff.page.expect_download() as download:
        staff.click("Télécharger le rapport (PDF)")
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(download.value.path().read_bytes())).pages)
    flat = text.replace("\n", "")
    assert "Preuve de mise à disposition" in text
    assert document["sha256"] == hashlib.sha256(make_pdf(TITLE)).hexdigest()
    assert document["sha256"] in flat and "OUI" in text
    assert "Téléchargement" in text and "C1" in text
