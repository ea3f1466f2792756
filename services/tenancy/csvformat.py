"""The CSV form of the accounts directory: ``;``-separated, UTF-8, one header line.

``ref;role;display_name;email;lot_refs;council`` (``email`` and ``council`` may be left out;
columns in any order), lot refs separated by ``,``. The parser is fed bytes piece by piece and
keeps only the accounts not yet taken (the import takes them a chunk at a time:
directory_sources.CsvAccounts); every problem is reported by line number.
"""

from __future__ import annotations

import csv

from pydantic import ValidationError

from common.errors import FieldError
from services.tenancy.domain import MAX_REPORTED_ERRORS, Account
from services.tenancy.schemas import AccountIn, field_errors

__all__ = ["COLUMNS", "CsvAccountsParser", "write_csv"]

COLUMNS = ("ref", "role", "display_name", "email", "lot_refs", "council")
_REQUIRED = {"ref", "role", "display_name", "lot_refs"}
_BOM = b"\xef\xbb\xbf"
_TRUE = {"1", "true", "oui", "yes", "vrai", "x"}
_FALSE = {"", "0", "false", "non", "no", "faux"}


class CsvAccountsParser:
    """Feed bytes with :meth:`feed`, then call :meth:`finish`; read ``accounts`` and ``errors``."""

    def __init__(self) -> None:
        self.accounts: list[Account] = []
        self.errors: list[FieldError] = []
        self.error_count = 0
        self._tail = b""
        self._line = 0
        self._columns: list[str] | None = None

    def feed(self, chunk: bytes) -> None:
        """Parse every complete line of ``chunk`` (the incomplete last one waits for the next chunk)."""
        data = self._tail + chunk
        lines = data.split(b"\n")
        self._tail = lines.pop()
        for raw in lines:
            self._parse_line(raw)

    def finish(self) -> None:
        """Parse the last line (a file need not end with a newline); check the file was not empty."""
        if self._tail:
            self._parse_line(self._tail)
            self._tail = b""
        if self._columns is None:
            self._error("line 1", "missing header line " + ";".join(COLUMNS))

    def _error(self, path: str, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(FieldError(path, message))

    def _parse_line(self, raw: bytes) -> None:
        self._line += 1
        where = f"line {self._line}"
        if self._line == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM):]
        try:
            text = raw.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError:
            self._error(where, "not valid UTF-8")
            return
        if not text.strip():
            return
        try:
            fields = next(csv.reader([text], delimiter=";", strict=True)) if '"' in text else text.split(";")
        except csv.Error as exc:
            self._error(where, f"malformed line: {exc}")
            return
        if self._columns is None:
            self._read_header(where, fields)
            return
        if len(fields) != len(self._columns):
            self._error(where, f"expected {len(self._columns)} fields separated by ';', found {len(fields)}")
            return
        self._read_row(where, dict(zip(self._columns, fields, strict=True)))

    def _read_header(self, where: str, fields: list[str]) -> None:
        columns = [f.strip().lower() for f in fields]
        unknown = [c for c in columns if c not in COLUMNS]
        missing = sorted(_REQUIRED - set(columns))
        if unknown or missing or len(set(columns)) != len(columns):
            self._error(where, "the header must be " + ";".join(COLUMNS)
                        + (f" (unknown: {', '.join(unknown)})" if unknown else "")
                        + (f" (missing: {', '.join(missing)})" if missing else ""))
            columns = list(COLUMNS)  # keep going, to report the rows' problems too
        self._columns = columns

    def _read_row(self, where: str, row: dict[str, str]) -> None:
        council_text = row.get("council", "").strip().lower()
        council = council_text in _TRUE
        council_ok = council or council_text in _FALSE
        if not council_ok:
            self._error(f"{where}.council", f"{council_text!r} is not a yes/no value (1/0, true/false, oui/non)")
        values = {
            "ref": row["ref"], "role": row["role"].strip(), "display_name": row["display_name"],
            "email": row.get("email") or None, "council": council,
            "lot_refs": [r.strip() for r in row["lot_refs"].split(",") if r.strip()],
        }
        try:
            account = AccountIn.model_validate(values)
        except ValidationError as exc:
            for error in field_errors(exc, prefix=where):
                self._error(error["path"], error["message"])
            return
        if council_ok:
            self.accounts.append(Account(account.ref, account.role, account.display_name, account.email,
                                         account.council, account.lot_refs, where))


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    if any(c in text for c in ';"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def write_csv(columns: tuple[str, ...], rows: list[dict]) -> str:
    """A ``;``-separated CSV (header first, CRLF line ends, spreadsheet-friendly) of ``rows``."""
    lines = [";".join(columns)]
    lines.extend(";".join(_cell(row.get(c)) for c in columns) for row in rows)
    return "\r\n".join(lines) + "\r\n"
