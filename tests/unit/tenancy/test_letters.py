"""The provisional-credential letters, read back from the PDF (pure: no service, no database)."""

from __future__ import annotations

import io

from pypdf import PdfReader

from services.tenancy.letters import render_letters

TENANT = {"name": "Syndic du Parc & Fils", "client_code": "ADB01", "societe_code": "01",
          "support": {"email": "extranet@syndic-du-parc.fr", "phone": "01 23 45 67 89", "hours": "9h-12h"}}
URL = "https://www.moncompte.immo/login?client=ADB01&societe=01"


def _credential(n: int) -> dict:
    return {"account_ref": f"C00{n}", "display_name": f"Mme Hélène Lefèvre-{n}", "role": "coproprietaire",
            "login": f"K7Q2M9X{n}", "password": f"aB3$xY9!zQ{n}", "expires_at": "2026-02-01T23:30:00+00:00"}


def _pages(pdf: bytes) -> list[str]:
    return [" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf)).pages]


def test_one_a4_page_per_account_with_everything_the_person_needs():
    pdf = render_letters(TENANT, [_credential(1), _credential(2), _credential(3)], login_url=URL)
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 3
    assert [round(float(x)) for x in reader.pages[0].mediabox[2:]] == [595, 842]  # A4 in points
    for n, text in enumerate(_pages(pdf), start=1):
        assert "Syndic du Parc & Fils" in text
        assert f"Mme Hélène Lefèvre-{n} · copropriétaire · compte C00{n}" in text
        assert URL in text
        assert f"K7Q2M9X{n}" in text and f"aB3$xY9!zQ{n}" in text
        assert "expirent le 02/02/2026" in text  # 23:30 UTC is already the 2nd in Paris
        assert "extranet@syndic-du-parc.fr · 01 23 45 67 89 (9h-12h)" in text
        assert "Je n'ai pas de compte" in text and "VALIDER MON EMAIL" in text and "Je fusionne mes comptes" in text
        # Every other account's secrets stay off this page.
        assert all(f"K7Q2M9X{m}" not in text for m in (1, 2, 3) if m != n)


def test_a_tenant_without_help_contact_still_gets_a_clear_letter():
    pdf = render_letters({**TENANT, "support": {}}, [_credential(1)], login_url=URL)
    [text] = _pages(pdf)
    assert "Besoin d'aide pour se connecter ? Contactez votre agence." in text
