"""Pure rendering: templates + data -> an RFC 5322 message (HTML with a plain-text alternative).

Every value from an event or a tenant is escaped by Jinja2's autoescape in the HTML part; the
text part is plain text; headers are built by :class:`email.message.EmailMessage` from values
made one-line first (:func:`domain.one_line`), so neither markup nor CR/LF can inject anything.
"""

from __future__ import annotations

import binascii
import email.policy
import functools
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlencode

import jinja2

from services.notifier import domain
from services.notifier.domain import Branding

TEMPLATES = Path(__file__).parent / "templates"
MAX_DIGEST_LINES = 20
_P = "margin:0 0 14px 0; font-size:15px; line-height:23px;"
_SMALL = "margin:0 0 10px 0; font-size:13px; line-height:20px; color:#4B5563;"
_EMAIL = re.compile(r"^[^@\s<>\"'()\[\],;:\\]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")

# auto_reload off: templates ship with the code, and checking their mtime cost a stat() per email.
_html = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, auto_reload=False,
                           undefined=jinja2.StrictUndefined)
# The text part is not HTML: no escaping, but every value is still made one-line where it matters.
_text = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=False,  # noqa: S701
                           undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, auto_reload=False,
                           keep_trailing_newline=True)


@dataclass(frozen=True)
class Rendered:
    """An email's content before addressing: subject, plain text and HTML."""

    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class DocumentLine:
    title: str
    category_label: str
    date: str


def _render(name: str, *, subject: str, heading: str, preheader: str, brand: Branding,
            button_label: str | None = None, button_url: str | None = None, **values) -> Rendered:
    support_email = brand.support.email if brand.support.email and _EMAIL.match(brand.support.email) else None
    context = {
        "subject": subject, "heading": heading, "preheader": preheader, "brand": brand,
        "support": {"email": support_email, "phone": domain.one_line(brand.support.phone, limit=40),
                    "hours": domain.one_line(brand.support.hours, limit=200)},
        "button_label": button_label, "button_url": button_url, "p": _P, "small": _SMALL, **values,
    }
    text = _text.get_template(f"{name}.txt").render(context)
    text = re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
    return Rendered(subject=subject, text=text, html=_html.get_template(f"{name}.html").render(context))


def login_url(public_base_url: str, brand: Branding) -> str:
    """The tenant's login form (gateway `GET /login/form`), the way to the dashboard and documents."""
    return f"{public_base_url}/login/form?" + urlencode({"client": brand.client_code, "societe": brand.societe_code})


def verification_email(payload: domain.VerificationRequested, brand: Branding, *, issued_at: datetime,
                       public_base_url: str, account: dict | None = None) -> Rendered:
    """"Confirmation de votre adresse email extranet" with VALIDER MON EMAIL.

    It says which agency, role and lots the activation is for, so that someone who receives it
    for an activation they did not start (a letter holder typed their address) can tell and ignore it.
    """
    return _render(
        "verification", brand=brand,
        subject="Confirmation de votre adresse email extranet",
        heading="Confirmez votre adresse email",
        preheader="Plus qu'une dernière étape afin de finaliser l'activation de votre espace.",
        button_label="VALIDER MON EMAIL",
        button_url=domain.check_link(payload.verification_url, public_base_url),
        display_name=domain.one_line(payload.display_name, limit=100), email=payload.email,
        validity=domain.validity(issued_at, payload.expires_at), expires=domain.paris_time(payload.expires_at),
        agency=domain.one_line(brand.name, limit=100),
        role_label=domain.ROLE_LABELS.get(payload.role or "", ""),
        places=domain.account_places(account),
    )


def reset_email(payload: domain.ResetRequested, brand: Branding, *, issued_at: datetime,
                public_base_url: str) -> Rendered:
    """"Réinitialisation de votre mot de passe" with RÉINITIALISER MON MOT DE PASSE."""
    return _render(
        "reset", brand=brand,
        subject="Réinitialisation de votre mot de passe",
        heading="Réinitialisation de votre mot de passe",
        preheader="Vous venez de demander une réinitialisation du mot de passe de votre compte Extranet.",
        button_label="RÉINITIALISER MON MOT DE PASSE",
        button_url=domain.check_link(payload.reset_url, public_base_url),
        validity=domain.validity(issued_at, payload.expires_at), expires=domain.paris_time(payload.expires_at),
    )


def staff_invitation_email(payload: domain.StaffInvited, brand: Branding, *, issued_at: datetime,
                           public_base_url: str) -> Rendered:
    """The invitation to the agency's console, with ACCEPTER L'INVITATION (link built here from the
    tenant's codes and the public base URL, never from a request)."""
    link = f"{public_base_url.rstrip('/')}/agence/invitation?" + urlencode(
        {"client": brand.client_code, "societe": brand.societe_code, "token": payload.invitation_token})
    agency = domain.one_line(brand.name, limit=100)
    return _render(
        "staff_invitation", brand=brand,
        subject=f"Invitation à la console de {agency}",
        heading="Votre accès à la console de l'agence",
        preheader=f"Vous êtes invité à rejoindre la console extranet de {agency}.",
        button_label="ACCEPTER L'INVITATION", button_url=domain.check_link(link, public_base_url),
        display_name=domain.one_line(payload.display_name, limit=100), agency=agency,
        invited_by=domain.one_line(payload.invited_by, limit=100),
        role=domain.STAFF_ROLE_LABELS[payload.role], email=payload.email,
        validity=domain.validity(issued_at, payload.expires_at), expires=domain.paris_time(payload.expires_at),
    )


def account_unlinked_email(payload: domain.AccountUnlinked, brand: Branding, *, account: dict | None,
                           public_base_url: str) -> Rendered:
    """A notice that the agency took an account away from the person's login, and why."""
    return _render(
        "account_unlinked", brand=brand,
        subject="Un compte n'est plus rattaché à votre identifiant",
        heading="Un compte n'est plus accessible",
        preheader="Votre agence a retiré un compte de votre accès extranet.",
        button_label="ME CONNECTER", button_url=login_url(public_base_url, brand),
        email=payload.email, agency=domain.one_line(brand.name, limit=100),
        role=domain.ROLE_LABELS.get(payload.role, domain.one_line(payload.role, limit=50)),
        places=domain.account_places(account), reason=domain.UNLINK_REASONS[payload.reason],
    )


def password_changed_email(payload: domain.PasswordChanged, brand: Branding) -> Rendered:
    """A security notice: no button, nothing in it changes anything; says whom to contact."""
    done = "réinitialisé" if payload.reason == "reset" else "modifié"
    return _render(
        "password_changed", brand=brand,
        subject=f"Votre mot de passe a été {done}",
        heading=f"Votre mot de passe a été {done}",
        preheader="Avis de sécurité concernant votre compte Extranet.",
        email=payload.email, reason=payload.reason, changed=domain.paris_time(payload.changed_at),
    )


MFA_SUBJECTS = {
    ("added", "totp"): "Application d'authentification ajoutée",
    ("added", "passkey"): "Nouvelle clé d'accès ajoutée",
    ("removed", "totp"): "Application d'authentification retirée",
    ("removed", "passkey"): "Clé d'accès retirée",
}
MFA_RECOVERY_SUBJECT = "Code de secours utilisé"


def mfa_changed_email(payload: domain.MfaChanged, brand: Branding) -> Rendered:
    """A security notice of a second-factor change: no button; says whom to contact."""
    subject = MFA_RECOVERY_SUBJECT if payload.kind == "recovery_used" else MFA_SUBJECTS.get(
        (payload.kind, payload.factor), "Double authentification modifiée")
    return _render(
        "mfa_changed", brand=brand, subject=subject, heading=subject,
        preheader="Avis de sécurité concernant votre compte Extranet.",
        email=payload.email, kind=payload.kind, factor=payload.factor, changed=domain.paris_time(payload.changed_at),
    )


def account_linked_email(payload: domain.AccountLinked, brand: Branding, *, public_base_url: str) -> Rendered:
    """A notice that a new lot is reachable with the person's login (so a surprise is noticed)."""
    return _render(
        "account_linked", brand=brand,
        subject="Un nouveau lot est accessible avec votre identifiant",
        heading="Un nouveau lot est accessible",
        preheader="Un compte vient d'être rattaché à votre compte Extranet.",
        button_label="ME CONNECTER", button_url=login_url(public_base_url, brand),
        email=payload.email, via=payload.via,
        role=domain.ROLE_LABELS.get(payload.role, domain.one_line(payload.role, limit=50)),
    )


def consent_changed_email(payload: domain.ConsentChanged, brand: Branding, *, email: str,
                          public_base_url: str) -> Rendered:
    """The confirmation of a consent given or revoked: what, for which lots, when, the text accepted."""
    done = "enregistré" if payload.given else "retiré"
    lots = ", ".join(f"lot {domain.one_line(lot.number or lot.ref, limit=64)}" for lot in payload.lots)
    return _render(
        "consent_changed", brand=brand,
        subject=f"Votre accord pour la voie électronique a été {done}",
        heading=f"Accord {done} : {domain.one_line(payload.kind_label, limit=200).lower()}",
        preheader="Confirmation de votre choix de notification par voie électronique.",
        button_label="VOIR MON PROFIL", button_url=login_url(public_base_url, brand),
        email=email, given=payload.given, kind_label=domain.one_line(payload.kind_label, limit=200),
        account_ref=domain.one_line(payload.account_ref, limit=64), lots=lots,
        at=domain.paris_time(payload.at), wording=domain.one_line(payload.wording, limit=4000),
    )


def documents_email(documents: list[DocumentLine], brand: Branding, *, public_base_url: str) -> Rendered:
    """"Nouveau document disponible": one email for every document published in the window."""
    total = len(documents)
    subject = "Nouveau document disponible" if total == 1 else f"{total} nouveaux documents disponibles"
    lines = [DocumentLine(domain.one_line(d.title, limit=300), domain.one_line(d.category_label, limit=100),
                          domain.french_date(d.date)) for d in documents[:MAX_DIGEST_LINES]]
    return _render(
        "documents", brand=brand, subject=subject, heading=subject,
        preheader=lines[0].title if total == 1 else f"{total} documents vous attendent dans votre espace.",
        button_label="CONSULTER MES DOCUMENTS", button_url=login_url(public_base_url, brand),
        documents=lines, total=total, more=total - len(lines),
    )


def build_message(rendered: Rendered, *, sender: str, recipient: str, message_id: str, date: datetime,
                  brand: Branding, display_name: str | None = None) -> bytes:
    """Address a rendered email: the RFC 5322 bytes handed to SMTP (ASCII only, CRLF line ends).

    Each header is parsed and folded by ``email.policy.SMTP`` (display names quoted or RFC 2047
    encoded, CR/LF refused) from values made one-line first. The MIME skeleton and the
    quoted-printable bodies are written here: building an ``EmailMessage`` and flattening it cost
    about 5 ms per email, more than everything else in the pipeline together (see
    docs/benchmarks.md); the result is the same structure, parsed back in the tests.
    """
    tenant_name = domain.one_line(brand.name, limit=100)
    headers = [
        _address_header("From", tenant_name, sender),
        _address_header("To", domain.one_line(display_name, limit=100), recipient),
    ]
    support = brand.support.email
    if support and _EMAIL.match(support):
        # Replies reach the agency's help contact, not an unread sender mailbox.
        headers.append(_address_header("Reply-To", tenant_name, support))
    headers += [
        _header("Subject", domain.one_line(rendered.subject, limit=200)),
        _fold("Date", format_datetime(date)),
        _fold("Message-ID", message_id),
        _STATIC_HEADERS,
    ]
    boundary = b"=_" + secrets.token_hex(16).encode()  # "=_" never occurs in quoted-printable text
    return b"".join([
        *headers,
        b'Content-Type: multipart/alternative; boundary="', boundary, b'"\r\n\r\n',
        b"--", boundary, b"\r\n", _qp_part(b"text/plain", rendered.text),
        b"\r\n--", boundary, b"\r\n", _qp_part(b"text/html", rendered.html),
        b"\r\n--", boundary, b"--\r\n",
    ])


_POLICY = email.policy.SMTP
_STATIC_HEADERS = b"MIME-Version: 1.0\r\nContent-Language: fr\r\nAuto-Submitted: auto-generated\r\n" \
                  b"X-Auto-Response-Suppress: All\r\n"


def _fold(name: str, value: str) -> bytes:
    """One header line as the email package's SMTP policy folds it (ValueError on CR/LF)."""
    return _POLICY.fold_binary(name, _POLICY.header_store_parse(name, value)[1])


# Subjects and tenant addresses repeat from one email to the next: fold them once.
_header = functools.lru_cache(maxsize=1024)(_fold)


@functools.lru_cache(maxsize=4096)
def _address_header(name: str, display_name: str, address: str) -> bytes:
    local, _, host = address.rpartition("@")
    value = Address(display_name=display_name, username=local, domain=host)
    return _POLICY.fold_binary(name, _POLICY.header_store_parse(name, value)[1])


def _qp_part(content_type: bytes, text: str) -> bytes:
    body = binascii.b2a_qp(text.replace("\r\n", "\n").encode("utf-8"), istext=True).replace(b"\n", b"\r\n")
    return b"Content-Type: " + content_type + b'; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable' \
        b"\r\n\r\n" + body
