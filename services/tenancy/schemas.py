"""Request bodies of the public API (pydantic), and the conversion of their errors to paths."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator

from common.errors import FieldError
from services.tenancy.domain import CODE_PATTERN, MAX_REPORTED_ERRORS, REF_PATTERN

__all__ = [
    "AccountIn",
    "Branding",
    "CredentialsRequest",
    "DirectoryIn",
    "LotIn",
    "ResidenceIn",
    "Support",
    "TenantCreate",
    "TenantPatch",
    "TenantSettings",
    "field_errors",
]

Code = Annotated[str, Field(pattern=CODE_PATTERN)]
Ref = Annotated[str, Field(pattern=REF_PATTERN)]
Text = Annotated[str, Field(min_length=1, max_length=200)]
MfaRequirement = Literal["none", "council", "all"]
# A suggested address only: identity validates the real one when the person types it. A cheap
# check keeps 50,000-row imports fast (a full RFC validation per row costs seconds).
Email = Annotated[str, Field(max_length=254, pattern=r"^[^@\s;,]+@[^@\s;,]+\.[^@\s;,]+$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Support(_Strict):
    """The tenant's help contact, shown on "Besoin d'aide pour se connecter ?"."""

    email: Email | None = None
    phone: Annotated[str, Field(max_length=40)] | None = None
    hours: Annotated[str, Field(max_length=200)] | None = None


class Branding(_Strict):
    """The tenant's look on its login pages and emails."""

    primary_color: Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")] | None = None


class TenantSettings(_Strict):
    """Per-tenant policy overrides; ``password_min_length`` null = the deployment default."""

    password_min_length: Annotated[int, Field(ge=6, le=128)] | None = None
    credential_ttl_days: Annotated[int, Field(ge=1, le=365)] = 60
    # Second factor required of: nobody, the council members (conseil syndical), every person.
    mfa_requirement: MfaRequirement = "none"


class TenantCreate(_Strict):
    """``POST /api/v1/tenants``."""

    client_code: Code
    societe_code: Code
    name: Text
    kind: Literal["syndic", "gerance", "mixte"]
    support: Support = Support()
    branding: Branding = Branding()
    settings: TenantSettings = TenantSettings()


class TenantSettingsPatch(_Strict):
    password_min_length: Annotated[int, Field(ge=6, le=128)] | None = None
    credential_ttl_days: Annotated[int, Field(ge=1, le=365)] | None = None
    mfa_requirement: MfaRequirement | None = None

    @field_validator("credential_ttl_days", mode="before")
    @classmethod
    def _ttl_not_null(cls, value):
        if value is None:
            raise ValueError("credential_ttl_days cannot be null")
        return value


class TenantPatch(_Strict):
    """``PATCH /api/v1/tenants/{id}``: only the fields present change (``support``/``branding`` replace)."""

    name: Text | None = None
    support: Support | None = None
    branding: Branding | None = None
    status: Literal["active", "suspended"] | None = None
    settings: TenantSettingsPatch | None = None

    @model_validator(mode="after")
    def _no_null_fields(self):
        for name in ("name", "support", "branding", "status", "settings"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class ResidenceIn(_Strict):
    ref: Ref
    name: Text
    address: Annotated[str, Field(max_length=500)] = ""


class LotIn(_Strict):
    ref: Ref
    residence_ref: Ref
    number: Annotated[str, Field(min_length=1, max_length=32)]
    kind: Annotated[str, Field(max_length=64)] = ""


class AccountIn(_Strict):
    ref: Ref
    role: Literal["coproprietaire", "bailleur", "locataire"]
    display_name: Text
    email: Email | None = None
    lot_refs: Annotated[list[Ref], Field(min_length=1, max_length=500)]
    council: bool = False

    @field_validator("email", mode="before")
    @classmethod
    def _blank_email_is_none(cls, value):
        return None if isinstance(value, str) and not value.strip() else value


class DirectoryIn(_Strict):
    """``PUT /api/v1/directory``: an idempotent upsert of residences, lots and accounts."""

    residences: list[ResidenceIn] = []
    lots: list[LotIn] = []
    accounts: list[AccountIn] = []


class DirectoryHead(_Strict):
    """DirectoryIn with its accounts left as they came, to be validated a chunk at a time
    (ACCOUNT_LIST, services/tenancy/directory_sources.py) while the import writes the previous ones."""

    residences: list[ResidenceIn] = []
    lots: list[LotIn] = []
    accounts: list[Any] = []


ACCOUNT_LIST = TypeAdapter(list[AccountIn])


class CredentialsRequest(_Strict):
    """``POST /api/v1/provisional-credentials``: either ``account_refs`` or ``all_without_access``."""

    account_refs: Annotated[list[Ref], Field(min_length=1, max_length=100_000)] | None = None
    all_without_access: bool = False
    reset: bool = False

    @model_validator(mode="after")
    def _one_selector(self):
        if (self.account_refs is None) == (not self.all_without_access):
            raise ValueError("give either account_refs or all_without_access: true")
        return self


def _path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def field_errors(exc: ValidationError, *, prefix: str = "", within: tuple[str, int] | None = None) -> list[FieldError]:
    """pydantic errors as ``[{path: "accounts[3].role", message}]`` (model-level ones get the prefix).

    ``within=(name, offset)``: ``exc`` is about a slice of the list ``name`` starting at ``offset``;
    paths are those the whole list would give.
    """
    out = []
    for error in exc.errors(include_url=False, include_input=False)[:MAX_REPORTED_ERRORS]:
        loc = tuple(error["loc"])
        if within is not None:
            loc = (within[0], within[1] + loc[0], *loc[1:]) if loc and isinstance(loc[0], int) else (within[0], *loc)
        path = _path(loc)
        if prefix:
            path = f"{prefix}.{path}" if path else prefix
        out.append(FieldError(path or "$", str(error["msg"]).removeprefix("Value error, ")))
    return out


class UnlinkIn(BaseModel):
    """``POST /api/v1/directory/accounts/{ref}/unlink``: why the agency takes the account away from its person."""

    model_config = ConfigDict(extra="forbid")

    reason: Literal["sold", "wrong_merge", "other"]
    note: str = Field("", max_length=500)


class AgencySettingsPatch(_Strict):
    """The settings an agency chooses itself: whom it requires a second factor of."""

    mfa_requirement: MfaRequirement


class AgencyPatch(_Strict):
    """``PATCH /api/v1/agency``: what an agency changes of itself (help contact, colour, second-factor
    requirement); present fields replace."""

    support: Support | None = None
    branding: Branding | None = None
    settings: AgencySettingsPatch | None = None

    @model_validator(mode="after")
    def _something(self):
        if not self.model_fields_set:
            raise ValueError("give support, branding or settings")
        for name in ("support", "branding", "settings"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self
