"""The command line every service process shares: ``python -m services.X [serve|migrate|...]``.

``serve`` (the default) migrates the service database, then serves HTTP until SIGTERM/SIGINT;
aiohttp then stops accepting, lets in-flight requests finish (up to the shutdown timeout) and
runs the cleanup contexts in reverse (background tasks, broker, pool). With ``<PREFIX>_WORKERS``
above 1 the process migrates once, then forks that many workers sharing the port
(:mod:`common.workers`).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
from collections.abc import Callable, Sequence

from aiohttp import web

from common.db import COMMON_MIGRATIONS, Track, migrate
from common.logging import configure_logging, get_logger
from common.settings import ProcessSettings, SettingsError
from common.workers import run_workers

__all__ = ["common_track", "run_service", "serve"]

log = get_logger(__name__)


def common_track() -> Track:
    """The shared migrations (outbox, processed events) every service database carries."""
    return Track("common", COMMON_MIGRATIONS)


def run_service(
    *,
    name: str,
    load_settings: Callable[[], ProcessSettings],  # use common.settings.load_settings
    create_app: Callable[[ProcessSettings], web.Application],
    tracks: Sequence[Track],
    commands: dict[str, Callable[[ProcessSettings, list[str]], int]] | None = None,
    argv: list[str] | None = None,
) -> int:
    """Parse the command line and run the service; return the process exit code."""
    commands = commands or {}
    parser = argparse.ArgumentParser(prog=f"python -m {name}")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate", *commands])
    parser.add_argument("args", nargs=argparse.REMAINDER)
    parsed = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"{name}: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(name, level=settings.log_level, json=settings.log_json)
    if parsed.command in commands:
        return commands[parsed.command](settings, parsed.args)
    applied = asyncio.run(migrate(settings.database_url, tracks)) if tracks else []
    if parsed.command == "migrate":
        log.info("migrate.done", applied=len(applied))
        return 0
    log.info("service.starting", host=settings.host, port=settings.port, workers=settings.workers)
    if settings.workers == 1:
        serve(settings, create_app)
        code = 0
    else:
        code = run_workers(settings.workers, lambda _index: serve(settings, create_app, reuse_port=True),
                           shutdown_timeout=settings.shutdown_timeout_seconds)
    log.info("service.stopped", code=code)
    return code


def serve(settings: ProcessSettings, create_app: Callable[[ProcessSettings], web.Application], *,
          reuse_port: bool = False) -> int:
    """Serve ``create_app(settings)`` until SIGTERM/SIGINT (one process, or one worker of several)."""
    app = create_app(settings)
    freeze_startup_objects()
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        shutdown_timeout=settings.shutdown_timeout_seconds,
        access_log=None,
        print=None,
        reuse_port=reuse_port or None,
    )
    return 0


def freeze_startup_objects() -> None:
    """Keep what start-up built (modules, classes, the app) out of every later garbage collection.

    A full collection walks every tracked object: in identity, ~90,000 of them exist once the app is
    built, and the one full collection of a login burst took 55 ms with them (62 ms in another run),
    a pause every request of the process waits out; with them frozen it took 0.4 ms (gc.callbacks
    timing inside identity during `bench/login.py`). They live as long as the process, so freezing
    them frees nothing late. The tenancy directory import unfreezes everything when it resumes the
    collector (``directory_import._forget_young_objects``): from then on tenancy's full collections
    cost what they did before this.
    """
    gc.collect()
    gc.freeze()
