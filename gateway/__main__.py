"""`python -m gateway`: the gateway owns no database, so `migrate` has nothing to do."""

import sys

from common.service import run_service
from common.settings import load_settings
from gateway.app import SERVICE, create_app
from gateway.settings import GatewaySettings

if __name__ == "__main__":
    sys.exit(run_service(name=SERVICE, load_settings=lambda: load_settings(GatewaySettings),
                         create_app=create_app, tracks=[]))
