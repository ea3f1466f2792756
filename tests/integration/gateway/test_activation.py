"""Activation and merge through the pages, against identity's contract (a stand-in server)."""

from __future__ import annotations

import dataclasses

from gateway.app import create_app
from tests.integration.gateway import standins
from tests.integration.gateway.conftest import assert_information, calls, gateway_settings, visible

STRONG = "Azerty1*moncompte"


def _location(response) -> str:
    return response.headers["Location"]


async def _start(system, login, password, intent_path="/activation"):
    return await system.post(intent_path, {"login": login, "password": password})


async def _account_with_credentials(system, suggested=None):
    account = standins.add_account(system.tenancy, system.tenant)
    login, password = standins.add_credentials(system.identity, account, suggested_email=suggested)
    return account, login, password


async def test_provisional_page_has_the_guide_labels(system):
    html = visible(await (await system.get("/activation")).text())
    for text in ("Mon compte immobilier",
                 "Veuillez renseigner l'identifiant et le mot de passe provisoires transmis par votre agence.",
                 "Identifiant provisoire", "Mot de passe provisoire", "CONTINUER",
                 "Vous avez déjà un compte ? Connectez-vous"):
        assert text in html
    raw = await (await system.get("/activation")).text()
    assert 'aria-label="Afficher le mot de passe"' in raw
    assert 'autocomplete="current-password"' in raw and 'for="f-login"' in raw


async def test_wrong_provisional_credentials_show_the_message_by_the_field(system):
    _, login, _ = await _account_with_credentials(system)
    response = await _start(system, login, "wrong")
    html = await response.text()
    assert response.status == 401
    assert "Identifiant ou mot de passe provisoire incorrect." in visible(html)
    assert 'aria-describedby="f-password-error"' in html and 'id="f-password-error"' in html
    assert f'value="{login}"' in html  # the identifier is kept, the password is not


async def test_locked_credentials_say_when_to_retry(system):
    response = await _start(system, "LOCKED", "whatever")  # retry_after 125 s at 14 h 29 min 40 s
    html = await response.text()
    assert response.status == 429
    assert ("Par sécurité, après plusieurs essais, la connexion avec ces identifiants provisoires est suspendue "
            "pour un moment. Vous pourrez réessayer à partir de 14 h 32.") in visible(html)
    assert_information(html)
    assert "14\u00a0h\u00a032" in html  # the time never splits across two lines


async def test_empty_fields_are_refused_before_identity(system):
    response = await _start(system, "", "")
    assert response.status == 422
    assert visible(await response.text()).count("Ce champ est obligatoire.") == 2
    assert calls(system.identity, "/v1/activation/start") == []


async def test_activation_from_credentials_to_verified_email(system):
    _account, login, password = await _account_with_credentials(system, suggested="jean@example.org")
    response = await _start(system, login, password)
    assert response.status == 303 and _location(response).startswith("/activation/email?client=")

    page = await system.client.get(_location(response))
    html = await page.text()
    assert "Sécuriser mon compte" in visible(html) and "Adresse email*" in visible(html)
    assert 'value="jean@example.org"' in html  # the suggested address is pre-filled

    csrf = await system.csrf("/activation/email")
    response = await system.post("/activation/email", {"email": "jean.dupont@example.org"}, csrf=csrf)
    assert _location(response).startswith("/activation/password")
    html = visible(await (await system.client.get(_location(response))).text())
    for text in ("Au moins 6 caractères", "Au moins une majuscule", "Au moins une minuscule", "Au moins un chiffre",
                 "Au moins un caractère spécial", "Nouveau mot de passe", "Confirmation",
                 "J'accepte les CGU et la politique de confidentialité", "CRÉER MON COMPTE"):
        assert text in html

    # Without JavaScript the server re-checks through identity and shows the same list, ticked.
    response = await system.post("/activation/password", {"password": "azerty", "confirmation": "azerty",
                                                           "accept_terms": "yes"})
    raw = await response.text()
    assert response.status == 422
    assert "Le mot de passe ne respecte pas tous les critères." in visible(raw)
    assert 'class="criterion criterion--ok" data-code="lower"' in raw
    assert 'class="criterion" data-code="upper"' in raw

    response = await system.post("/activation/password", {"password": STRONG, "confirmation": STRONG})
    assert response.status == 422
    assert "Vous devez accepter les CGU" in visible(await response.text())

    response = await system.post("/activation/password", {"password": STRONG, "confirmation": STRONG + "x",
                                                           "accept_terms": "yes"})
    assert "La confirmation ne correspond pas au mot de passe." in visible(await response.text())

    response = await system.post("/activation/password", {"password": STRONG, "confirmation": STRONG,
                                                           "accept_terms": "yes"})
    assert _location(response).startswith("/activation/pending")
    html = visible(await (await system.client.get(_location(response))).text())
    for text in ("Un email vous a été envoyé à l'adresse : jean.dupont@example.org", "Demander le renvoi de l'email",
                 "Réinitialiser l'activation de votre compte"):
        assert text in html

    # The email link: GET shows a button and consumes nothing (a mail scanner may prefetch it).
    token = next(iter(system.identity[standins.STATE]["tokens"]))
    page = await system.get("/activation/verify", token=token)
    assert page.status == 200
    assert page.headers["Referrer-Policy"] == "no-referrer" and page.headers["Cache-Control"] == "no-store"
    assert "VALIDER MON EMAIL" in visible(await page.text())
    assert token in system.identity[standins.STATE]["tokens"]
    csrf = await system.csrf("/activation/verify")
    response = await system.post("/activation/verify", {"token": token}, csrf=csrf, origin="null")
    assert _location(response).startswith("/done/verified")
    page = await system.client.get(_location(response))
    html = visible(await page.text())
    assert "Votre email a bien été validé" in html and "CONNECTEZ-VOUS" in html

    # A used link gets a clear page.
    response = await system.post("/activation/verify", {"token": token})
    assert response.status == 400 and "Ce lien n'est plus valide" in visible(await response.text())

    # The person can now log in.
    response = await system.login("jean.dupont@example.org", STRONG)
    assert _location(response).startswith("/dashboard")


async def _pending(system, email):
    _, login, password = await _account_with_credentials(system)
    await _start(system, login, password)
    await system.post("/activation/email", {"email": email})
    return await system.post("/activation/password", {"password": STRONG, "confirmation": STRONG,
                                                      "accept_terms": "yes"})


async def _another_device(system, aiohttp_client):
    """The same services seen from another browser (its own cookies), e.g. the phone reading the email."""
    urls = {name: str(server.make_url("")).rstrip("/") for name, server in system.servers.items()}
    client = await aiohttp_client(create_app(gateway_settings(urls), clock=system.clock))
    return dataclasses.replace(system, client=client)


async def test_the_pc_says_verified_once_the_link_was_followed_on_the_phone(system, aiohttp_client):
    await _pending(system, "pc@example.org")  # the PC shows "Un email vous a été envoyé"
    phone = await _another_device(system, aiohttp_client)
    token = next(iter(system.identity[standins.STATE]["tokens"]))
    csrf = await phone.csrf("/activation/verify")
    response = await phone.post("/activation/verify", {"token": token}, csrf=csrf, origin="null")
    assert _location(response).startswith("/done/verified")

    response = await system.get("/activation/pending")  # the PC reloads its page
    assert _location(response).startswith("/done/verified")
    html = visible(await (await system.client.get(_location(response))).text())
    assert "Votre email a bien été validé" in html and "CONNECTEZ-VOUS" in html
    assert "Fusion de comptes" not in html and "fusionnés" not in html


def _resend_button(html: str) -> str:
    start = html.index('<form method="post" action="/activation/resend')
    return html[start:html.index("</form>", start)]


async def test_after_creating_the_account_the_page_says_when_a_new_email_may_be_asked(system):
    response = await _pending(system, "cooldown@example.org")  # at 14 h 29 min 40 s: cooldown until 14:30:40
    assert "sent=1" in _location(response)
    page = await system.client.get(_location(response))
    html = await page.text()
    assert page.status == 200
    assert ("Un email vient de vous être envoyé. Vous pourrez en demander un nouveau à partir de 14 h 31."
            in visible(html))
    assert_information(html)
    # Disabled in the HTML itself: no script needed, and tied to the message for screen readers.
    assert 'disabled aria-describedby="form-info">Demander le renvoi de l' in _resend_button(html)

    # A reload before the end: still disabled; the wording no longer says "vient de".
    system.clock.advance(seconds=59)
    html = await (await system.get("/activation/pending")).text()
    assert "Un email vous a déjà été envoyé. Vous pourrez en demander un nouveau à partir de 14 h 31." in visible(html)
    assert "disabled" in _resend_button(html)
    # A reload once the cooldown is over: enabled, nothing to wait for.
    system.clock.advance(seconds=1)
    html = await (await system.get("/activation/pending")).text()
    assert "disabled" not in _resend_button(html) and 'id="form-info"' not in html
    assert "Un email vous a été envoyé à l'adresse : cooldown@example.org" in visible(html)


async def test_resend_and_restart_from_the_pending_page(system):
    await _pending(system, "resend@example.org")

    system.clock.advance(seconds=61)  # 14 h 30 min 41 s: the first email's cooldown is over
    response = await system.post("/activation/resend")
    assert "resent=1" in _location(response)
    html = await (await system.client.get(_location(response))).text()
    assert ("Un nouvel email vient de vous être envoyé. Vous pourrez en demander un nouveau à partir de 14 h 32."
            in visible(html))
    assert_information(html)
    assert "disabled" in _resend_button(html)

    # Refused (a page left open, a second tab): back to the page, which says since when and until when.
    system.clock.advance(seconds=10)
    response = await system.post("/activation/resend")
    assert response.status == 303 and "resent" not in _location(response)
    html = await (await system.client.get(_location(response))).text()
    assert ("Un email vous a déjà été envoyé. Vous pourrez en demander un nouveau à partir de 14 h 32."
            in visible(html))
    assert_information(html)
    assert "disabled" in _resend_button(html)

    response = await system.post("/activation/restart")
    assert _location(response).startswith("/activation/email")


async def test_without_a_cooldown_the_resend_says_only_that_it_was_sent(system):
    await _pending(system, "nowait@example.org")
    for flow in system.identity[standins.STATE]["flows"].values():
        flow["resend_available_at"] = None  # IDENTITY_RESEND_COOLDOWN_SECONDS=0
    html = await (await system.get("/activation/pending", sent="1")).text()
    assert "disabled" not in _resend_button(html) and 'id="form-info"' not in html
    html = await (await system.get("/activation/pending", resent="1")).text()
    assert "Un nouvel email vient de vous être envoyé." in visible(html)
    assert "disabled" not in _resend_button(html)


async def test_too_many_addresses_tried_is_said_as_information(system):
    _, login, password = await _account_with_credentials(system)
    await _start(system, login, password)
    response = await system.post("/activation/email", {"email": standins.THROTTLED})  # 30 min
    html = await response.text()
    assert response.status == 429
    assert ("Par sécurité, le nombre d'adresses email que l'on peut essayer avec ces identifiants provisoires "
            "est limité. Vous pourrez en saisir une nouvelle à partir de 15 h 00.") in visible(html)
    assert_information(html)
    assert f'value="{standins.THROTTLED}"' in html and 'aria-invalid' not in html


async def test_a_saturated_service_asks_to_retry_in_a_moment(system):
    _, login, password = await _account_with_credentials(system)
    await _start(system, login, password)
    await system.post("/activation/email", {"email": standins.BUSY})
    response = await system.post("/activation/password", {"password": STRONG, "confirmation": STRONG,
                                                           "accept_terms": "yes"})
    html = await response.text()
    assert response.status == 429
    assert ("Le service est très sollicité en ce moment. Veuillez réessayer dans quelques instants."
            in visible(html))
    assert_information(html)


async def test_merge_delays_are_said_as_information(system):
    account = standins.add_account(system.tenancy, system.tenant)
    standins.add_person(system.identity, "merge-wait@example.org", STRONG, [account])
    _, login, password = await _account_with_credentials(system)
    await _start(system, login, password, "/merge")
    await system.post("/activation/email", {"email": "merge-wait@example.org"})
    response = await system.post("/activation/merge", {"password": "THROTTLED"})  # 15 min
    html = await response.text()
    assert response.status == 429
    assert ("Par sécurité, après plusieurs essais, la saisie du mot de passe est suspendue pour un moment. "
            "Vous pourrez réessayer à partir de 14 h 45.") in visible(html)
    assert_information(html)


async def test_provisional_credentials_again_resume_the_pending_step(system):
    _, login, password = await _account_with_credentials(system)
    await _start(system, login, password)
    await system.post("/activation/email", {"email": "resume@example.org"})
    await system.post("/activation/password", {"password": STRONG, "confirmation": STRONG, "accept_terms": "yes"})
    system.client.session.cookie_jar.clear()
    response = await _start(system, login, password)
    assert _location(response).startswith("/activation/pending")


async def test_an_address_verified_meanwhile_turns_the_password_step_into_the_merge(system):
    _, login, password = await _account_with_credentials(system)
    await _start(system, login, password)
    await system.post("/activation/email", {"email": "deux-onglets@example.org"})
    account = standins.add_account(system.tenancy, system.tenant)  # the other letter, verified in another tab
    standins.add_person(system.identity, "deux-onglets@example.org", STRONG, [account])
    response = await system.post("/activation/password", {"password": STRONG, "confirmation": STRONG,
                                                           "accept_terms": "yes"})
    assert response.status == 303 and _location(response).startswith("/activation/merge")
    html = visible(await (await system.client.get(_location(response))).text())
    assert ("Vous disposez de plusieurs comptes Extranet. Veuillez saisir votre mot de passe personnalisé associé "
            "à l'adresse mail : deux-onglets@example.org") in html
    response = await system.post("/activation/merge", {"password": STRONG})
    assert _location(response).startswith("/done/merged")


async def test_flow_pages_without_a_flow_send_back_to_the_credentials(system):
    response = await system.get("/activation/password")
    assert _location(response).startswith("/activation?") and "expired=1" in _location(response)
    html = visible(await (await system.client.get(_location(response))).text())
    assert "Votre activation a expiré." in html


async def test_merge_with_the_existing_password(system):
    first = standins.add_account(system.tenancy, system.tenant)
    standins.add_person(system.identity, "multi@example.org", STRONG, [first])
    _, login, password = await _account_with_credentials(system)

    html = visible(await (await system.get("/merge")).text())
    assert "Je fusionne mes comptes" in html
    response = await _start(system, login, password, "/merge")
    await system.post("/activation/email", {"email": "multi@example.org"})
    page = await system.get("/activation/merge")
    html = visible(await page.text())
    assert "Fusion de comptes" in html
    assert ("Vous disposez de plusieurs comptes Extranet. Veuillez saisir votre mot de passe personnalisé associé "
            "à l'adresse mail : multi@example.org") in html
    assert "Cette action permettra une lecture globale de vos comptes avec un identifiant unique" in html

    response = await system.post("/activation/merge", {"password": "Wrong-1!"})
    assert response.status == 401 and "Mot de passe incorrect." in visible(await response.text())

    csrf_before = await system.csrf()
    response = await system.post("/activation/merge", {"password": STRONG})
    assert _location(response).startswith("/done/merged")
    assert "Vos comptes ont bien été fusionnés" in visible(await (await system.client.get(_location(response))).text())
    assert await system.csrf() != csrf_before  # a new visit id after the merge
    assert len(system.identity[standins.STATE]["persons"]["multi@example.org"]["accounts"]) == 2
