"""`python -m services.notifier preview [--out docs/emails] [--screenshots]`: render the emails
with sample data to HTML files, and with ``--screenshots`` to PNG at phone (390 px) and desktop
(1280 px) widths with headless Chromium, to look at them before shipping a template change."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.notifier import domain, rendering

SAMPLE_BASE = "https://www.moncompte.immo"
_NOW = datetime(2026, 2, 13, 15, 42, tzinfo=UTC)
WIDTHS = {"phone": (390, 1100), "desktop": (1280, 1000)}


def samples() -> dict[str, rendering.Rendered]:
    """The main emails of a sample tenant, as a person receives them."""
    brand = domain.Branding.from_tenant({
        "id": str(uuid.uuid4()), "client_code": "ABC123", "societe_code": "01", "name": "Cabinet Lemaire Immobilier",
        "support": {"email": "extranet@lemaire-immo.fr", "phone": "04 78 12 34 56",
                    "hours": "Du lundi au vendredi, de 9 h à 12 h et de 14 h à 18 h"},
        "branding": {"primary_color": "#0B5FA5"}})
    codes = "client=ABC123&societe=01&token=" + "Zr0" * 14
    person, tenant = str(uuid.uuid4()), str(brand.id)
    verification = domain.parse_payload(domain.EMAIL_VERIFICATION, {
        "person_id": person, "email": "claire.durand@example.fr", "display_name": "Claire Durand", "tenant_id": tenant,
        "verification_url": f"{SAMPLE_BASE}/activation/verify?{codes}",
        "expires_at": (_NOW + timedelta(hours=24)).isoformat()})
    reset = domain.parse_payload(domain.PASSWORD_RESET, {
        "person_id": person, "email": "claire.durand@example.fr", "tenant_id": tenant,
        "reset_url": f"{SAMPLE_BASE}/password/reset?{codes}", "expires_at": (_NOW + timedelta(hours=1)).isoformat()})
    documents = [
        rendering.DocumentLine("Procès-verbal de l'assemblée générale du 5 février 2026", "Procès-verbaux d'AG",
                               "2026-02-05"),
        rendering.DocumentLine("Appel de fonds - 1er trimestre 2026", "Appels de fonds", "2026-02-10"),
        rendering.DocumentLine("Relevé de charges 2025", "Comptes et charges", "2026-02-12"),
    ]
    consent = domain.parse_payload(domain.CONSENT_CHANGED, {
        "tenant_id": tenant, "account_id": str(uuid.uuid4()), "account_ref": "C0042", "person_id": person,
        "kind": "appels_de_fonds", "kind_label": "Appels de fonds", "given": True, "at": _NOW.isoformat(),
        "wording": "J'accepte de recevoir par voie électronique, pour ce compte, les appels de fonds de mon syndic "
                   "(décret n° 67-223 du 17 mars 1967, art. 35-2). Je peux retirer cet accord à tout moment depuis "
                   "mon profil ; chaque accord et chaque retrait est enregistré avec sa date et son heure et m'est "
                   "confirmé par email.",
        "lots": [{"ref": "L12", "number": "12", "residence_ref": "R1"}]})
    return {
        "consent_changed": rendering.consent_changed_email(consent, brand, email="claire.durand@example.fr",
                                                           public_base_url=SAMPLE_BASE),
        "verification": rendering.verification_email(verification, brand, issued_at=_NOW, public_base_url=SAMPLE_BASE),
        "reset": rendering.reset_email(reset, brand, issued_at=_NOW, public_base_url=SAMPLE_BASE),
        "documents": rendering.documents_email(documents, brand, public_base_url=SAMPLE_BASE),
    }


def write(out: Path, *, screenshots: bool, chromium: str = "/usr/bin/chromium") -> list[Path]:
    """Write ``<name>.html`` (and ``<name>-<width>.png``) under ``out``; return the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, rendered in samples().items():
        page = out / f"{name}.html"
        page.write_text(rendered.html, encoding="utf-8")
        written.append(page)
        if not screenshots:
            continue
        browser = shutil.which(chromium) or chromium
        for label, (width, height) in WIDTHS.items():
            png = out / f"{name}-{label}.png"
            subprocess.run(  # noqa: S603 - fixed arguments, our own files
                [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                 f"--screenshot={png}", f"--window-size={width},{height}", page.resolve().as_uri()],
                check=True, capture_output=True, timeout=60)
            written.append(png)
    return written


def preview_command(settings, args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.notifier preview")
    parser.add_argument("--out", default="docs/emails")
    parser.add_argument("--screenshots", action="store_true")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    options = parser.parse_args(args)
    for path in write(Path(options.out), screenshots=options.screenshots, chromium=options.chromium):
        print(path)
    return 0
