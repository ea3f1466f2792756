"""The accounts of a directory document, read a chunk at a time.

The import asks for the next chunk of accounts while PostgreSQL upserts the previous one
(directory_import.import_directory), so a document is parsed and validated as it is written instead of
before. Each source keeps every problem it met, by line or path, in the order of the input; the
import reports them once it has read the whole document.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Protocol

import pydantic_core
from pydantic import ValidationError

from common.errors import BadRequest, FieldError
from services.tenancy.csvformat import CsvAccountsParser
from services.tenancy.domain import MAX_REPORTED_ERRORS, Account, Lot, Residence
from services.tenancy.schemas import ACCOUNT_LIST, DirectoryHead, field_errors

__all__ = ["AccountList", "AccountSource", "CsvAccounts", "JsonAccounts", "json_document_parts"]

# Bytes of a CSV body fed to the parser at a time (its lines are cut at these edges and joined).
_CSV_PIECE = 256 * 1024
_BOM = b"\xef\xbb\xbf"


class AccountSource(Protocol):
    """Accounts valid one by one, in chunks; ``errors`` (at most MAX_REPORTED_ERRORS) and
    ``error_count`` are the document's problems met so far, complete once ``chunks`` is exhausted."""

    errors: list[FieldError]
    error_count: int

    def chunks(self, size: int) -> Iterator[list[Account]]: ...

    def lot_refs_hint(self) -> set[str]:
        """The lot refs the accounts seem to name, read without validating, for one lookup before the
        chunks: a ref missing here (or spelt otherwise once validated) is looked up with its chunk."""


class _Problems:
    def __init__(self) -> None:
        self.errors: list[FieldError] = []
        self.error_count = 0

    def _add(self, errors: list[FieldError], count: int) -> None:
        self.errors.extend(errors[:MAX_REPORTED_ERRORS - len(self.errors)])
        self.error_count += count


class AccountList(_Problems):
    """Accounts already parsed (tests, callers holding a list)."""

    def __init__(self, accounts: list[Account]) -> None:
        super().__init__()
        self._accounts = accounts

    def chunks(self, size: int) -> Iterator[list[Account]]:
        for start in range(0, len(self._accounts), size):
            yield self._accounts[start:start + size]

    def lot_refs_hint(self) -> set[str]:
        return {ref for account in self._accounts for ref in account.lot_refs}


class JsonAccounts(_Problems):
    """The ``accounts`` of a JSON directory document, validated (AccountIn) a chunk at a time.

    Starts with the problems of the document's other parts, so that a document wrong in its lots
    and in its accounts gets both listed, in the document's order, as one validation would.
    """

    def __init__(self, items: list, head_errors: list[FieldError], head_error_count: int) -> None:
        super().__init__()
        self._items = items
        self._add(head_errors, head_error_count)

    def chunks(self, size: int) -> Iterator[list[Account]]:
        for start in range(0, len(self._items), size):
            try:
                valid = ACCOUNT_LIST.validate_python(self._items[start:start + size])
            except ValidationError as exc:
                self._add(field_errors(exc, within=("accounts", start)), exc.error_count())
                continue
            if not self.error_count:  # once wrong, the document is only read for its other problems
                yield [Account(a.ref, a.role, a.display_name, a.email, a.council, a.lot_refs, f"accounts[{start + i}]")
                       for i, a in enumerate(valid)]
        self._items = []

    def lot_refs_hint(self) -> set[str]:
        refs: set[str] = set()
        for item in self._items:
            lot_refs = item.get("lot_refs") if isinstance(item, dict) else None
            if isinstance(lot_refs, list):
                refs.update(ref for ref in lot_refs if isinstance(ref, str))
        return refs


def json_document_parts(body: bytes) -> tuple[list[Residence], list[Lot], JsonAccounts]:
    """Parse a JSON directory document: its residences and lots validated, its accounts to come."""
    try:
        raw = pydantic_core.from_json(body)
    except ValueError:
        raise BadRequest("The body is not valid JSON") from None
    try:
        head = DirectoryHead.model_validate(raw)
    except ValidationError as exc:
        items = raw.get("accounts") if isinstance(raw, dict) else None
        return [], [], JsonAccounts(items if isinstance(items, list) else [], field_errors(exc), exc.error_count())
    return ([Residence(r.ref, r.name, r.address) for r in head.residences],
            [Lot(lot.ref, lot.residence_ref, lot.number, lot.kind) for lot in head.lots],
            JsonAccounts(head.accounts, [], 0))


class CsvAccounts:
    """The accounts of a CSV body (csvformat), parsed a chunk at a time."""

    def __init__(self, body: bytes) -> None:
        self._body = body
        self._parser = CsvAccountsParser()

    @property
    def errors(self) -> list[FieldError]:
        return self._parser.errors

    @property
    def error_count(self) -> int:
        return self._parser.error_count

    def chunks(self, size: int) -> Iterator[list[Account]]:
        parser = self._parser
        for start in range(0, len(self._body), _CSV_PIECE):
            parser.feed(self._body[start:start + _CSV_PIECE])
            while len(parser.accounts) >= size:
                yield parser.accounts[:size]
                del parser.accounts[:size]
        parser.finish()
        self._body = b""
        if parser.accounts:
            yield parser.accounts
            parser.accounts = []

    def lot_refs_hint(self) -> set[str]:
        lines = io.BytesIO(self._body)  # one line at a time: 50,000 lines at once left the RSS 12 MB up
        columns = [c.strip().lower() for c in lines.readline().removeprefix(_BOM).decode("utf-8", "replace").split(";")]
        if "lot_refs" not in columns:
            return set()
        at, refs = columns.index("lot_refs"), set()
        for line in lines:
            if b'"' in line:
                continue  # quoted fields are the parser's; their refs come with their chunk
            fields = line.split(b";")
            if len(fields) == len(columns):
                refs.update(ref.strip() for ref in fields[at].decode("utf-8", "replace").split(","))
        refs.discard("")
        return refs
