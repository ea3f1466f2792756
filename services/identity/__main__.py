"""`python -m services.identity [serve|migrate]`.

Identity runs on uvloop, like the gateway: a profile of the login storm (docs/benchmarks.md,
Identity) showed the stdlib selector loop and its socket transports costing about four times the
service's own Python per request, on the interpreter the hashing threads hand their results back to.
"""

import asyncio
import sys
from pathlib import Path

import uvloop

from common.db import Track
from common.service import common_track, run_service
from common.settings import load_settings
from services.identity.app import SERVICE, create_app
from services.identity.settings import IdentitySettings

TRACKS = [common_track(), Track(SERVICE, Path(__file__).parent / "migrations")]

if __name__ == "__main__":
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    sys.exit(run_service(name=f"services.{SERVICE}", load_settings=lambda: load_settings(IdentitySettings),
                         create_app=create_app, tracks=TRACKS))
