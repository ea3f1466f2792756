"""The proof report as CSV (one row per fact) and PDF (reportlab, A4, in French).

Pure rendering of the dicts built by ``proofs.py``: no I/O. Times are shown in Paris time with
their UTC offset, the way a court reads them; the CSV keeps ISO 8601 with the offset.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from html import escape as _html_escape
from zoneinfo import ZoneInfo

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

__all__ = ["CSV_HEADER", "account_proof_csv", "account_proof_pdf", "document_proof_csv", "document_proof_pdf",
           "register_csv"]

PARIS = ZoneInfo("Europe/Paris")
CSV_HEADER = ["document_id", "title", "category", "sha256", "event", "at", "account_ref", "person_id", "success"]
KIND_LABELS = {"view": "Consultation", "download": "Téléchargement", "archive": "Téléchargement (archive ZIP)"}


def _esc(text) -> str:
    return _html_escape("" if text is None else str(text), quote=False)


def paris(value: str | None) -> str:
    """``12/06/2026 14:03:07 (UTC+02:00)`` from an ISO 8601 time; ``—`` for none."""
    if not value:
        return "—"
    moment = datetime.fromisoformat(value).astimezone(PARIS)
    offset = moment.strftime("%z")
    return f"{moment:%d/%m/%Y %H:%M:%S} (UTC{offset[:3]}:{offset[3:]})"


def _rows_of(document: dict, audience: list[dict], accesses: list[dict]) -> list[list]:
    base = [document["id"], document["title"], document["category"], document["sha256"]]
    rows = [[*base, "published", document["published_at"], "", "", ""]]
    rows += [[*base, "in_audience", document["published_at"], a["account_ref"], "", ""] for a in audience]
    rows += [[*base, a["kind"], a["at"], a["account_ref"] or "", a["person_id"], "yes" if a["success"] else "no"]
             for a in accesses]
    if document.get("withdrawn_at"):
        rows.append([*base, "withdrawn", document["withdrawn_at"], "", "", ""])
    return rows


def _csv(rows: list[list]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for row in rows:
        # A cell starting with = + - @ would be a formula in a spreadsheet: quote it as text.
        writer.writerow([f"'{c}" if isinstance(c, str) and c and c[0] in "=+-@" else c for c in row])
    return ("\ufeff" + buffer.getvalue()).encode()


def document_proof_csv(proof: dict) -> bytes:
    """One row per fact: publication, each account of the audience, each access, the withdrawal."""
    return _csv(_rows_of(proof["document"], proof["audience_at_publication"], proof["accesses"]))


def account_proof_csv(proof: dict) -> bytes:
    rows = []
    for document in proof["documents"]:
        audience = [{"account_ref": proof["account"]["ref"]}] if document["in_audience_at_publication"] else []
        rows += _rows_of(document, audience, document["accesses"])
    return _csv(rows)


def _styles() -> dict[str, ParagraphStyle]:
    base = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=base["BodyText"], fontName="Helvetica", fontSize=9.5, leading=12.5)
    return {
        "title": ParagraphStyle("title", parent=body, fontName="Helvetica-Bold", fontSize=15, leading=19,
                                spaceAfter=4),
        "h2": ParagraphStyle("h2", parent=body, fontName="Helvetica-Bold", fontSize=11.5, leading=15,
                             spaceBefore=10, spaceAfter=4),
        "body": body,
        "small": ParagraphStyle("small", parent=body, fontSize=8, leading=10, textColor=colors.HexColor("#4b5563")),
        "mono": ParagraphStyle("mono", parent=body, fontName="Courier", fontSize=8.5, leading=11),
    }


def _table(rows: list[list], widths: list[float], styles: dict) -> Table:
    cells = [[Paragraph(_esc(c), styles["body"]) if not isinstance(c, Paragraph) else c for c in row]
             for row in rows]
    table = Table(cells, colWidths=widths, repeatRows=1)
    table.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e5e7eb")),
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#9ca3af")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]))
    return table


def _audience_text(document: dict) -> str:
    audience = document["audience"]
    if audience.get("account_ref"):
        return f"Compte {audience['account_ref']}"
    who = "Conseil syndical" if audience.get("council_only") else "Copropriétaires"
    return f"{who}, {document.get('residence_name') or audience.get('residence_ref')}"


def _facts(document: dict, styles: dict, integrity: dict | None = None) -> Table:
    rows = [["Titre", document["title"]], ["Catégorie", document["category_label"]],
            ["Date du document", datetime.fromisoformat(document["date"]).strftime("%d/%m/%Y")],
            ["Destinataires", _audience_text(document)],
            ["Fichier", f"{document['filename']} ({document['size']} octets)"],
            ["Mis en ligne le", paris(document["published_at"])],
            ["Retiré le", paris(document["withdrawn_at"]) if document["withdrawn_at"] else "Toujours en ligne"],
            ["Empreinte SHA-256 enregistrée", Paragraph(_esc(document["sha256"]), styles["mono"])]]
    if integrity is not None:
        rows.append(["Empreinte recalculée le " + paris(integrity["checked_at"]),
                     Paragraph(_esc(integrity["computed_sha256"] or "fichier illisible"), styles["mono"])])
        rows.append(["Concordance", "OUI : le fichier conservé est identique à celui mis en ligne"
                     if integrity["matches"] else "NON : le fichier conservé diffère ou est illisible"])
    table = Table([[Paragraph(_esc(k), styles["body"]), v if isinstance(v, Paragraph) else
                    Paragraph(_esc(v), styles["body"])] for k, v in rows], colWidths=[55 * mm, 115 * mm])
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#9ca3af")),
                               ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#f3f4f6")),
                               ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return table


def _access_rows(accesses: list[dict]) -> list[list]:
    rows = [["Date et heure", "Compte", "Personne (identifiant)", "Nature", "Résultat"]]
    rows += [[paris(a["at"]), a["account_ref"] or "—", a["person_id"], KIND_LABELS.get(a["kind"], a["kind"]),
              "Réussi" if a["success"] else "Refusé"] for a in accesses]
    return rows


_ACCESS_WIDTHS = [38 * mm, 22 * mm, 58 * mm, 32 * mm, 20 * mm]


def _build(story: list, title: str) -> bytes:
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=18 * mm,
                            bottomMargin=18 * mm, title=title, author="moncompte", subject=title)
    doc.build(story)
    return buffer.getvalue()


def _header(styles: dict, title: str, generated_at: str) -> list:
    return [Paragraph(_esc(title), styles["title"]),
            Paragraph(_esc(f"Rapport établi le {paris(generated_at)} à partir du registre des accès de l'extranet "
                           "(enregistrements non modifiables). Décret n° 2019-502 du 23 mai 2019 ; loi n° 65-557 "
                           "du 10 juillet 1965, art. 18."), styles["small"]),
            Spacer(1, 4 * mm)]


def document_proof_pdf(proof: dict) -> bytes:
    """The proof of availability of one document."""
    styles = _styles()
    document = proof["document"]
    story = _header(styles, "Preuve de mise à disposition d'un document", proof["generated_at"])
    story.append(_facts(document, styles, proof["integrity"]))
    summary = proof["summary"]
    story.append(Paragraph(_esc(f"Destinataires à la mise en ligne : {summary['audience']} compte(s), "
                                f"dont {summary['opened']} l'ont ouvert"), styles["h2"]))
    delivery = {"post": "À envoyer par courrier (pas de consentement)", "email": "Voie électronique (consentement)"}
    if any(a.get("delivery") for a in proof["audience_at_publication"]):
        audience = [["Compte", "Ouvert", "Envoi"]] + [
            [a["account_ref"], "Oui" if a["opened"] else "Non", delivery[a["delivery"]]]
            for a in proof["audience_at_publication"]]
        story.append(_table(audience, [45 * mm, 25 * mm, 80 * mm], styles))
    else:
        audience = [["Compte", "Ouvert"]] + [[a["account_ref"], "Oui" if a["opened"] else "Non"]
                                              for a in proof["audience_at_publication"]]
        story.append(_table(audience, [60 * mm, 30 * mm], styles))
    story.append(Paragraph(_esc(f"Consultations et téléchargements ({summary['accesses']})"), styles["h2"]))
    if proof["accesses"]:
        story.append(_table(_access_rows(proof["accesses"]), _ACCESS_WIDTHS, styles))
    else:
        story.append(Paragraph("Aucune consultation ni aucun téléchargement enregistré.", styles["body"]))
    return _build(story, "Preuve de mise à disposition")


def account_proof_pdf(proof: dict) -> bytes:
    """The proof of availability of every document of one account."""
    styles = _styles()
    ref = proof["account"]["ref"]
    story = _header(styles, f"Preuve de mise à disposition : compte {ref}", proof["generated_at"])
    if not proof["documents"]:
        story.append(Paragraph("Aucun document n'a été mis à disposition de ce compte.", styles["body"]))
    for document in proof["documents"]:
        story.append(Paragraph(_esc(document["title"]), styles["h2"]))
        story.append(_facts(document, styles))
        opened = paris(document["first_opened_at"]) if document["first_opened_at"] else "jamais"
        story.append(Paragraph(_esc(f"Dans les destinataires à la mise en ligne : "
                                    f"{'oui' if document['in_audience_at_publication'] else 'non'} ; "
                                    f"première ouverture par ce compte : {opened}."), styles["body"]))
        if document["accesses"]:
            story.append(_table(_access_rows(document["accesses"]), _ACCESS_WIDTHS, styles))
    return _build(story, f"Preuve de mise à disposition - compte {ref}")


REGISTER_CHANGES_HEADER = ["at", "account_ref", "lots", "kind", "given", "person_id", "means", "wording_version",
                           "wording"]


def register_csv(register: dict, view: str) -> bytes:
    """The consent register of a residence: every change (``changes``) or each account's state (``state``)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    if view == "state":
        kinds = [k["kind"] for k in register["kinds"]]
        writer.writerow(["account_ref", "at", *(f"{k}_given" for k in kinds), *(f"{k}_since" for k in kinds)])
        for account in register["accounts"]:
            consents = account["consents"]
            writer.writerow([account["account_ref"], register["at"],
                             *("yes" if consents[k]["given"] else "no" for k in kinds),
                             *(consents[k]["since"] or "" for k in kinds)])
    else:
        writer.writerow(REGISTER_CHANGES_HEADER)
        for change in register["changes"]:
            lots = ",".join(lot["ref"] for lot in change["lots"])
            row = [change["at"], change["account_ref"], lots, change["kind"], "yes" if change["given"] else "no",
                   change["person_id"], change["means"], change["wording_version"], change["wording"]]
            writer.writerow([f"'{c}" if c and c[0] in "=+-@" else c for c in row])
    return ("\ufeff" + buffer.getvalue()).encode()
