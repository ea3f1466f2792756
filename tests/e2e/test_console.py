"""The agency console in a real browser (issue 13, first slice): the operator invites the first
administrator, who sets a password from the email, logs in, reads the directory with each account's
access state, invites a colleague; the colleague (gestionnaire) joins; a console session never opens
another agency."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.flows import accept_console_invitation, console_log_in, residence_directory, strong_password
from tests.e2e.system import unique_email


def test_first_administrator_invites_a_colleague_and_both_read_the_directory(system, new_journey):
    tenant = system.new_tenant(name="Syndic Console E2E")
    directory = residence_directory(tenant, ("C1", "coproprietaire", None), ("C2", "locataire", None),
                                    council=("C1",))
    tenant.issue_credentials("C1")
    names = {a["ref"]: a["display_name"] for a in directory["accounts"]}
    admin_email, admin_password = unique_email("admin"), strong_password()
    system.operator.call("POST", "/api/v1/staff", {"tenant_id": tenant.id, "email": admin_email,
                                                   "display_name": "Alice Admin", "role": "admin"})

    admin = new_journey()
    accept_console_invitation(admin, system, admin_email, admin_password)
    admin.checkpoint("console-login")
    console_log_in(admin, admin_email, admin_password)
    row_c1 = admin.page.get_by_role("row").filter(has_text=names["C1"])
    expect(row_c1).to_contain_text("Identifiants provisoires remis")
    expect(row_c1).to_contain_text("Conseil syndical")
    expect(row_c1).to_contain_text("Résidence Les Tilleuls, lot 1")
    expect(admin.page.get_by_role("row").filter(has_text=names["C2"])).to_contain_text("Sans identifiants")
    admin.checkpoint("console-directory")
    admin.page.get_by_label("Accès extranet").select_option(label="Sans identifiants")
    admin.click("FILTRER")
    admin.see(names["C2"])
    admin.absent(names["C1"])
    admin.see("1 compte affiché")

    admin.click("Équipe")
    admin.see_heading("Équipe de l'agence")
    colleague_email, colleague_password = unique_email("gest"), strong_password()
    admin.fill("Nom et prénom", "Bruno Gestion")
    admin.fill("Adresse mail professionnelle", colleague_email)
    admin.click("ENVOYER L'INVITATION")
    admin.see(f"Invitation envoyée à {colleague_email}")
    expect(admin.page.get_by_role("row").filter(has_text=colleague_email)).to_contain_text("Invitation envoyée")
    admin.checkpoint("console-team")
    admin.fill("Adresse mail professionnelle", admin_email.upper())
    admin.click("ENVOYER L'INVITATION")
    admin.see("Cette adresse est déjà celle d'un collaborateur de l'agence.")

    colleague = new_journey()
    accept_console_invitation(colleague, system, colleague_email, colleague_password)
    console_log_in(colleague, colleague_email, colleague_password)
    colleague.see(names["C1"])
    colleague.click("Équipe")
    colleague.see("Seuls les administrateurs invitent de nouveaux collaborateurs.")
    colleague.absent("ENVOYER L'INVITATION")

    # The colleague's console session opens neither another agency's console nor the persons' pages.
    other = system.new_tenant(name="Autre agence E2E")
    colleague.goto(f"/agence/annuaire?client={other.client_code}&societe={other.societe_code}")
    colleague.see_heading("Console de l'agence")
    colleague.goto(f"/dashboard?client={tenant.client_code}&societe={tenant.societe_code}")
    colleague.see_heading("Mon compte immobilier")

    # The administrator disables the colleague: their console session ends at once.
    admin.click("Équipe")
    admin.click("Désactiver Bruno Gestion")
    admin.see("Bruno Gestion n'a plus accès à la console ; ses sessions ont été fermées.")
    colleague.goto(f"/agence/annuaire?client={tenant.client_code}&societe={tenant.societe_code}")
    colleague.see_heading("Console de l'agence")
    colleague.absent(names["C1"])

    admin.click("Se déconnecter")
    admin.see_heading("Console de l'agence")
    admin.goto(f"/agence/annuaire?client={tenant.client_code}&societe={tenant.societe_code}")
    admin.see_heading("Console de l'agence")


def test_a_used_or_unknown_invitation_link_gets_a_clear_page(system, journey):
    tenant = system.new_tenant(name="Syndic Invitation E2E")
    journey.goto(f"/agence/invitation?client={tenant.client_code}&societe={tenant.societe_code}&token=nope")
    journey.see_heading("Lien d'invitation non valide")
    journey.checkpoint("console-invitation-invalid")


def test_letters_for_a_selection_then_for_everyone_without_access(system, new_journey, tmp_path):
    import io

    from pypdf import PdfReader

    tenant = system.new_tenant(name="Syndic Courriers E2E", support={"email": "aide@courriers.example.org",
                                                                    "phone": "01 99 88 77 66", "hours": "9h-12h"})
    directory = residence_directory(tenant, ("C1", "coproprietaire", None), ("C2", "bailleur", None),
                                    ("C3", "locataire", None))
    names = {a["ref"]: a["display_name"] for a in directory["accounts"]}
    email, password = unique_email("courriers"), strong_password()
    system.operator.call("POST", "/api/v1/staff", {"tenant_id": tenant.id, "email": email, "role": "gestionnaire"})
    journey = new_journey()
    accept_console_invitation(journey, system, email, password)
    console_log_in(journey, email, password)

    journey.click("POUR LES COMPTES SÉLECTIONNÉS")  # nothing selected: told, nothing issued
    journey.see("Sélectionnez au moins un compte")
    journey.page.get_by_label(f"Sélectionner {names['C1']} (C1)").check()
    journey.page.get_by_label(f"Sélectionner {names['C2']} (C2)").check()
    with journey.page.expect_download() as download:
        journey.click("POUR LES COMPTES SÉLECTIONNÉS")
    path = tmp_path / "letters.pdf"
    download.value.save_as(path)
    pages = [" ".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(path.read_bytes())).pages]
    assert len(pages) == 2
    assert names["C1"] in pages[0] and names["C2"] in pages[1]
    assert f"login?client={tenant.client_code}&societe={tenant.societe_code}" in pages[0]
    assert "aide@courriers.example.org · 01 99 88 77 66 (9h-12h)" in pages[0]
    login = pages[0].split("Identifiant provisoire ")[1].split()[0]
    secret = pages[0].split("Mot de passe provisoire ")[1].split()[0]

    journey.goto(f"/agence/annuaire?client={tenant.client_code}&societe={tenant.societe_code}")
    expect(journey.page.get_by_role("row").filter(has_text=names["C1"])).to_contain_text(
        "Identifiants provisoires remis")
    expect(journey.page.get_by_role("row").filter(has_text=names["C3"])).to_contain_text("Sans identifiants")
    journey.page.get_by_label("Fichier pour publipostage (CSV)").check()
    with journey.page.expect_download() as download:
        journey.click("POUR TOUS LES COMPTES SANS ACCÈS")
    rows = download.value.path().read_text(encoding="utf-8").splitlines()
    assert rows[0].startswith("account_ref;") and [r.split(";")[0] for r in rows[1:]] == ["C3"]
    journey.goto(f"/agence/annuaire?client={tenant.client_code}&societe={tenant.societe_code}")
    journey.click("POUR TOUS LES COMPTES SANS ACCÈS")
    journey.see("Tous les comptes ont déjà un accès ou des identifiants en cours de validité.")

    # The letter's identifiers open an activation at the agency's login page.
    person = new_journey()
    person.goto(tenant.login_path())
    person.click("Je n'ai pas de compte")
    person.fill("Identifiant provisoire", login)
    person.fill("Mot de passe provisoire", secret)
    person.click("CONTINUER")
    person.see_heading("Sécuriser mon compte")


def test_unlinking_a_sold_lot_takes_it_from_the_person_who_is_told(system, new_journey):
    from tests.e2e.flows import accounts_with_credentials, activated_person

    tenant = system.new_tenant(name="Syndic Délier E2E")
    directory = residence_directory(tenant, ("C1", "coproprietaire", None), ("C2", "coproprietaire", None))
    accounts = accounts_with_credentials(tenant, directory, "C1")
    owner_email = unique_email("vendeur")
    person = new_journey()
    activated_person(person, system, tenant, accounts["C1"], owner_email)
    person.see(accounts["C1"].display_name)  # the dashboard shows the account

    email, password = unique_email("deliant"), strong_password()
    system.operator.call("POST", "/api/v1/staff", {"tenant_id": tenant.id, "email": email, "role": "gestionnaire"})
    staff = new_journey()
    accept_console_invitation(staff, system, email, password)
    console_log_in(staff, email, password)
    expect(staff.page.get_by_role("row").filter(has_text=accounts["C1"].display_name)).to_contain_text("Activé")
    staff.click("Délier le compte C1 de son titulaire")
    staff.see_heading("Délier un compte de son titulaire")
    staff.click("DÉLIER LE COMPTE")  # no reason chosen: told, nothing done
    staff.see("Choisissez le motif.")
    staff.checkpoint("console-unlink")
    staff.page.get_by_label("Lot vendu").check()
    staff.fill("Note pour l'historique (facultative, non communiquée au titulaire)", "Vente chez Maître Dupuis")
    staff.click("DÉLIER LE COMPTE")
    staff.see("Le compte C1 n'est plus rattaché à son titulaire ; il en a été informé par email.")
    expect(staff.page.get_by_role("row").filter(has_text=accounts["C1"].display_name)).to_contain_text(
        "Sans identifiants")

    mail = system.wait_for_email(owner_email, subject="n'est plus rattaché")
    text = " ".join(mail.text().split())
    assert "Syndic Délier E2E a retiré de votre accès extranet" in text and "en raison de la vente du lot" in text
    assert "Maître Dupuis" not in text
    person.page.reload()
    person.absent(accounts["C1"].display_name)


def test_an_administrator_sets_the_help_contact_and_a_new_api_key(system, new_journey):
    tenant = system.new_tenant(name="Syndic Réglages E2E", support={"email": "ancien@reglages.example.org"})
    email, password = unique_email("reglages"), strong_password()
    system.operator.call("POST", "/api/v1/staff", {"tenant_id": tenant.id, "email": email, "role": "admin",
                                                   "display_name": "Rita Réglages"})
    admin = new_journey()
    accept_console_invitation(admin, system, email, password)
    console_log_in(admin, email, password)
    admin.click("Réglages")
    admin.see_heading("Réglages de l'agence")
    expect(admin.field("Adresse mail d'aide")).to_have_value("ancien@reglages.example.org")
    admin.fill("Adresse mail d'aide", "pas-une-adresse")
    admin.click("ENREGISTRER")
    admin.see("Veuillez saisir une adresse email valide.")
    admin.fill("Adresse mail d'aide", "aide@reglages.example.org")
    admin.fill("Téléphone d'aide", "01 40 50 60 70")
    admin.click("ENREGISTRER")
    admin.see("Réglages enregistrés.")
    admin.see("Contact d'aide ou couleur modifiés")
    admin.see("Rita Réglages")
    admin.checkpoint("console-settings")

    # The old key is used just before, so that the gateway holds it as verified when it is replaced.
    assert tenant.api.call("GET", "/api/v1/activation-stats")["accounts"] == 0
    admin.click("CRÉER UNE NOUVELLE CLÉ D'API")
    key = admin.page.locator("#new-key code").inner_text()
    assert key.startswith("mck_") and key != tenant.api.token, key
    admin.click("Réglages")
    admin.absent(key)  # shown once
    # The old key stops at once, the new one works; the persons' help page shows the new contact.
    from scripts.seed_demo import ApiError

    try:
        tenant.api.call("GET", "/api/v1/activation-stats")
        raise AssertionError("the old key still works")
    except ApiError as exc:
        assert exc.status == 401
    assert tenant.api.agency(key).call("GET", "/api/v1/activation-stats")["accounts"] == 0
    person = new_journey()
    person.goto(f"/help?client={tenant.client_code}&societe={tenant.societe_code}")
    person.see("aide@reglages.example.org")
    person.see("01 40 50 60 70")


def test_importing_the_directory_from_the_console_with_a_wrong_csv_first(system, new_journey, tmp_path):
    tenant = system.new_tenant(name="Syndic Import E2E")
    residence_directory(tenant, ("C1", "coproprietaire", None))  # residence R1 and lot L1 exist
    email, password = unique_email("import"), strong_password()
    system.operator.call("POST", "/api/v1/staff", {"tenant_id": tenant.id, "email": email, "role": "gestionnaire"})
    journey = new_journey()
    accept_console_invitation(journey, system, email, password)
    console_log_in(journey, email, password)
    journey.click("Importer l'annuaire (CSV ou JSON)")
    journey.see_heading("Importer l'annuaire")
    journey.click("IMPORTER")
    journey.see("Choisissez le fichier de l'annuaire (CSV ou JSON).")

    wrong = tmp_path / "annuaire.csv"
    wrong.write_text("ref;role;display_name;email;lot_refs;council\n"
                     "C7;syndic;Mme Sept;;L1;0\n"
                     "C8;locataire;M. Huit;pas-une-adresse;L1;0\n", encoding="utf-8")
    journey.page.get_by_label("Fichier de l'annuaire (.csv ou .json)").set_input_files(str(wrong))
    journey.click("IMPORTER")
    journey.see("Le fichier n'a pas été importé : corrigez 2 erreurs et envoyez-le de nouveau. Rien n'a été modifié.")
    journey.see("ligne 2, role")
    journey.see("ligne 3, email")
    journey.checkpoint("console-import-errors")

    good = tmp_path / "annuaire-ok.csv"
    good.write_text("ref;role;display_name;email;lot_refs;council\n"
                    "C7;bailleur;Mme Sept Import;;L1;0\n", encoding="utf-8")
    journey.page.get_by_label("Fichier de l'annuaire (.csv ou .json)").set_input_files(str(good))
    journey.click("IMPORTER")
    journey.see("Annuaire importé : comptes : 1 créé(s), 0 modifié(s), 0 inchangé(s)")
    journey.click("Annuaire")
    journey.see("Mme Sept Import")
