"""French messages for the error codes of identity (docs/internal-api.md), by page."""

from __future__ import annotations

import math
from datetime import datetime

from gateway import waiting
from gateway.upstream import Reply

__all__ = ["LOGIN_INVALID", "PROVISIONAL_INVALID", "retry_after_seconds", "wait_message", "wait_until"]

PROVISIONAL_INVALID = "Identifiant ou mot de passe provisoire incorrect."
LOGIN_INVALID = "Adresse mail ou mot de passe incorrect."
MERGE_INVALID = "Mot de passe incorrect."
OLD_PASSWORD_INVALID = "Ancien mot de passe incorrect."  # noqa: S105
EMAIL_INVALID = "Veuillez saisir une adresse email valide."
REQUIRED = "Ce champ est obligatoire."
TERMS_REQUIRED = "Vous devez accepter les CGU et la politique de confidentialité."
CONFIRMATION_MISMATCH = "La confirmation ne correspond pas au mot de passe."
POLICY_FAILED = "Le mot de passe ne respecte pas tous les critères."
FLOW_EXPIRED = "Votre activation a expiré. Veuillez saisir à nouveau vos identifiants provisoires."
RESENT = "Un nouvel email vient de vous être envoyé."
SESSION_EXPIRED = "Votre session a expiré. Veuillez vous reconnecter."
PASSWORD_CHANGED = "Votre mot de passe a bien été modifié."  # noqa: S105

# Second factor (issue 15).
MFA_CODE_INVALID = ("Code incorrect ou déjà utilisé. Vérifiez le code affiché par votre application, "
                    "ou utilisez un code de secours.")
MFA_CODE_EXPIRED = "Le délai pour saisir le code est dépassé. Veuillez vous reconnecter."
MFA_ENROL_CODE_INVALID = ("Code incorrect. Saisissez le code à 6 chiffres affiché en ce moment par votre "
                          "application (il change toutes les 30 secondes).")
MFA_PASSWORD_INVALID = "Mot de passe incorrect."  # noqa: S105
MFA_ADDED = "La double authentification est activée. Gardez vos codes de secours en lieu sûr."
MFA_REMOVED = "L'application d'authentification a été retirée de votre compte."
MFA_ALREADY = "Une application d'authentification est déjà enregistrée pour votre compte."
MFA_REQUIRED_BY_AGENCY = ("Votre agence demande une double authentification : ajoutez d'abord une autre méthode "
                          "avant de retirer celle-ci.")
# A wrong code counts like a wrong password: the same delays and lock, said the same way.
MFA_WAIT = ("Par sécurité, après plusieurs essais, la saisie du code est suspendue pour un moment. "
            "Vous pourrez réessayer {when}.")


# Waits (HTTP 429) are information, not errors: say what happened and from when to come back.
# ``{when}`` is gateway.waiting.from_time(): "à partir de 14 h 32" (Paris time, rounded up).
RESEND_SENT_WAIT = "Un email vient de vous être envoyé. Vous pourrez en demander un nouveau {when}."
RESENT_WAIT = "Un nouvel email vient de vous être envoyé. Vous pourrez en demander un nouveau {when}."
RESEND_WAIT = "Un email vous a déjà été envoyé. Vous pourrez en demander un nouveau {when}."
# Known and unknown provisional identifiers are locked alike (identity): one wording for both.
PROVISIONAL_WAIT = ("Par sécurité, après plusieurs essais, la connexion avec ces identifiants provisoires est "
                    "suspendue pour un moment. Vous pourrez réessayer {when}.")
EMAIL_CHOICE_WAIT = ("Par sécurité, le nombre d'adresses email que l'on peut essayer avec ces identifiants "
                     "provisoires est limité. "
                     "Vous pourrez en saisir une nouvelle {when}.")
# Per client IP, whatever the address typed: it never tells whether an address is known.
LOGIN_WAIT = ("Par sécurité, après plusieurs essais, la connexion est suspendue pour un moment. "
              "Vous pourrez réessayer {when}.")
# Merge and password change: the wrong-password delays and lock of the person (login itself answers
# "incorrect" while locked, as for an unknown address).
PERSON_LOCK_WAIT = ("Par sécurité, après plusieurs essais, la saisie du mot de passe est suspendue pour un moment. "
                    "Vous pourrez réessayer {when}.")
FORGOT_WAIT = ("Plusieurs demandes viennent déjà d'être faites. Si un compte correspond à cet identifiant, "
               "un email de réinitialisation lui a été envoyé\u00a0: pensez à vérifier vos courriers indésirables. "
               "Vous pourrez faire une nouvelle demande {when}.")
OTHER_WAIT = "Par sécurité, cette action est suspendue pour un moment. Vous pourrez réessayer {when}."
BUSY = "Le service est très sollicité en ce moment. Veuillez réessayer dans quelques instants."


def retry_after_seconds(reply: Reply) -> int:
    """``retry_after`` of a 429 (body, else the Retry-After header), in seconds; 60 when absent."""
    value = reply.body.get("retry_after") if isinstance(reply.body, dict) else None
    if value is None and reply.headers is not None:
        value = reply.headers.get("Retry-After")
    try:
        return max(1, math.ceil(float(value)))
    except (TypeError, ValueError, OverflowError):
        return 60


def wait_until(reply: Reply, *, now: datetime, at: datetime | None = None) -> datetime:
    """When the wait of a 429 ends: ``at`` if known, else ``now`` + its ``retry_after``."""
    return waiting.available_at(now=now, retry_after=retry_after_seconds(reply), at=at)


def wait_message(reply: Reply, template: str, *, now: datetime, at: datetime | None = None) -> str:
    """The information for a 429: ``template`` with its ``{when}``; a saturated service says so."""
    if reply.error == "busy":
        return BUSY
    return template.format(when=waiting.from_time(wait_until(reply, now=now, at=at), now=now))

# Consents to electronic notification (profile)
CONSENT_SAVED = "Vos choix sont enregistrés. Un email de confirmation vous est envoyé pour chaque changement."
CONSENT_UNCHANGED = "Aucun changement : vos choix étaient déjà ceux-ci."
CONSENT_WORDING_CHANGED = ("Le texte de ces accords a changé depuis l'affichage de la page. Relisez-le ci-dessous, "
                           "puis enregistrez à nouveau vos choix.")
CONSENT_UNKNOWN_ACCOUNT = "Ce compte n'est pas l'un de vos comptes de copropriétaire."
CONSENT_FAILED = "Vos choix n'ont pas pu être enregistrés. Réessayez dans un instant."
