"""Rendering is pure: templates + data -> message. Every value is escaped or made one-line."""

from __future__ import annotations

import email
import email.policy
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.notifier import domain, rendering
from services.notifier.domain import Branding, MalformedEvent

BASE = "https://extranet.example"
NOW = datetime(2026, 3, 28, 22, 30, tzinfo=UTC)


def brand(**overrides) -> Branding:
    tenant = {"id": str(uuid.uuid4()), "client_code": "C1", "societe_code": "S1", "name": "Agence Martin",
              "support": {"email": "contact@martin.fr", "phone": "01 02 03 04 05", "hours": "9h-18h"},
              "branding": {"primary_color": "#AA3300"}}
    tenant.update(overrides)
    return Branding.from_tenant(tenant)


def verification(**overrides) -> domain.VerificationRequested:
    payload = {"person_id": str(uuid.uuid4()), "email": "jeanne@example.org", "display_name": "Jeanne",
               "tenant_id": str(uuid.uuid4()),
               "verification_url": f"{BASE}/activation/verify?client=C1&societe=S1&token=T0K",
               "expires_at": (NOW + timedelta(hours=48)).isoformat()}
    payload.update(overrides)
    return domain.parse_payload(domain.EMAIL_VERIFICATION, payload)


def message(rendered, b: Branding, display_name=None):
    built = rendering.build_message(rendered, sender="webmaster@moncompte.immo", recipient="jeanne@example.org",
                                    message_id="<x@moncompte.immo>", date=NOW, brand=b, display_name=display_name)
    # What a receiver parses back from the bytes on the wire.
    assert built.isascii() and b"\r\n\r\n" in built and b"\n" not in built.replace(b"\r\n", b"")
    return email.message_from_bytes(built, policy=email.policy.default)


def test_verification_email_headers_and_parts():
    b = brand()
    parsed = message(rendering.verification_email(verification(), b, issued_at=NOW, public_base_url=BASE), b, "Jeanne")
    assert parsed["Subject"] == "Confirmation de votre adresse email extranet"
    assert parsed["From"] == "Agence Martin <webmaster@moncompte.immo>"
    assert parsed["To"] == "Jeanne <jeanne@example.org>"
    assert parsed["Reply-To"] == "Agence Martin <contact@martin.fr>"
    assert parsed["Message-ID"] == "<x@moncompte.immo>"
    assert parsed["Content-Language"] == "fr"
    assert parsed.get_content_type() == "multipart/alternative"
    html = parsed.get_body(("html",)).get_content()
    text = parsed.get_body(("plain",)).get_content()
    assert parsed.get_body(("html",)).get_content_charset() == "utf-8"
    assert "VALIDER MON EMAIL" in html and "background-color:#AA3300" in html
    assert f'href="{BASE}/activation/verify?client=C1&amp;societe=S1&amp;token=T0K"' in html
    assert f"{BASE}/activation/verify?client=C1&societe=S1&token=T0K" in text
    # 48 h after Saturday 28 March 2026 22:30 UTC: Monday 30 March 22:30 UTC, which is already
    # Tuesday 00:30 in Paris (summer time since the 29th).
    assert "valable 2 jours, jusqu'au mardi 31 mars 2026 à 0 h 30 (heure de Paris)" in text.replace("\r\n", "\n")
    assert "<p" not in text and "<a" not in text  # the text part carries no markup


def test_display_name_and_tenant_name_are_escaped_and_kept_on_one_header_line():
    b = brand(name="Agence \"<b>Evil</b>\"\r\nX-Injected: 1")
    payload = verification(display_name="<script>alert('x')</script>\nBcc: spy@evil.test")
    built = rendering.build_message(rendering.verification_email(payload, b, issued_at=NOW, public_base_url=BASE),
                                    sender="webmaster@moncompte.immo", recipient=payload.email,
                                    message_id="<x@moncompte.immo>", date=NOW, brand=b,
                                    display_name=payload.display_name)
    parsed = email.message_from_bytes(built, policy=email.policy.default)
    assert parsed["Bcc"] is None and parsed["X-Injected"] is None
    assert [a.addr_spec for a in parsed["To"].addresses] == ["jeanne@example.org"]
    assert parsed["To"].addresses[0].display_name == "<script>alert('x')</script> Bcc: spy@evil.test"
    html = parsed.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "<b>Evil</b>" not in html and "&lt;b&gt;Evil&lt;/b&gt;" in html


def test_unsafe_colour_falls_back_and_light_colours_get_dark_text():
    assert brand(branding={"primary_color": "red;x:url(//evil)"}).primary_color == domain.DEFAULT_COLOR
    assert brand(branding={}).primary_color == domain.DEFAULT_COLOR
    assert brand(branding={"primary_color": "#FFE066"}).text_color == "#111111"
    assert brand(branding={"primary_color": "#0B3D91"}).text_color == "#FFFFFF"


def test_support_email_that_is_not_an_address_is_not_linked():
    b = brand(support={"email": "javascript:alert(1)", "phone": "01"})
    rendered = rendering.reset_email(
        domain.parse_payload(domain.PASSWORD_RESET, {
            "person_id": str(uuid.uuid4()), "email": "a@example.org", "tenant_id": str(uuid.uuid4()),
            "reset_url": f"{BASE}/password/reset?client=C1&societe=S1&token=x", "expires_at": NOW.isoformat()}),
        b, issued_at=NOW - timedelta(minutes=30), public_base_url=BASE)
    assert "javascript:" not in rendered.html and "mailto:" not in rendered.html
    assert "valable 30 minutes" in rendered.text
    assert message(rendered, b)["Reply-To"] is None


@pytest.mark.parametrize("url", [
    "https://evil.example/activation/verify?token=x",
    "http://extranet.example/activation/verify?token=x",  # scheme downgraded
    "https://extranet.example.evil.test/activation",
    "javascript:alert(1)",
    "https://extranet.example/a\r\nb",
])
def test_links_outside_the_public_site_are_refused(url):
    with pytest.raises(MalformedEvent, match="outside PUBLIC_BASE_URL"):
        domain.check_link(url, BASE)


def test_payload_errors_name_the_field():
    with pytest.raises(MalformedEvent, match="expires_at"):
        verification(expires_at="soon")
    with pytest.raises(MalformedEvent, match="unexpected event type"):
        domain.parse_payload("identity.something_else", {})
    with pytest.raises(MalformedEvent, match="reason"):
        domain.parse_payload(domain.PASSWORD_CHANGED, {"person_id": str(uuid.uuid4()), "email": "a@b.fr",
                                                       "tenant_id": str(uuid.uuid4()), "reason": "hack",
                                                       "changed_at": NOW.isoformat()})


def test_dates_said_in_french_paris_time():
    assert domain.paris_time(datetime(2026, 1, 1, 23, 5, tzinfo=UTC)) == "vendredi 2 janvier 2026 à 0 h 05"
    assert domain.paris_time(datetime(2026, 8, 1, 6, 0, tzinfo=UTC)) == "samedi 1er août 2026 à 8 h 00"
    assert domain.validity(NOW, NOW + timedelta(days=7)) == "7 jours"
    assert domain.validity(NOW, NOW + timedelta(hours=1, minutes=59)) == "1 heure"
    assert domain.validity(NOW, NOW + timedelta(minutes=1)) == "1 minute"
    assert domain.french_date("2026-02-13") == "13/02/2026"
    assert domain.french_date("T2 2026\n") == "T2 2026"


def test_message_ids_are_stable_per_event_and_recipient():
    event = uuid.uuid4()
    first = domain.message_id(domain.delivery_key(event, "A@example.org"), "webmaster@moncompte.immo")
    assert first == domain.message_id(domain.delivery_key(event, "a@example.org"), "webmaster@moncompte.immo")
    assert first != domain.message_id(domain.delivery_key(event, "b@example.org"), "webmaster@moncompte.immo")
    assert first.startswith("<") and first.endswith("@moncompte.immo>")
    a, b = uuid.uuid4(), uuid.uuid4()
    assert domain.digest_key([a, b], "x@y.fr") == domain.digest_key([b, a], "X@y.fr")


def test_digest_lists_every_document_up_to_a_limit():
    docs = [rendering.DocumentLine(f"Appel de fonds {n}", "Appels de fonds", "2026-01-15") for n in range(25)]
    rendered = rendering.documents_email(docs, brand(), public_base_url=BASE)
    assert rendered.subject == "25 nouveaux documents disponibles"
    assert "Appel de fonds 19" in rendered.text and "Appel de fonds 20" not in rendered.text
    assert "et 5 autres" in rendered.text and "15/01/2026" in rendered.text
    single = rendering.documents_email(docs[:1], brand(), public_base_url=BASE)
    assert single.subject == "Nouveau document disponible"
    assert "Un nouveau document est disponible dans votre espace Agence Martin" in single.text
    assert f"{BASE}/login/form?client=C1&societe=S1" in single.text


def test_password_changed_notice_has_no_button():
    rendered = rendering.password_changed_email(domain.parse_payload(domain.PASSWORD_CHANGED, {
        "person_id": str(uuid.uuid4()), "email": "a@example.org", "tenant_id": str(uuid.uuid4()),
        "reason": "change", "changed_at": NOW.isoformat()}), brand())
    assert rendered.subject == "Votre mot de passe a été modifié"
    assert "href=\"http" not in rendered.html
    assert "Contactez sans attendre Agence Martin (contact@martin.fr, 01 02 03 04 05)" in rendered.text


def test_addresses_travel_in_ascii_or_are_refused():
    assert domain.ascii_address("jose@exämple.fr") == "jose@xn--exmple-cua.fr"
    assert domain.ascii_address("a.b@example.org") == "a.b@example.org"
    with pytest.raises(MalformedEvent, match="non-ASCII local part"):
        domain.ascii_address("josé@example.fr")


def test_account_places_groups_lots_by_residence_and_counts_the_rest():
    from services.notifier.domain import account_places

    def lot(number, name, address=""):
        return {"number": number, "ref": "L" + number, "residence": {"name": name, "address": address, "ref": "R"}}

    assert account_places(None) == "" and account_places({"lots": []}) == ""
    assert account_places({"lots": [lot("12", "Les Tilleuls", "3 rue des Lilas"), lot("13", "Les Tilleuls",
                                                                                      "3 rue des Lilas")]}) == \
        "Les Tilleuls (3 rue des Lilas) : lot 12, lot 13"
    many = {"lots": [lot(str(n), f"Résidence {n}") for n in range(6)]}
    assert account_places(many) == ("Résidence 0 : lot 0; Résidence 1 : lot 1; Résidence 2 : lot 2; "
                                    "Résidence 3 : lot 3 et 2 autres")
    # Controls and line breaks never reach a line of the email.
    assert account_places({"lots": [lot("1\r\nBcc: x", "A\nB")]}) == "A B : lot 1 Bcc: x"
