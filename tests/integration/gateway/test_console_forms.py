"""The console's forms against forged bodies: a text field sent as a file part is an invalid value that
each page refuses with its own clear answer, never a 500 (gateway/context.py ``form_text``)."""

from __future__ import annotations

import uuid

import aiohttp
import pytest

from tests.integration.gateway import standins
from tests.integration.gateway.conftest import ORIGIN, calls, forged_form, visible

# (path, the form as the page sends it, the field forged as a file part, the page's answer)
FORMS = [
    ("/agence/connexion", {"email": "a@agence.example", "password": "x"}, "email", 422),
    ("/agence/connexion", {"email": "a@agence.example", "password": "x"}, "password", 422),
    ("/agence/invitation", {"token": "t0k3n", "password": "x", "confirmation": "x"}, "token", 400),
    ("/agence/identifiants", {"format": "csv", "scope": "all"}, "format", 200),
    ("/agence/delier", {"ref": "A1", "reason": "sold", "note": ""}, "ref", 404),
    ("/agence/equipe/acces", {"staff_id": str(uuid.uuid4()), "action": "disable"}, "staff_id", 404),
    ("/agence/equipe/acces", {"staff_id": str(uuid.uuid4()), "action": "disable"}, "action", 404),
    ("/agence/equipe", {"email": "b@agence.example", "display_name": "B", "role": "admin"}, "email", 422),
    ("/agence/reglages/double-authentification", {"mfa_requirement": "all"}, "mfa_requirement", 422),
]


@pytest.mark.parametrize(("path", "fields", "forged", "status"), FORMS,
                         ids=[f"{path}:{forged}" for path, _, forged, _ in FORMS])
async def test_a_text_field_sent_as_a_file_gets_the_pages_refusal_not_a_500(system, path, fields, forged, status):
    session = standins.add_staff_session(system.identity, system.tenant)
    system.client.session.cookie_jar.update_cookies({"moncompte_staff": session})
    form = forged_form(await system.csrf("/agence/connexion"), fields, forged)
    response = await system.client.post(system.page(path), data=form, headers={"Origin": ORIGIN},
                                        allow_redirects=False)
    assert response.status == status, (response.status, visible(await response.text())[:300])
    assert "Une erreur est survenue" not in visible(await response.text())
    assert calls(system.identity, "/v1/staff/login") == [] and calls(system.identity, "/v1/staff/invitations") == []


@pytest.mark.parametrize(("address", "message"), [
    ("encore@agence.example", "Une invitation vient d'être envoyée à cette adresse. "
                              "Vous pourrez en envoyer une nouvelle à partir de 14 h 34."),
    ("trop@agence.example", "Par sécurité, le nombre d'invitations envoyées par heure est limité. "
                            "Vous pourrez en envoyer de nouvelles à partir de 15 h 00."),
])
async def test_an_invitation_past_identitys_limits_says_when_to_send_it(system, address, message):
    session = standins.add_staff_session(system.identity, system.tenant)
    system.client.session.cookie_jar.update_cookies({"moncompte_staff": session})
    response = await system.post("/agence/equipe", {"email": address, "role": "gestionnaire"},
                                 csrf=await system.csrf("/agence/equipe"))
    assert response.status == 429
    assert message in visible(await response.text())


async def test_titles_too_long_with_their_file_names_are_refused_before_any_file_is_sent(system):
    session = standins.add_staff_session(system.identity, system.tenant)
    system.client.session.cookie_jar.update_cookies({"moncompte_staff": session})
    form = aiohttp.FormData()
    form.add_field("csrf_token", await system.csrf("/agence/documents"))
    for name, value in {"category": "CP_RCP", "audience": "residence", "residence_ref": "R1",
                        "title": "T" * 250, "date": "2026-01-02"}.items():
        form.add_field(name, value)
    form.add_field("files", b"%PDF-1.7\n1", filename="a.pdf", content_type="application/pdf")
    form.add_field("files", b"%PDF-1.7\n2", filename="b" * 60 + ".pdf", content_type="application/pdf")
    response = await system.client.post(system.page("/agence/documents/envoi"), data=form,
                                        headers={"Origin": ORIGIN}, allow_redirects=False)
    assert response.status == 422
    page = visible(await response.text())
    assert (f"Avec le nom du fichier « {'b' * 60}.pdf », le titre du document ferait 313 caractères, pour 300 au "
            "plus : raccourcissez le titre ou le nom du fichier. Rien n'a été publié.") in page
    assert [c for c in calls(system.documents, "/api/v1/documents") if c[0] == "POST"] == []


async def test_an_administrator_withdraws_a_pending_invitation_from_the_team_page(system):
    admin = standins.add_staff_session(system.identity, system.tenant)
    system.client.session.cookie_jar.update_cookies({"moncompte_staff": admin})
    csrf = await system.csrf("/agence/equipe")
    response = await system.post("/agence/equipe", {"email": "erreur@agence.example", "role": "admin"}, csrf=csrf)
    assert response.status == 303
    [member] = system.identity[standins.STATE]["staff"].values()
    page = await (await system.get("/agence/equipe")).text()
    assert "Retirer l'invitation de erreur@agence.example" in page
    # A gestionnaire may not; an unknown action or id is a 404; the administrator may.
    gestionnaire = standins.add_staff_session(system.identity, system.tenant, role="gestionnaire")
    system.client.session.cookie_jar.update_cookies({"moncompte_staff": gestionnaire})
    response = await system.post("/agence/equipe/acces", {"staff_id": member["id"], "action": "revoke"}, csrf=csrf)
    assert response.status == 403
    system.client.session.cookie_jar.update_cookies({"moncompte_staff": admin})
    response = await system.post("/agence/equipe/acces", {"staff_id": member["id"], "action": "delete"}, csrf=csrf)
    assert response.status == 404
    response = await system.post("/agence/equipe/acces", {"staff_id": member["id"], "action": "revoke"}, csrf=csrf)
    text = visible(await response.text())
    assert response.status == 200
    assert "L'invitation envoyée à erreur@agence.example est retirée : son lien ne fonctionne plus." in text
    assert "Retirer l'invitation" not in text and system.identity[standins.STATE]["staff"] == {}
    response = await system.post("/agence/equipe/acces", {"staff_id": member["id"], "action": "revoke"}, csrf=csrf)
    assert response.status == 404 and "Ce changement n'a pas pu être fait." in visible(await response.text())
