"""The console's documents and its décret 2019-502 view in a real browser (issue 13): a gestionnaire
is refused clearly on bad input (nothing published), uploads two PDFs at once, sees them listed,
filters them, withdraws one, and sees the residence's legal item go from missing to present."""

from __future__ import annotations

import time

from playwright.sync_api import expect

from tests.e2e.flows import console_staff, residence_directory
from tests.e2e.system import unique_email

RCP = "Règlement de copropriété et modificatifs"
RESIDENCE = "Résidence Les Tilleuls (R1)"


def _staff_logged_in(journey, system, tenant) -> None:
    console_staff(journey, system, tenant, display_name="Dora Documents", email=unique_email("docs"))


def _wait_for_residence(journey, tenant) -> None:
    """Documents learns the directory from tenancy's events: wait until it knows the residence."""
    deadline = time.monotonic() + 30
    while True:
        journey.goto(f"/agence/documents?client={tenant.client_code}&societe={tenant.societe_code}")
        if journey.page.locator("#u-residence option", has_text=RESIDENCE).count():
            return
        assert time.monotonic() < deadline, "documents never learnt the residence"
        time.sleep(0.5)


def _rcp_row(journey):
    return journey.page.get_by_role("row").filter(has=journey.page.get_by_role("rowheader", name=RCP))


def test_a_gestionnaire_publishes_two_pdfs_filters_withdraws_one_and_the_rcp_becomes_present(
        system, new_journey, tmp_path):
    tenant = system.new_tenant(name="Syndic Documents E2E")
    residence_directory(tenant, ("C1", "coproprietaire", None), ("C2", "locataire", None))
    journey = new_journey()
    _staff_logged_in(journey, system, tenant)
    _wait_for_residence(journey, tenant)

    journey.click("Conformité 2019-502")
    journey.see_heading("Conformité au décret 2019-502")
    expect(_rcp_row(journey)).to_contain_text("Manquant")

    journey.click("Documents")
    journey.see_heading("Publier des documents")
    files = []
    for name in ("reglement-2026.pdf", "modificatif-2026.pdf"):
        path = tmp_path / name
        path.write_bytes(b"%PDF-1.7\n% " + name.encode() + b"\n" + b"x" * 2000 + b"\n%%EOF")
        files.append(str(path))
    category = journey.page.get_by_label("Catégorie du document")
    residence = journey.page.get_by_label("Résidence destinataire")
    chooser = journey.page.get_by_label("Fichiers (un ou plusieurs)")

    # Bad input: told in French, nothing published.
    category.select_option(label=RCP)
    residence.select_option(label=RESIDENCE)
    journey.click("PUBLIER")
    journey.see("Choisissez au moins un fichier.")
    chooser.set_input_files(files)
    category.select_option(label="Quittances de loyer")
    residence.select_option(label=RESIDENCE)
    journey.click("PUBLIER")
    journey.see("La catégorie « Quittances de loyer » se publie pour un compte de locataire")
    chooser.set_input_files(files)
    category.select_option(label=RCP)
    journey.page.get_by_label("Un seul compte (sa référence)").check()
    journey.fill("Référence du compte destinataire", "NOPE42")
    journey.click("PUBLIER")
    journey.see("Aucun compte actif ne porte la référence « NOPE42 ».")
    journey.see("Aucun document ne correspond à ces critères.")

    # Two PDFs at once, to every co-owner of the residence.
    chooser.set_input_files(files)
    category.select_option(label=RCP)
    journey.page.get_by_label("Tous les copropriétaires de la résidence").check()
    residence.select_option(label=RESIDENCE)
    journey.click("PUBLIER")
    journey.see("2 documents publiés.")
    journey.see("2 documents affichés.")
    for title in ("reglement-2026", "modificatif-2026"):
        expect(journey.page.get_by_role("row").filter(has_text=title)).to_contain_text(
            "Copropriétaires, Résidence Les Tilleuls")
    journey.checkpoint("console-documents")

    journey.fill("Rechercher dans le titre", "modificatif")
    journey.click("FILTRER")
    journey.see("1 document affiché.")
    journey.absent("reglement-2026")

    journey.click("Retirer « modificatif-2026 »")  # a confirmation page first: nothing withdrawn yet
    journey.see("Retirer un document")
    journey.see("Copropriétaires, Résidence Les Tilleuls : 1 compte, aucun ne l'a encore ouvert")
    journey.see("Sa preuve de mise à disposition (mise en ligne, destinataires, consultations) est conservée.")
    journey.click("Annuler et revenir aux documents")
    expect(journey.page.get_by_role("row").filter(has_text="modificatif-2026")).to_contain_text("Publié")
    journey.click("Retirer « modificatif-2026 »")
    journey.checkpoint("console-document-withdraw")
    journey.click("RETIRER LE DOCUMENT")
    journey.see("Document retiré : il n'est plus visible de ses destinataires.")
    row = journey.page.get_by_role("row").filter(has_text="modificatif-2026")
    expect(row).to_contain_text("Retiré le")
    expect(row).to_contain_text("par Dora Documents")  # who published and withdrew it, by name
    journey.page.get_by_label("État").select_option(label="Publiés")
    journey.click("FILTRER")
    journey.see("reglement-2026")
    journey.absent("modificatif-2026")

    journey.click("Conformité 2019-502")
    expect(_rcp_row(journey)).to_contain_text("Présent")
    expect(_rcp_row(journey)).to_contain_text("1 document")
    journey.see("1 présent sur 20 éléments légaux")
    journey.checkpoint("console-compliance")
