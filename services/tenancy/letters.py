"""Provisional-credential letters: one A4 page per account, in French, ready to mail or hand out.

Rendered with reportlab (pure Python, no system library; its built-in Helvetica covers French):
the agency's name and help contact, the personal login URL with its CODECLIENT/CODESOCIETE, the
provisional identifier and password, their expiry, and the guide's steps in short. The passwords
exist only in this PDF, made in memory for the one answer that carries them: never stored.
"""

from __future__ import annotations

import io
from datetime import datetime
from html import escape as _html_escape
from zoneinfo import ZoneInfo

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

__all__ = ["LETTER_STEPS", "render_letters"]


def escape(text: str) -> str:
    """Text made safe for reportlab's paragraph markup (``&``, ``<``, ``>``)."""
    return _html_escape(text, quote=False)

PARIS = ZoneInfo("Europe/Paris")
ROLE_LABELS = {"coproprietaire": "copropriétaire", "bailleur": "propriétaire bailleur", "locataire": "locataire"}
# The guide's activation in short (spec/guide-extranet.txt, "Activation de l'accès extranet mono lot").
LETTER_STEPS = (
    "Ouvrez l'adresse de connexion ci-dessus et choisissez « Je n'ai pas de compte ».",
    "Saisissez l'identifiant et le mot de passe provisoires de ce courrier, puis CONTINUER.",
    "Choisissez votre adresse email, puis un mot de passe personnel (6 caractères au moins, avec une "
    "majuscule, une minuscule, un chiffre et un caractère spécial) ; acceptez les CGU : CRÉER MON COMPTE.",
    "Ouvrez l'email « Confirmation de votre adresse email extranet » et cliquez sur VALIDER MON EMAIL.",
    "Connectez-vous ensuite avec votre adresse email et votre mot de passe personnel.",
    "Vous avez déjà un accès (un autre lot, une autre agence) ? Choisissez « Je fusionne mes comptes » "
    "et saisissez ces identifiants provisoires avec votre adresse email et votre mot de passe habituels.",
)


def _styles() -> dict[str, ParagraphStyle]:
    base = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=base["BodyText"], fontName="Helvetica", fontSize=10.5, leading=14,
                          alignment=TA_LEFT)
    return {
        "agency": ParagraphStyle("agency", parent=body, fontName="Helvetica-Bold", fontSize=14, leading=18),
        "small": ParagraphStyle("small", parent=body, fontSize=9, leading=12, textColor=colors.HexColor("#4b5563")),
        "title": ParagraphStyle("title", parent=body, fontName="Helvetica-Bold", fontSize=13, leading=17,
                                spaceBefore=8, spaceAfter=6),
        "body": body,
        "code": ParagraphStyle("code", parent=body, fontName="Courier-Bold", fontSize=15, leading=19),
        "step": ParagraphStyle("step", parent=body, leftIndent=14, bulletIndent=0, spaceAfter=3),
    }


def _date(value: str) -> str:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(PARIS)
    return moment.strftime("%d/%m/%Y")


def _support(tenant: dict) -> str:
    support = tenant.get("support") or {}
    parts = [support.get(k) for k in ("email", "phone") if support.get(k)]
    text = " · ".join(parts)
    if support.get("hours"):
        text += f" ({support['hours']})" if text else support["hours"]
    return text


def _page(tenant: dict, credential: dict, login_url: str, styles: dict) -> list:
    e = escape
    role = ROLE_LABELS.get(credential.get("role") or "", "")
    identity = e(credential["display_name"]) + (f" · {e(role)}" if role else "") + \
        f" · compte {e(credential['account_ref'])}"
    codes = Table([["Identifiant provisoire", credential["login"]],
                   ["Mot de passe provisoire", credential["password"]]],
                  colWidths=[60 * mm, 100 * mm])
    codes.setStyle(TableStyle([
        ("FONT", (0, 0), (0, -1), "Helvetica", 10.5), ("FONT", (1, 0), (1, -1), "Courier-Bold", 15),
        ("BOX", (0, 0), (-1, -1), 1, colors.HexColor("#1f2937")),
        ("INNERGRID", (0, 0), (-1, -1), 0.5, colors.HexColor("#9ca3af")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("TOPPADDING", (0, 0), (-1, -1), 7),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 7)]))
    support = _support(tenant)
    flow = [
        Paragraph(e(tenant["name"]), styles["agency"]),
        Paragraph(f"Aide à la connexion : {e(support)}" if support else "", styles["small"]),
        Spacer(1, 10 * mm),
        Paragraph(identity, styles["body"]),
        Paragraph("Votre accès à l'extranet : vos identifiants provisoires", styles["title"]),
        Paragraph("Votre agence met à votre disposition un espace en ligne sécurisé où retrouver les documents "
                  "de vos biens. Pour l'activer, rendez-vous à l'adresse de connexion suivante :", styles["body"]),
        Spacer(1, 2 * mm),
        Paragraph(f'<font name="Courier-Bold">{e(login_url)}</font>', styles["body"]),
        Spacer(1, 4 * mm),
        KeepTogether([codes]),
        Spacer(1, 2 * mm),
        Paragraph(f"Ces identifiants ne servent qu'une fois et expirent le <b>{_date(credential['expires_at'])}</b>. "
                  "Gardez ce courrier confidentiel.", styles["body"]),
        Paragraph("Les étapes", styles["title"]),
    ]
    flow += [Paragraph(e(step), styles["step"], bulletText=f"{n}.") for n, step in enumerate(LETTER_STEPS, 1)]
    flow += [Spacer(1, 6 * mm),
             Paragraph("Besoin d'aide pour se connecter ? Contactez votre agence" +
                       (f" : {e(support)}." if support else "."), styles["small"])]
    return flow


def render_letters(tenant: dict, credentials: list[dict], *, login_url: str) -> bytes:
    """The PDF of the letters (``credentials``: account_ref, display_name, role, login, password, expires_at)."""
    buffer = io.BytesIO()
    document = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=22 * mm, rightMargin=22 * mm, topMargin=20 * mm,
                                 bottomMargin=20 * mm, title=f"Identifiants provisoires · {tenant['name']}",
                                 author=tenant["name"], subject="Identifiants provisoires de l'extranet")
    styles = _styles()
    story: list = []
    for index, credential in enumerate(credentials):
        if index:
            story.append(PageBreak())
        story += _page(tenant, credential, login_url, styles)
    document.build(story)
    return buffer.getvalue()
