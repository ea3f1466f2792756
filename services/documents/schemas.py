"""Request bodies and query strings of the documents service (pydantic)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from services.documents.errors import FieldError, InvalidDocument

__all__ = [
    "AgencyListQuery",
    "ArchiveIn",
    "AudienceIn",
    "ComplianceQuery",
    "ConsentIn",
    "ConsentLot",
    "ListQuery",
    "MetadataIn",
    "ProofQuery",
    "RegisterQuery",
    "field_errors",
    "parse",
]


_ONE_TARGET_SCHEMA = {"oneOf": [
    {"required": ["account_ref"],
     "not": {"anyOf": [{"required": ["residence_ref"]},
                       {"required": ["council_only"], "properties": {"council_only": {"const": True}}}]}},
    {"required": ["residence_ref"], "not": {"required": ["account_ref"]}},
]}


class AudienceIn(BaseModel):
    """One account (``account_ref``), or a residence (``residence_ref``, its council with ``council_only``)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_ONE_TARGET_SCHEMA)

    account_ref: str | None = Field(default=None, min_length=1, max_length=64)
    residence_ref: str | None = Field(default=None, min_length=1, max_length=64)
    council_only: bool = False

    @model_validator(mode="after")
    def _one_target(self):
        if (self.account_ref is None) == (self.residence_ref is None):
            raise ValueError("give exactly one of account_ref or residence_ref")
        if self.council_only and self.residence_ref is None:
            raise ValueError("council_only applies to a residence_ref audience")
        return self


class MetadataIn(BaseModel):
    """The ``metadata`` part of an upload (AGENCY-API.md, Documents)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    category: str = Field(min_length=1, max_length=32)
    title: str = Field(min_length=1, max_length=300)
    date: date
    audience: AudienceIn


class ListQuery(BaseModel):
    """``GET /v1/documents`` query string."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    tenant_id: uuid.UUID | None = None
    account_id: uuid.UUID | None = None
    category: str | None = Field(default=None, max_length=32)
    year: int | None = Field(default=None, ge=1900, le=2999)
    q: str | None = Field(default=None, max_length=200)
    cursor: str | None = Field(default=None, max_length=200)
    limit: int = Field(default=20, ge=1, le=100)

    # The gateway forwards empty form fields as empty strings: they mean "no filter".
    @field_validator("tenant_id", "account_id", "category", "year", "q", "cursor", mode="before")
    @classmethod
    def _empty_is_none(cls, value):
        return None if value == "" else value


class AgencyListQuery(BaseModel):
    """``GET /api/v1/documents`` query string (the agency's documents)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    category: str | None = Field(default=None, max_length=32)
    residence_ref: str | None = Field(default=None, max_length=64)
    year: int | None = Field(default=None, ge=1900, le=2999)
    status: Literal["published", "withdrawn"] | None = None
    q: str | None = Field(default=None, max_length=200)
    cursor: str | None = Field(default=None, max_length=200)
    limit: int = Field(default=50, ge=1, le=200)

    @field_validator("category", "residence_ref", "year", "status", "q", "cursor", mode="before")
    @classmethod
    def _empty_is_none(cls, value):
        return None if value == "" else value


class ComplianceQuery(BaseModel):
    """``GET /api/v1/documents/compliance`` query string: one residence, or all of them."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    residence_ref: str | None = Field(default=None, max_length=64)

    @field_validator("residence_ref", mode="before")
    @classmethod
    def _empty_is_none(cls, value):
        return None if value == "" else value


class ProofQuery(BaseModel):
    """``GET /api/v1/documents/{id}/proof`` and ``GET /api/v1/documents/proof?account_ref=``."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    format: Literal["json", "csv", "pdf"] | None = None
    account_ref: str | None = Field(default=None, min_length=1, max_length=64)

    @field_validator("format", "account_ref", mode="before")
    @classmethod
    def _empty_is_none(cls, value):
        return None if value == "" else value


class ConsentLot(BaseModel):
    """A lot the account covers, as the person's page showed it (recorded with the change)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    ref: str = Field(min_length=1, max_length=64)
    number: str | None = Field(default=None, max_length=64)
    residence_ref: str | None = Field(default=None, max_length=64)


class ConsentIn(BaseModel):
    """``POST /v1/consents``: give or revoke one kind of consent for one account."""

    model_config = ConfigDict(extra="forbid")

    account_id: uuid.UUID
    kind: Literal["notifications", "mises_en_demeure", "appels_de_fonds"]
    given: bool
    wording_version: str = Field(min_length=1, max_length=40)
    lots: list[ConsentLot] = Field(default_factory=list, max_length=500)


class RegisterQuery(BaseModel):
    """``GET /api/v1/consents``: one residence, the state at a moment (default: now), JSON or CSV."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    residence_ref: str = Field(min_length=1, max_length=64)
    at: date | datetime | None = None
    format: Literal["json", "csv"] | None = None
    view: Literal["changes", "state"] = "changes"

    @field_validator("at", "format", mode="before")
    @classmethod
    def _empty_is_none(cls, value):
        return None if value == "" else value


class ArchiveIn(BaseModel):
    """``POST /v1/archives/link``: one year and/or one category, optionally one tenant."""

    model_config = ConfigDict(extra="forbid")

    year: int | None = Field(default=None, ge=1900, le=2999)
    category: str | None = Field(default=None, max_length=32)
    tenant_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _something(self):
        if self.year is None and self.category is None:
            raise ValueError("give a year or a category")
        return self


def field_errors(exc: ValidationError, prefix: str = "") -> list[FieldError]:
    errors = []
    for error in exc.errors(include_url=False, include_input=False):
        path = ".".join(str(p) for p in (prefix, *error["loc"]) if p != "")
        errors.append(FieldError(path, str(error["msg"]).removeprefix("Value error, ")))
    return errors


def parse(model: type[BaseModel], data, *, prefix: str = ""):
    """Validate ``data`` (a dict) into ``model``; :class:`InvalidDocument` (422) with every error path."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidDocument(errors=field_errors(exc, prefix)) from None
