"""The document categories (shared/DOCUMENT-CATEGORIES.md) as data.

``audience`` is where a category may be published: ``ALL`` (every coproprietaire of a
residence), ``CS`` (its conseil syndical) or ``ACCOUNT`` (one account whose role is ``role``).
``legal`` marks the minimum content of décret n° 2019-502. Groups are listed in dashboard order.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CATEGORIES", "GROUPS", "Category", "category"]


@dataclass(frozen=True)
class Category:
    code: str
    label: str
    group: str
    audience: str  # ALL | CS | ACCOUNT
    role: str | None  # the account role for ACCOUNT categories
    legal: bool


# (group code, French label), in the order the dashboard shows them.
GROUPS: tuple[tuple[str, str], ...] = (
    ("copropriete", "Copropriété"),
    ("assemblees", "Assemblées générales"),
    ("lot", "Mon lot"),
    ("conseil", "Conseil syndical"),
    ("bailleur", "Propriétaire bailleur"),
    ("locataire", "Locataire"),
)

_C, _O, _B, _L = "coproprietaire", None, "bailleur", "locataire"
_ROWS: tuple[tuple[str, str, str, str, str | None, bool], ...] = (
    ("CP_RCP", "Règlement de copropriété et modificatifs", "copropriete", "ALL", _O, True),
    ("CP_EDD", "État descriptif de division", "copropriete", "ALL", _O, True),
    ("CP_FICHE", "Fiche synthétique de la copropriété", "copropriete", "ALL", _O, True),
    ("CP_CARNET", "Carnet d'entretien de l'immeuble", "copropriete", "ALL", _O, True),
    ("CP_DIAG", "Diagnostics techniques des parties communes", "copropriete", "ALL", _O, True),
    ("CP_ASSUR", "Contrats d'assurance de l'immeuble", "copropriete", "ALL", _O, True),
    ("CP_CONTRAT", "Contrats et marchés en cours", "copropriete", "ALL", _O, True),
    ("CP_MAINT", "Contrats d'entretien et de maintenance des équipements", "copropriete", "ALL", _O, True),
    ("CP_SYNDIC", "Contrat de syndic", "copropriete", "ALL", _O, True),
    ("CP_BUDGET", "Budget prévisionnel", "copropriete", "ALL", _O, False),
    ("CP_INFO", "Notes d'information", "copropriete", "ALL", _O, False),
    ("AG_CONVOC", "Convocation et ordre du jour", "assemblees", "ALL", _O, False),
    ("AG_ANNEXE", "Annexes à la convocation", "assemblees", "ALL", _O, False),
    ("AG_PV", "Procès-verbal d'assemblée générale (3 dernières AG)", "assemblees", "ALL", _O, True),
    ("AG_DEVIS", "Devis de travaux approuvés en AG", "assemblees", "ALL", _O, True),
    ("AG_VPC", "Formulaire de vote par correspondance", "assemblees", "ACCOUNT", _C, False),
    ("LOT_APPEL", "Appels de fonds (3 dernières années)", "lot", "ACCOUNT", _C, True),
    ("LOT_COMPTE", "Compte individuel", "lot", "ACCOUNT", _C, True),
    ("LOT_CHARGES", "Charges payées (2 derniers exercices clos)", "lot", "ACCOUNT", _C, True),
    ("LOT_FDT", "Quote-part du fonds de travaux", "lot", "ACCOUNT", _C, True),
    ("LOT_REGUL", "Régularisation annuelle des charges", "lot", "ACCOUNT", _C, False),
    ("LOT_RELANCE", "Relances", "lot", "ACCOUNT", _C, False),
    ("CS_BALANCE", "Balances générales et relevé général des charges et produits", "conseil", "CS", _O, True),
    ("CS_BANQUE", "Relevés du compte bancaire séparé", "conseil", "CS", _O, True),
    ("CS_JUSTICE", "Procédures en cours et décisions de justice", "conseil", "CS", _O, True),
    ("CS_LISTE", "Liste des copropriétaires", "conseil", "CS", _O, True),
    ("CS_SYNDIC_PRO", "Carte professionnelle et attestations d'assurance du syndic", "conseil", "CS", _O, True),
    ("CS_FACTURES", "Factures", "conseil", "CS", _O, False),
    ("BAI_MANDAT", "Mandat de gestion", "bailleur", "ACCOUNT", _B, False),
    ("BAI_BAIL", "Contrat de location", "bailleur", "ACCOUNT", _B, False),
    ("BAI_CRG", "Compte rendu de gestion (CRG)", "bailleur", "ACCOUNT", _B, False),
    ("BAI_DECOMPTE", "Décomptes", "bailleur", "ACCOUNT", _B, False),
    ("BAI_LOYERS", "Suivi des loyers perçus et des charges locatives", "bailleur", "ACCOUNT", _B, False),
    ("BAI_FISCAL", "Aide à la déclaration des revenus fonciers", "bailleur", "ACCOUNT", _B, False),
    ("BAI_EDL", "États des lieux", "bailleur", "ACCOUNT", _B, False),
    ("LOC_QUITT", "Quittances de loyer", "locataire", "ACCOUNT", _L, False),
    ("LOC_AVIS", "Avis d'échéance", "locataire", "ACCOUNT", _L, False),
    ("LOC_BAIL", "Contrat de location", "locataire", "ACCOUNT", _L, False),
    ("LOC_REGUL", "Régularisations de charges", "locataire", "ACCOUNT", _L, False),
    ("LOC_EDL", "États des lieux", "locataire", "ACCOUNT", _L, False),
    ("LOC_ATTEST", "Attestations de loyer", "locataire", "ACCOUNT", _L, False),
)

CATEGORIES: dict[str, Category] = {row[0]: Category(*row) for row in _ROWS}


def category(code: str) -> Category | None:
    """The category with this code, or None."""
    return CATEGORIES.get(code)
