"""After login: dashboard, documents, downloads, profile, sessions, logout."""

from __future__ import annotations

import uuid

from tests.integration.gateway import standin_documents, standins
from tests.integration.gateway.conftest import assert_information, calls, visible

PASSWORD = "Azerty1*moncompte"


async def _person_with_documents(system, email="doc@example.org"):
    other_tenant = standins.add_tenant(system.tenancy, client="GER" + uuid.uuid4().hex[:6].upper(), societe="02",
                                       name="Gérance du Parc")
    syndic_account = standins.add_account(system.tenancy, system.tenant, name="M. Jean Dupont")
    rental_account = standins.add_account(system.tenancy, other_tenant, role="bailleur", name="M. Jean Dupont (bail)",
                                          residence="Résidence Les Lilas")
    person = standins.add_person(system.identity, email, PASSWORD, [syndic_account, rental_account],
                                 previous_login_at="2026-06-01T00:00:00Z")
    docs = {
        "pv": standin_documents.add_document(system.documents, syndic_account, title="Procès-verbal AG 2026",
                                             published_at="2026-06-13T08:00:00Z"),
        "old": standin_documents.add_document(system.documents, syndic_account, title="Budget 2025",
                                              category="CP_BUDGET", group="Copropriété", date="2025-01-10",
                                              published_at="2025-01-11T08:00:00Z"),
        "crg": standin_documents.add_document(system.documents, rental_account, title="Compte rendu de gestion T2",
                                              category="BAI_CRG", group="Propriétaire bailleur", date="2026-07-01",
                                              published_at="2026-05-01T08:00:00Z"),
    }
    return person, docs, other_tenant


async def test_pages_after_login_need_a_session(system):
    for path in ("/dashboard", "/profile"):
        response = await system.get(path)
        assert response.status == 303 and response.headers["Location"].startswith("/login/form?")
    response = await system.post(f"/documents/{uuid.uuid4()}/download")
    assert response.status == 303 and response.headers["Location"].startswith("/login/form?")
    assert calls(system.documents, "/v1/documents") == []


async def test_expired_session_goes_back_to_login_with_a_message(system):
    await _person_with_documents(system)
    await system.login("doc@example.org", PASSWORD)
    system.identity[standins.STATE]["sessions"].clear()  # identity ended it (idle expiry, reset...)
    response = await system.get("/dashboard")
    assert response.status == 303 and "expired=1" in response.headers["Location"]
    assert response.cookies["moncompte_session"].value == ""
    page = await system.client.get(response.headers["Location"])
    assert "Votre session a expiré. Veuillez vous reconnecter." in visible(await page.text())


async def test_dashboard_groups_accounts_by_agency_and_documents_by_group(system):
    person, _, _ = await _person_with_documents(system)
    await system.login("doc@example.org", PASSWORD)
    response = await system.get("/dashboard")
    html = visible(await response.text())
    assert response.status == 200 and response.headers["Cache-Control"] == "no-store"
    assert html.index(system.tenant["name"]) < html.index("Gérance du Parc")
    for text in ("M. Jean Dupont", "Copropriétaire", "Propriétaire bailleur", "Résidence Les Tilleuls",
                 "Résidence Les Lilas", "Profil", "Se déconnecter"):
        assert text in html
    # Groups in the order of DOCUMENT-CATEGORIES.md; newest first inside.
    listing = html.split("Filtrer", 1)[1]
    assert listing.index("Copropriété") < listing.index("Assemblées générales") < listing.index("Propriétaire bailleur")
    # "Nouveau" only on what was published after the previous login.
    assert listing.count("Nouveau") == 1
    assert listing.index("Procès-verbal AG 2026") < listing.index("Nouveau") < listing.index("Compte rendu de gestion")
    # Documents received the person and their accounts in the signed token, not from the browser.
    _, _, claims, _ = calls(system.documents, "/v1/documents")[-1]
    assert claims["pid"] == person["person_id"] and claims["iss"] == "gateway"
    assert {a["account_id"] for a in claims["acc"]} == {a["account_id"] for a in person["accounts"]}


async def test_filters_reach_documents(system):
    await _person_with_documents(system)
    await system.login("doc@example.org", PASSWORD)
    response = await system.get("/dashboard", year="2025", category="CP_BUDGET", q="budget")
    html = visible(await response.text())
    assert "Budget 2025" in html and "Procès-verbal AG 2026" not in html
    path = [c for c in calls(system.documents, "/v1/documents")][-1]
    assert path[1] == "/v1/documents"
    response = await system.get("/dashboard", year="'; drop", category="<x>")
    assert response.status == 200  # malformed filters are dropped, never forwarded


async def test_download_streams_the_file_through_a_signed_link(system):
    _, docs, _ = await _person_with_documents(system)
    await system.login("doc@example.org", PASSWORD)
    response = await system.post(f"/documents/{docs['pv']['id']}/download")
    assert response.status == 303
    location = response.headers["Location"]
    assert location.startswith("/files/")  # our own path, whatever host documents wrote
    file = await system.client.get(location)
    assert file.status == 200 and file.headers["Content-Type"] == "application/pdf"
    assert "attachment" in file.headers["Content-Disposition"]
    body = await file.read()
    assert body == docs["pv"]["chunk"] * docs["pv"]["chunks"]
    _, _, _, headers = calls(system.documents, "/files/")[-1]
    assert "Authorization" not in headers  # the signed link is the authority
    # The dashboard's buttons post the id in one form.
    html = await (await system.get("/dashboard")).text()
    assert f'name="document_id" value="{docs["crg"]["id"]}"' in html
    response = await system.post("/documents/download", {"document_id": docs["crg"]["id"]})
    assert response.status == 303 and response.headers["Location"].startswith("/files/")


async def test_another_persons_document_is_a_404(system):
    await _person_with_documents(system)
    stranger_account = standins.add_account(system.tenancy, system.tenant)
    foreign = standin_documents.add_document(system.documents, stranger_account, title="Pas à vous")
    await system.login("doc@example.org", PASSWORD)
    for document_id in (foreign["id"], str(uuid.uuid4()), "../../admin"):
        response = await system.post(f"/documents/{document_id}/download")
        assert response.status == 404, document_id
        assert "Page introuvable" in visible(await response.text())
        response = await system.post("/documents/download", {"document_id": document_id})
        assert response.status == 404, document_id
    assert (await system.client.get("/files/forged.token")).status == 404


async def test_year_zip(system):
    await _person_with_documents(system)
    await system.login("doc@example.org", PASSWORD)
    html = visible(await (await system.get("/dashboard")).text())
    assert "Télécharger l'année en ZIP" in html
    response = await system.post("/documents/archive", {"year": "2026"})
    assert response.status == 303
    file = await system.client.get(response.headers["Location"])
    assert file.headers["Content-Type"] == "application/zip" and (await file.read()).startswith(b"PK")


async def test_person_without_linked_account_sees_an_explanation(system):
    standins.add_person(system.identity, "alone@example.org", PASSWORD, [])
    await system.login("alone@example.org", PASSWORD)
    html = visible(await (await system.get("/dashboard")).text())
    assert "aucun compte n'y est rattaché" in html
    assert calls(system.documents, "/v1/documents") == []


async def test_profile_password_change_and_sessions(system):
    await _person_with_documents(system)
    await system.login("doc@example.org", PASSWORD)
    response = await system.get("/profile")
    html = visible(await response.text())
    for text in ("Profil", "doc@example.org", "Gérance du Parc", "Propriétaire bailleur", "Ancien mot de passe",
                 "Nouveau mot de passe", "Confirmation", "Valider le mot de passe", "Au moins 6 caractères",
                 "Déconnecter les autres sessions", "Cette session"):
        assert text in html
    assert response.headers["Cache-Control"] == "no-store"

    response = await system.post("/profile/password", {"old_password": "Nope-1!", "new_password": "Neuf-2!mdp",
                                                       "confirmation": "Neuf-2!mdp"})
    assert response.status == 401 and "Ancien mot de passe incorrect." in visible(await response.text())
    response = await system.post("/profile/password", {"old_password": PASSWORD, "new_password": "faible",
                                                       "confirmation": "faible"})
    assert response.status == 422
    assert "Le mot de passe ne respecte pas tous les critères." in visible(await response.text())
    response = await system.post("/profile/password", {"old_password": PASSWORD, "new_password": "Neuf-2!mdp",
                                                       "confirmation": "Neuf-2!mdp"})
    page = await system.client.get(response.headers["Location"])
    assert "Votre mot de passe a bien été modifié." in visible(await page.text())


async def test_password_change_delays_are_said_as_information(system):
    await _person_with_documents(system)
    await system.login("doc@example.org", PASSWORD)
    response = await system.post("/profile/password", {"old_password": "THROTTLED", "new_password": "Neuf-2!mdp",
                                                       "confirmation": "Neuf-2!mdp"})  # 60 s at 14 h 29 min 40 s
    html = await response.text()
    assert response.status == 429
    assert ("Par sécurité, après plusieurs essais, la saisie du mot de passe est suspendue pour un moment. "
            "Vous pourrez réessayer à partir de 14 h 31.") in visible(html)
    assert_information(html)


async def test_end_other_sessions_and_logout(system, aiohttp_client):
    await _person_with_documents(system)
    await system.login("doc@example.org", PASSWORD)
    sessions = system.identity[standins.STATE]["sessions"]
    other_id = next(iter(sessions))
    sessions["second-browser"] = dict(sessions[other_id], ref="other-ref")  # a login from another browser
    response = await system.post("/profile/sessions/end-others")
    page = await system.client.get(response.headers["Location"])
    assert "Autres sessions déconnectées : 1." in visible(await page.text())
    assert "second-browser" not in sessions and other_id in sessions

    response = await system.post("/logout")
    assert response.status == 303 and response.headers["Location"].startswith("/login?")
    assert other_id not in sessions
    assert (await system.get("/dashboard")).status == 303


async def test_account_details_are_cached_but_links_are_not(system):
    person, _, _ = await _person_with_documents(system)
    await system.login("doc@example.org", PASSWORD)
    for _ in range(3):
        assert (await system.get("/dashboard")).status == 200
    assert len(calls(system.tenancy, "/internal/accounts/lookup")) == 1
    assert len(calls(system.identity, "/v1/sessions/introspect")) == 3  # revocation stays immediate
    # A newly linked account (a merge) shows at once: the cache key is the set of linked accounts.
    third = standins.add_account(system.tenancy, system.tenant, name="M. Troisième Lot")
    person["accounts"].append({"tenant_id": third["tenant_id"], "account_id": third["id"], "role": third["role"]})
    assert "M. Troisième Lot" in visible(await (await system.get("/dashboard")).text())
    # An unlinked account disappears at once too, with its documents.
    person["accounts"].pop(0)
    html = visible(await (await system.get("/dashboard")).text())
    assert "Procès-verbal AG 2026" not in html
