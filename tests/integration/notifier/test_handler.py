"""The handler against the real PostgreSQL, the real SMTP sink and stand-ins for tenancy/identity."""

from __future__ import annotations

import re
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest

from common.testing import free_port
from services.notifier import domain
from services.notifier.errors import DeliveryDeferred, DeliveryRefused, UpstreamUnavailable
from services.notifier.smtp import SmtpSender
from tests.integration.notifier.conftest import (
    PUBLIC_BASE_URL,
    envelope,
    handle,
    reset_payload,
    unique_email,
    verification_payload,
)


def _text(mail) -> str:
    return mail.text().replace("\r\n", "\n")


def _links(html: str) -> list[str]:
    return [h.replace("&amp;", "&") for h in re.findall(r'href="([^"]+)"', html)]


async def _delivery(notifier, event_id, address):
    return await notifier.pool.fetchrow("SELECT * FROM deliveries WHERE event_id = $1 AND recipient = $2",
                                        event_id, address.lower())


async def test_verification_email_says_which_agency_role_and_lots_it_is_for(notifier, upstreams, smtp_sink):
    """Issue 18: whoever receives it can tell an activation that is not theirs, and ignore it."""
    tenant = upstreams.add_tenant(name="Cabinet Lefèvre")
    account_id = str(uuid.uuid4())
    residence = {"id": str(uuid.uuid4()), "ref": "R1", "name": "Résidence Les Tilleuls",
                 "address": "3 rue des Lilas, Paris"}
    upstreams.accounts[tenant["id"]] = {account_id: {
        "id": account_id, "tenant_id": tenant["id"], "ref": "C1", "role": "coproprietaire", "display_name": "M. X",
        "council": False, "status": "active",
        "lots": [{"ref": "L1", "number": "12", "kind": "appartement", "residence": residence},
                 {"ref": "L2", "number": "13", "kind": "cave", "residence": residence}]}}
    email = unique_email("Lot")
    await handle(notifier, envelope(domain.EMAIL_VERIFICATION, {
        **verification_payload(tenant, email), "account_id": account_id, "role": "coproprietaire"}))
    [mail] = smtp_sink.to(email)
    expected = ("Cette demande concerne un compte copropriétaire auprès de Cabinet Lefèvre : "
                "Résidence Les Tilleuls (3 rue des Lilas, Paris) : lot 12, lot 13.")
    assert expected in " ".join(_text(mail).split())
    assert "Cabinet Lefèvre</strong>&nbsp;: Résidence Les Tilleuls (3 rue des Lilas, Paris) : lot 12, lot 13." \
        in mail.html()
    assert "si ce compte n'est pas le vôtre, ne cliquez pas" in _text(mail)

    # An account the directory no longer knows: the agency is still named, and the email still goes.
    other = unique_email("Inconnu")
    await handle(notifier, envelope(domain.EMAIL_VERIFICATION, {
        **verification_payload(tenant, other), "account_id": str(uuid.uuid4()), "role": "locataire"}))
    [mail] = smtp_sink.to(other)
    assert "Cette demande concerne un compte locataire auprès de Cabinet Lefèvre." in " ".join(_text(mail).split())


async def test_verification_email_waits_for_the_directory_when_tenancy_is_down(notifier, upstreams, smtp_sink):
    tenant = upstreams.add_tenant()
    email = unique_email("Attente")
    await notifier.tenancy.branding(uuid.UUID(tenant["id"]))  # branding cached; the lookup is not
    upstreams.down = True
    with pytest.raises(UpstreamUnavailable):
        await handle(notifier, envelope(domain.EMAIL_VERIFICATION, {
            **verification_payload(tenant, email), "account_id": str(uuid.uuid4()), "role": "bailleur"}))
    assert smtp_sink.to(email) == []


async def test_verification_email_has_the_button_and_a_link_to_our_site_with_the_tenant_codes(
        notifier, upstreams, smtp_sink):
    tenant = upstreams.add_tenant()
    email = unique_email("Jeanne")
    event = envelope(domain.EMAIL_VERIFICATION, verification_payload(tenant, email))

    await handle(notifier, event)

    [mail] = smtp_sink.to(email)
    assert mail.subject == "Confirmation de votre adresse email extranet"
    assert mail.mail_from == "webmaster@moncompte.immo"
    assert "Jeanne Martin" in str(mail.message["To"]) and email in str(mail.message["To"])
    html, text = mail.html(), _text(mail)
    assert "VALIDER MON EMAIL" in html and "VALIDER MON EMAIL" in text
    assert "Plus qu'une dernière étape afin de finaliser l'activation de votre espace 'Moncompte.immo'." in text
    assert "Agence Dupont Immobilier" in html and "aide@dupont-immo.fr" in html and "#0B6E4F" in html
    # 09:00 UTC + 24 h is 10:00 in Paris (winter time).
    assert "valable 24 heures, jusqu'au vendredi 16 janvier 2026 à 10 h 00 (heure de Paris)" in text
    button = next(link for link in _links(html) if "/activation/verify" in link)
    assert button == event.payload["verification_url"]
    query = parse_qs(urlsplit(button).query)
    assert button.startswith(PUBLIC_BASE_URL + "/activation/verify?")
    assert query["client"] == [tenant["client_code"]] and query["societe"] == [tenant["societe_code"]]
    assert event.payload["verification_url"] in text
    assert mail.message["Message-ID"] == domain.message_id(domain.delivery_key(event.id, email),
                                                          "webmaster@moncompte.immo")
    row = await _delivery(notifier, event.id, email)
    assert (row["status"], row["attempts"], row["message_id"]) == ("sent", 1, mail.message["Message-ID"])
    assert row["sent_at"] is not None and row["event_type"] == domain.EMAIL_VERIFICATION


async def test_reset_email(notifier, upstreams, smtp_sink):
    tenant = upstreams.add_tenant()
    email = unique_email()
    event = envelope(domain.PASSWORD_RESET, reset_payload(tenant, email))

    await handle(notifier, event)

    [mail] = smtp_sink.to(email)
    assert mail.subject == "Réinitialisation de votre mot de passe"
    text = _text(mail)
    assert ("Vous venez de demander une réinitialisation du mot de passe pour votre compte Extranet.\n\n"
            "Pour réinitialiser votre mot de passe, cliquez ci-dessous :") in text
    assert "RÉINITIALISER MON MOT DE PASSE" in mail.html()
    assert event.payload["reset_url"] in _links(mail.html())
    assert "valable 1 heure" in text


async def test_password_changed_notice_has_no_link_that_changes_anything_and_says_whom_to_contact(
        notifier, upstreams, smtp_sink):
    tenant = upstreams.add_tenant()
    email = unique_email()
    payload = {"person_id": str(uuid.uuid4()), "email": email, "tenant_id": tenant["id"], "reason": "reset",
               "changed_at": "2026-07-01T12:30:00+00:00"}

    await handle(notifier, envelope(domain.PASSWORD_CHANGED, payload))

    [mail] = smtp_sink.to(email)
    assert mail.subject == "Votre mot de passe a été réinitialisé"
    assert [link for link in _links(mail.html()) if not link.startswith("mailto:")] == []
    text = _text(mail)
    assert "le mercredi 1er juillet 2026 à 14 h 30 (heure de Paris)" in text  # summer time
    assert "Contactez sans attendre Agence Dupont Immobilier (aide@dupont-immo.fr, 01 23 45 67 89)" in text


async def test_account_linked_notice(notifier, upstreams, smtp_sink):
    tenant = upstreams.add_tenant(name="Syndic des Tilleuls")
    email = unique_email()
    payload = {"person_id": str(uuid.uuid4()), "email": email, "tenant_id": tenant["id"],
               "account_id": str(uuid.uuid4()), "role": "bailleur", "via": "merge"}

    await handle(notifier, envelope(domain.ACCOUNT_LINKED, payload))

    [mail] = smtp_sink.to(email)
    assert mail.subject == "Un nouveau lot est accessible avec votre identifiant"
    text = _text(mail)
    assert "votre compte propriétaire bailleur auprès de Syndic des Tilleuls" in text
    assert "par une fusion de comptes" in text
    assert "Si vous n'êtes pas à l'origine de ce rattachement, contactez sans attendre Syndic des Tilleuls" in text
    login = f"{PUBLIC_BASE_URL}/login/form?client={tenant['client_code']}&societe={tenant['societe_code']}"
    assert login in _links(mail.html())


async def test_the_same_event_twice_sends_one_email(notifier, upstreams, smtp_sink):
    tenant = upstreams.add_tenant()
    email = unique_email()
    event = envelope(domain.EMAIL_VERIFICATION, verification_payload(tenant, email))

    await handle(notifier, event)
    await handle(notifier, event)

    assert len(smtp_sink.to(email)) == 1
    assert (await _delivery(notifier, event.id, email))["attempts"] == 1


async def test_smtp_temporary_failure_defers_and_records_then_delivers_once(notifier, upstreams, smtp_sink):
    tenant = upstreams.add_tenant()
    email = unique_email()
    event = envelope(domain.PASSWORD_RESET, reset_payload(tenant, email))
    smtp_sink.fail_temporarily()

    with pytest.raises(DeliveryDeferred, match="451"):
        await handle(notifier, event)

    row = await _delivery(notifier, event.id, email)
    assert (row["status"], row["attempts"]) == ("retrying", 1)
    assert "451" in row["last_error"] and row["sent_at"] is None
    smtp_sink.recover()
    await handle(notifier, event)
    assert len(smtp_sink.to(email)) == 1
    row = await _delivery(notifier, event.id, email)
    assert (row["status"], row["attempts"]) == ("sent", 2)


async def test_smtp_unreachable_defers(notifier, upstreams, smtp_sink):
    tenant = upstreams.add_tenant()
    email = unique_email()
    working = notifier.sender
    notifier.sender = SmtpSender(host="127.0.0.1", port=free_port(), timeout=2)  # nobody listens there
    try:
        with pytest.raises(DeliveryDeferred, match="Connect"):
            await handle(notifier, envelope(domain.PASSWORD_RESET, reset_payload(tenant, email)))
    finally:
        notifier.sender = working


async def test_recipient_refused_for_good_is_refused_with_the_reason(notifier, upstreams, smtp_sink):
    tenant = upstreams.add_tenant()
    email = unique_email()
    smtp_sink.reject(email)
    event = envelope(domain.EMAIL_VERIFICATION, verification_payload(tenant, email))

    with pytest.raises(DeliveryRefused, match="550"):
        await handle(notifier, event)

    row = await _delivery(notifier, event.id, email)
    assert row["status"] == "failed" and row["last_error"].startswith("550")
    # The pool still works for the next recipient after the refusal.
    other = unique_email()
    await handle(notifier, envelope(domain.EMAIL_VERIFICATION, verification_payload(tenant, other)))
    assert len(smtp_sink.to(other)) == 1


@pytest.mark.parametrize("payload_change, reason", [
    ({"email": "not-an-email"}, "email"),
    ({"expires_at": "tomorrow"}, "expires_at"),
    ({"verification_url": "https://evil.example/activation/verify?token=x"}, "outside PUBLIC_BASE_URL"),
])
async def test_malformed_event_is_refused_with_the_reason(notifier, upstreams, smtp_sink, payload_change, reason):
    tenant = upstreams.add_tenant()
    payload = {**verification_payload(tenant, unique_email()), **payload_change}

    with pytest.raises(DeliveryRefused, match=reason):
        await handle(notifier, envelope(domain.EMAIL_VERIFICATION, payload))
    assert smtp_sink.messages == []


async def test_unknown_tenant_is_refused_and_tenancy_down_is_deferred(notifier, upstreams, smtp_sink):
    unknown = {"id": str(uuid.uuid4()), "client_code": "X", "societe_code": "Y"}
    with pytest.raises(DeliveryRefused, match="unknown"):
        await handle(notifier, envelope(domain.PASSWORD_RESET, reset_payload(unknown, unique_email())))

    tenant = upstreams.add_tenant()
    upstreams.down = True
    with pytest.raises(DeliveryDeferred, match="503"):
        await handle(notifier, envelope(domain.PASSWORD_RESET, reset_payload(tenant, unique_email())))
    assert smtp_sink.messages == []


async def test_tenant_branding_is_cached_for_the_configured_time(notifier, upstreams, smtp_sink, clock):
    tenant = upstreams.add_tenant()
    for _ in range(3):
        await handle(notifier, envelope(domain.PASSWORD_RESET, reset_payload(tenant, unique_email())))
    assert upstreams.tenant_calls == 1
    clock.advance(seconds=301)
    await handle(notifier, envelope(domain.PASSWORD_RESET, reset_payload(tenant, unique_email())))
    assert upstreams.tenant_calls == 2


async def test_hostile_values_never_reach_headers_or_html_unescaped(notifier, upstreams, smtp_sink):
    tenant = upstreams.add_tenant(name="Agence <img src=x onerror=alert(1)>",
                                  branding={"primary_color": "red;background:url(http://evil)"})
    email = unique_email()
    payload = verification_payload(tenant, email, display_name="Eve <script>alert(1)</script>\r\nBcc: spy@evil.test")

    await handle(notifier, envelope(domain.EMAIL_VERIFICATION, payload))

    [mail] = smtp_sink.to(email)
    assert mail.rcpt_tos == [email]
    assert mail.message["Bcc"] is None
    assert "\n" not in str(mail.message["To"]) and "\r" not in str(mail.message["To"])
    html = mail.html()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "url(http://evil)" not in html and domain.DEFAULT_COLOR in html


async def test_international_domain_is_sent_in_idna_and_a_non_ascii_mailbox_is_refused(notifier, upstreams, smtp_sink):
    tenant = upstreams.add_tenant()
    await handle(notifier, envelope(domain.PASSWORD_RESET, reset_payload(tenant, "marie@exämple.fr")))
    [mail] = smtp_sink.to("marie@xn--exmple-cua.fr")
    assert "marie@xn--exmple-cua.fr" in str(mail.message["To"])

    with pytest.raises(DeliveryRefused, match="non-ASCII local part"):
        await handle(notifier, envelope(domain.PASSWORD_RESET, reset_payload(tenant, "josé@example.fr")))


async def test_staff_invitation_email_links_to_the_agency_console_with_its_codes(notifier, upstreams, smtp_sink):
    tenant = upstreams.add_tenant(name="Cabinet Lefèvre")
    email = unique_email("Staff")
    token = "t0k3n-" + uuid.uuid4().hex
    await handle(notifier, envelope(domain.STAFF_INVITED, {
        "staff_id": str(uuid.uuid4()), "tenant_id": tenant["id"], "email": email, "display_name": "Claire Martin",
        "role": "gestionnaire", "invited_by": "Paul Durand", "invitation_token": token,
        "expires_at": "2026-01-22T09:00:00+00:00"}))
    [mail] = smtp_sink.to(email)
    assert mail.subject == "Invitation à la console de Cabinet Lefèvre"
    text = " ".join(_text(mail).split())
    assert ("Paul Durand vous invite à rejoindre la console extranet de Cabinet Lefèvre en tant que gestionnaire, "
            f"avec l'adresse {email}.") in text
    assert "valable 7 jours, jusqu'au jeudi 22 janvier 2026 à 10 h 00 (heure de Paris)" in text
    button = next(link for link in _links(mail.html()) if "/agence/invitation" in link)
    query = parse_qs(urlsplit(button).query)
    assert button.startswith(PUBLIC_BASE_URL + "/agence/invitation?")
    assert query == {"client": [tenant["client_code"]], "societe": [tenant["societe_code"]], "token": [token]}
    assert "ACCEPTER L&#39;INVITATION" in mail.html() and "ACCEPTER L'INVITATION" in _text(mail)


async def test_a_staff_invitation_with_a_malformed_token_is_refused_for_good(notifier, upstreams, smtp_sink):
    tenant = upstreams.add_tenant()
    email = unique_email("Bad")
    with pytest.raises(DeliveryRefused):
        await handle(notifier, envelope(domain.STAFF_INVITED, {
            "staff_id": str(uuid.uuid4()), "tenant_id": tenant["id"], "email": email, "role": "admin",
            "invitation_token": "../../evil?x=1&y=2", "expires_at": "2026-01-22T09:00:00+00:00"}))
    assert smtp_sink.to(email) == []


async def test_account_unlinked_email_says_which_account_and_why_never_the_agencys_note(notifier, upstreams,
                                                                                        smtp_sink):
    tenant = upstreams.add_tenant(name="Cabinet Lefèvre")
    account_id = str(uuid.uuid4())
    residence = {"id": str(uuid.uuid4()), "ref": "R1", "name": "Le Clos", "address": ""}
    upstreams.accounts[tenant["id"]] = {account_id: {
        "id": account_id, "tenant_id": tenant["id"], "ref": "C1", "role": "coproprietaire", "display_name": "M. X",
        "council": False, "status": "active",
        "lots": [{"ref": "L3", "number": "3", "kind": "", "residence": residence}]}}
    email = unique_email("Vendeur")
    await handle(notifier, envelope(domain.ACCOUNT_UNLINKED, {
        "person_id": str(uuid.uuid4()), "email": email, "tenant_id": tenant["id"], "account_id": account_id,
        "role": "coproprietaire", "reason": "sold", "note": "ne doit pas apparaître"}))
    [mail] = smtp_sink.to(email)
    assert mail.subject == "Un compte n'est plus rattaché à votre identifiant"
    text = " ".join(_text(mail).split())
    assert (f"Cabinet Lefèvre a retiré de votre accès extranet ({email}) le compte copropriétaire : Le Clos : lot 3, "
            "en raison de la vente du lot.") in text
    assert "Vos autres comptes restent accessibles" in text and "ne doit pas apparaître" not in mail.html()
