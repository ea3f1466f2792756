"""`python -m gateway`: the gateway owns no database, so `migrate` has nothing to do.

The gateway is the hop every request pays (ARCHITECTURE.md §9), so it runs on uvloop: aiohttp's
server and client both spend most of their time in the event loop.
"""

import asyncio
import sys

import uvloop

from common.service import run_service
from common.settings import load_settings
from gateway.app import SERVICE, create_app
from gateway.settings import GatewaySettings

if __name__ == "__main__":
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    sys.exit(run_service(name=SERVICE, load_settings=lambda: load_settings(GatewaySettings),
                         create_app=create_app, tracks=[]))
