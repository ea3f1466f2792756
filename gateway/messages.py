"""French messages for the error codes of identity (docs/internal-api.md), by page."""

from __future__ import annotations

import math

from gateway.upstream import Reply

__all__ = ["LOGIN_INVALID", "PROVISIONAL_INVALID", "retry_after_seconds", "retry_message"]

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


def retry_after_seconds(reply: Reply) -> int:
    """``retry_after`` of a 429 (body, else the Retry-After header), in seconds; 60 when absent."""
    value = reply.body.get("retry_after") if isinstance(reply.body, dict) else None
    if value is None and reply.headers is not None:
        value = reply.headers.get("Retry-After")
    try:
        return max(1, int(float(value)))
    except (TypeError, ValueError):
        return 60


def retry_message(reply: Reply) -> str:
    """"Trop de tentatives. Réessayez dans N minutes." (N rounded up, at least 1)."""
    minutes = max(1, math.ceil(retry_after_seconds(reply) / 60))
    unit = "minute" if minutes == 1 else "minutes"
    return f"Trop de tentatives. Réessayez dans {minutes} {unit}."
