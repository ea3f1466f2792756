"""Consent to electronic notification: the kinds, the wording shown, which documents need which.

Pure (no I/O). Loi n° 65-557 art. 42-1 and décret n° 67-223 art. 64-1 to 64-4: a co-owner's
express consent is needed before notifications and mises en demeure reach them by electronic
means; art. 35-2: the same for fund calls. Each kind is given or revoked separately, at any time.
The wording is versioned: the register keeps, for each change, the exact text the person saw.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

__all__ = ["CATEGORY_KIND", "KINDS", "WORDING_VERSION", "ConsentState", "kind_for_category", "state_at", "wording"]

WORDING_VERSION = "2026-12-v1"
_REVOCATION = ("Je peux retirer cet accord à tout moment depuis mon profil ; chaque accord et chaque retrait est "
               "enregistré avec sa date et son heure et m'est confirmé par email.")


@dataclass(frozen=True)
class Kind:
    code: str
    label: str
    text: str


KINDS: dict[str, Kind] = {k.code: k for k in (
    Kind("notifications", "Notifications (convocations aux assemblées générales, procès-verbaux)",
         "J'accepte de recevoir par voie électronique, pour ce compte, les notifications de mon syndic, notamment "
         "les convocations aux assemblées générales et les procès-verbaux (loi n° 65-557 du 10 juillet 1965, "
         "art. 42-1 ; décret n° 67-223 du 17 mars 1967, art. 64-1 à 64-4)."),
    Kind("mises_en_demeure", "Mises en demeure",
         "J'accepte de recevoir par voie électronique, pour ce compte, les mises en demeure de mon syndic "
         "(loi n° 65-557 du 10 juillet 1965, art. 42-1 ; décret n° 67-223 du 17 mars 1967, art. 64-1 à 64-4)."),
    Kind("appels_de_fonds", "Appels de fonds",
         "J'accepte de recevoir par voie électronique, pour ce compte, les appels de fonds de mon syndic "
         "(décret n° 67-223 du 17 mars 1967, art. 35-2)."),
)}

# Documents whose electronic sending is a notification in law: without the matching consent, the
# agency must send them by post (the extranet never counts them as notified).
CATEGORY_KIND = {"AG_CONVOC": "notifications", "LOT_APPEL": "appels_de_fonds"}


def wording(kind: str) -> str:
    """The full text shown for one kind (the same text is stored with every change)."""
    return f"{KINDS[kind].text} {_REVOCATION}"


def kind_for_category(category: str) -> str | None:
    return CATEGORY_KIND.get(category)


@dataclass(frozen=True)
class ConsentState:
    given: bool
    since: datetime | None  # when the current state began (None: never asked, i.e. no consent)


def state_at(changes: Iterable[tuple[datetime, bool]], moment: datetime) -> ConsentState:
    """The state of one (account, kind) at ``moment`` from its changes ``(at, given)`` in order."""
    state = ConsentState(False, None)
    for at, given in changes:
        if at > moment:
            break
        state = ConsentState(given, at)
    return state
