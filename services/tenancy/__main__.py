"""`python -m services.tenancy [serve|migrate|onboard|import]`."""

import sys

from common.service import run_service
from common.settings import load_settings
from services.tenancy.app import SERVICE, TRACKS, create_app
from services.tenancy.cli import COMMANDS
from services.tenancy.settings import TenancySettings

if __name__ == "__main__":
    sys.exit(run_service(name=f"services.{SERVICE}", load_settings=lambda: load_settings(TenancySettings),
                         create_app=create_app, tracks=TRACKS, commands=COMMANDS))
