"""French labels the dashboard shows: roles, document groups in their order, category labels.

From /work/shared/DOCUMENT-CATEGORIES.md; documents sends ``category_label`` and ``group`` with each
document, these serve the filters (facets carry only codes) and the order of the groups.
"""

from __future__ import annotations

__all__ = ["CATEGORY_LABELS", "GROUP_ORDER", "ROLE_LABELS", "category_label", "role_label"]

ROLE_LABELS = {"coproprietaire": "Copropriétaire", "bailleur": "Propriétaire bailleur", "locataire": "Locataire"}
GROUP_ORDER = ["Copropriété", "Assemblées générales", "Mon lot", "Conseil syndical", "Propriétaire bailleur",
               "Locataire"]
CATEGORY_LABELS = {
    "CP_RCP": "Règlement de copropriété et modificatifs", "CP_EDD": "État descriptif de division",
    "CP_FICHE": "Fiche synthétique de la copropriété", "CP_CARNET": "Carnet d'entretien de l'immeuble",
    "CP_DIAG": "Diagnostics techniques des parties communes", "CP_ASSUR": "Contrats d'assurance de l'immeuble",
    "CP_CONTRAT": "Contrats et marchés en cours",
    "CP_MAINT": "Contrats d'entretien et de maintenance des équipements", "CP_SYNDIC": "Contrat de syndic",
    "CP_BUDGET": "Budget prévisionnel", "CP_INFO": "Notes d'information",
    "AG_CONVOC": "Convocation et ordre du jour", "AG_ANNEXE": "Annexes à la convocation",
    "AG_PV": "Procès-verbal d'assemblée générale (3 dernières AG)", "AG_DEVIS": "Devis de travaux approuvés en AG",
    "AG_VPC": "Formulaire de vote par correspondance",
    "LOT_APPEL": "Appels de fonds (3 dernières années)", "LOT_COMPTE": "Compte individuel",
    "LOT_CHARGES": "Charges payées (2 derniers exercices clos)", "LOT_FDT": "Quote-part du fonds de travaux",
    "LOT_REGUL": "Régularisation annuelle des charges", "LOT_RELANCE": "Relances",
    "CS_BALANCE": "Balances générales et relevé général des charges et produits",
    "CS_BANQUE": "Relevés du compte bancaire séparé", "CS_JUSTICE": "Procédures en cours et décisions de justice",
    "CS_LISTE": "Liste des copropriétaires",
    "CS_SYNDIC_PRO": "Carte professionnelle et attestations d'assurance du syndic", "CS_FACTURES": "Factures",
    "BAI_MANDAT": "Mandat de gestion", "BAI_BAIL": "Contrat de location", "BAI_CRG": "Compte rendu de gestion (CRG)",
    "BAI_DECOMPTE": "Décomptes", "BAI_LOYERS": "Suivi des loyers perçus et des charges locatives",
    "BAI_FISCAL": "Aide à la déclaration des revenus fonciers", "BAI_EDL": "États des lieux",
    "LOC_QUITT": "Quittances de loyer", "LOC_AVIS": "Avis d'échéance", "LOC_BAIL": "Contrat de location",
    "LOC_REGUL": "Régularisations de charges", "LOC_EDL": "États des lieux", "LOC_ATTEST": "Attestations de loyer",
}


def role_label(role: str | None) -> str:
    return ROLE_LABELS.get(role or "", role or "")


def category_label(code: str) -> str:
    return CATEGORY_LABELS.get(code, code)
