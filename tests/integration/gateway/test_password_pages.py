"""Forgotten password and reset by the emailed link."""

from __future__ import annotations

from tests.integration.gateway import standins
from tests.integration.gateway.conftest import assert_information, calls, visible

STRONG = "Azerty1*moncompte"
NEW = "Nouveau-2!mot"


async def test_forgot_password_always_gives_the_same_answer(system):
    html = visible(await (await system.get("/password/forgot")).text())
    for text in ("Mot de passe oublié", "Identifiant provisoire / adresse mail", "ENVOYER LA DEMANDE",
                 "Besoin d'aide pour se connecter ?"):
        assert text in html
    account = standins.add_account(system.tenancy, system.tenant)
    standins.add_person(system.identity, "known@example.org", STRONG, [account])
    answers = []
    for identifier in ("known@example.org", "unknown@example.org"):
        response = await system.post("/password/forgot", {"identifier": identifier}, follow=True)
        answers.append(visible(await response.text()))
    assert answers[0] == answers[1]
    assert ("Votre demande a bien été prise en compte. Si un compte correspond à cet identifiant, un email de "
            "réinitialisation vient de vous être envoyé.") in answers[0]
    # Identity's per-address limit is silent: the page says what it means, to everyone.
    assert ("Après plusieurs demandes rapprochées, aucun nouvel email n'est envoyé pendant un moment : "
            "utilisez alors le lien du dernier email reçu.") in answers[0]
    assert system.identity[standins.STATE]["forgot"] == ["known@example.org", "unknown@example.org"]


async def test_a_limited_forgot_request_says_when_and_the_same_for_any_identifier(system):
    account = standins.add_account(system.tenancy, system.tenant)
    standins.add_person(system.identity, "known@example.org", STRONG, [account])
    system.identity[standins.STATE]["forgot_limited"] = True  # 600 s at 14 h 29 min 40 s
    answers = []
    for identifier in ("known@example.org", "unknown@example.org", "ABCD2345"):
        response = await system.post("/password/forgot", {"identifier": identifier})
        html = await response.text()
        assert response.status == 429
        assert_information(html)
        answers.append(visible(html))
    assert answers[0] == answers[1] == answers[2]
    assert ("Plusieurs demandes viennent déjà d'être faites. Si un compte correspond à cet identifiant, un email de "
            "réinitialisation lui a été envoyé : pensez à vérifier vos courriers indésirables. "
            "Vous pourrez faire une nouvelle demande à partir de 14 h 40.") in answers[0]
    assert "ENVOYER LA DEMANDE" in answers[0]  # the form stays, for later


async def test_reset_link_shows_the_form_then_resets_once(system):
    account = standins.add_account(system.tenancy, system.tenant)
    standins.add_person(system.identity, "reset@example.org", STRONG, [account])
    await system.post("/password/forgot", {"identifier": "reset@example.org"})
    token = next(iter(system.identity[standins.STATE]["resets"]))

    page = await system.get("/password/reset", token=token)
    html = visible(await page.text())
    assert page.status == 200 and page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"
    for text in ("Au moins 6 caractères", "Nouveau mot de passe", "Confirmation", "RÉINITIALISER MON MOT DE PASSE"):
        assert text in html

    csrf = await system.csrf()
    response = await system.post("/password/reset", {"token": token, "password": "weak", "confirmation": "weak"},
                                 csrf=csrf, origin="null")
    assert response.status == 422
    assert "Le mot de passe ne respecte pas tous les critères." in visible(await response.text())

    response = await system.post("/password/reset", {"token": token, "password": NEW, "confirmation": NEW},
                                 csrf=csrf, origin="null")
    assert response.headers["Location"].startswith("/done/reset")
    page = await system.client.get(response.headers["Location"])
    assert "Votre mot de passe a bien été réinitialisé" in visible(await page.text())

    again = await system.get("/password/reset", token=token)
    assert again.status == 400 and "Ce lien n'est plus valide" in visible(await again.text())
    assert len(calls(system.identity, "/v1/password/reset/check")) == 2


async def test_null_origin_is_only_accepted_on_token_pages(system):
    response = await system.post("/password/forgot", {"identifier": "x@example.org"}, origin="null")
    assert response.status == 403
