"""Operator commands: onboard a tenant and import a directory file, without writing code.

``python -m services.tenancy onboard --client C --societe S --name N --kind syndic`` prints the
login URL and the API key (shown this once); ``python -m services.tenancy import --client C
--societe S FILE.csv`` (or ``.json``) applies a directory file, all or nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from pydantic import ValidationError

from common.clock import SystemClock
from common.db import create_pool, migrate
from common.errors import AppError
from services.tenancy import directory_import, service
from services.tenancy.app import TRACKS
from services.tenancy.directory_sources import CsvAccounts, json_document_parts
from services.tenancy.domain import KINDS
from services.tenancy.schemas import TenantCreate, field_errors
from services.tenancy.settings import TenancySettings

__all__ = ["COMMANDS", "import_command", "onboard_command"]


def _print_error(exc: AppError) -> None:
    print(f"error: {exc.code}: {exc.detail}", file=sys.stderr)
    for error in exc.errors:
        print(f"  {error['path']}: {error['message']}", file=sys.stderr)
    if exc.extra.get("error_count", 0) > len(exc.errors):
        print(f"  ... {exc.extra['error_count']} errors in all", file=sys.stderr)


def onboard_command(settings: TenancySettings, args: list[str]) -> int:
    """Create a tenant; print its login URL and API key."""
    parser = argparse.ArgumentParser(prog="python -m services.tenancy onboard")
    parser.add_argument("--client", required=True, help="client code (1-32 of A-Z a-z 0-9 _ -)")
    parser.add_argument("--societe", required=True, help="société code")
    parser.add_argument("--name", required=True)
    parser.add_argument("--kind", required=True, choices=KINDS)
    parser.add_argument("--support-email")
    parser.add_argument("--support-phone")
    parser.add_argument("--support-hours")
    parser.add_argument("--primary-color", help="#rrggbb")
    parsed = parser.parse_args(args)
    try:
        data = TenantCreate.model_validate({
            "client_code": parsed.client, "societe_code": parsed.societe, "name": parsed.name, "kind": parsed.kind,
            "support": {"email": parsed.support_email, "phone": parsed.support_phone, "hours": parsed.support_hours},
            "branding": {"primary_color": parsed.primary_color}})
    except ValidationError as exc:
        for error in field_errors(exc):
            print(f"error: {error['path']}: {error['message']}", file=sys.stderr)
        return 2

    async def run() -> dict:
        await migrate(settings.database_url, TRACKS)
        pool = await create_pool(settings.database_url, min_size=1, max_size=2)
        try:
            return await service.onboard_tenant(pool, data=data, public_base_url=settings.public_base_url,
                                                clock=SystemClock(), correlation_id="cli-onboard")
        finally:
            await pool.close()

    try:
        created = asyncio.run(run())
    except AppError as exc:
        _print_error(exc)
        return 1
    print(f"tenant_id: {created['id']}")
    print(f"login_url: {created['login_url']}")
    print(f"api_key:   {created['api_key']}")
    print("The API key is shown only this once: store it now.", file=sys.stderr)
    return 0


def import_command(settings: TenancySettings, args: list[str]) -> int:
    """Apply a directory file (CSV accounts, or the JSON document) to the tenant of the codes."""
    parser = argparse.ArgumentParser(prog="python -m services.tenancy import")
    parser.add_argument("--client", required=True)
    parser.add_argument("--societe", required=True)
    parser.add_argument("file", type=Path, help="accounts .csv (ref;role;display_name;email;lot_refs;council) "
                                                "or directory .json")
    parsed = parser.parse_args(args)
    try:
        document = _read_document(parsed.file)
    except AppError as exc:
        _print_error(exc)
        return 1
    except OSError as exc:
        print(f"error: cannot read {parsed.file}: {exc.strerror}", file=sys.stderr)
        return 2

    async def run() -> dict:
        await migrate(settings.database_url, TRACKS)
        pool = await create_pool(settings.database_url, min_size=1, max_size=2)
        try:
            tenant = await service.resolve_tenant(pool, parsed.client, parsed.societe)
            return await directory_import.import_directory(pool, tenant_id=tenant["id"], document=document,
                                                    clock=SystemClock(), correlation_id="cli-import",
                                                    event_batch=settings.directory_event_batch,
                                                    chunk_size=settings.directory_import_chunk)
        finally:
            await pool.close()

    try:
        result = asyncio.run(run())
    except AppError as exc:
        _print_error(exc)
        return 1
    print(json.dumps(result))
    return 0


def _read_document(path: Path) -> directory_import.DirectoryDocument:
    """The file's document; its accounts are read and checked by the import, as the API does."""
    body = path.read_bytes()
    if path.suffix.lower() == ".json":
        with directory_import.paused_gc():  # bulk rows: see directory_import.paused_gc
            residences, lots, accounts = json_document_parts(body)
        return directory_import.DirectoryDocument(residences, lots, accounts)
    return directory_import.DirectoryDocument(accounts=CsvAccounts(body))


COMMANDS = {"onboard": onboard_command, "import": import_command}
