"""The security notices of the second factor (issue 15): French, no button, whom to contact."""

from __future__ import annotations

import uuid

import pytest

from services.notifier import domain, rendering
from services.notifier.domain import MalformedEvent
from tests.unit.notifier.test_rendering import NOW, brand


def notice(kind: str, factor: str) -> rendering.Rendered:
    return rendering.mfa_changed_email(domain.parse_payload(domain.MFA_CHANGED, {
        "person_id": str(uuid.uuid4()), "email": "a@example.org", "tenant_id": str(uuid.uuid4()),
        "kind": kind, "factor": factor, "changed_at": NOW.isoformat()}), brand())


@pytest.mark.parametrize(("kind", "factor", "subject", "says"), [
    ("added", "totp", "Application d'authentification ajoutée",
     "Elle vous sera demandée après votre mot de passe"),
    ("removed", "totp", "Application d'authentification retirée", "a été retirée de"),
    ("added", "passkey", "Nouvelle clé d'accès ajoutée", "Une nouvelle clé d'accès"),
    ("recovery_used", "recovery_code", "Code de secours utilisé",
     "Ce code ne fonctionnera plus"),
])
def test_each_change_has_its_french_notice_without_a_button(kind, factor, subject, says):
    rendered = notice(kind, factor)
    assert rendered.subject == subject
    assert says in rendered.text and "a@example.org" in rendered.text
    assert "href=\"http" not in rendered.html
    assert "contactez sans attendre Agence Martin (contact@martin.fr, 01 02 03 04 05)" in rendered.text


def test_an_unknown_kind_is_malformed():
    with pytest.raises(MalformedEvent):
        domain.parse_payload(domain.MFA_CHANGED, {"person_id": str(uuid.uuid4()), "email": "a@example.org",
                                                  "tenant_id": str(uuid.uuid4()), "kind": "stolen",
                                                  "factor": "totp", "changed_at": NOW.isoformat()})
