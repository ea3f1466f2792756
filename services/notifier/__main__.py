"""`python -m services.notifier [serve|migrate|devsink --smtp-port 2525 --http-port 8025|preview]`."""

import sys
from pathlib import Path

from common.db import Track
from common.service import common_track, run_service
from common.settings import load_settings
from services.notifier.app import SERVICE, create_app
from services.notifier.devsink import devsink_command
from services.notifier.preview import preview_command
from services.notifier.settings import NotifierSettings

TRACKS = [common_track(), Track(SERVICE, Path(__file__).parent / "migrations")]

COMMANDS = {"devsink": devsink_command, "preview": preview_command}

if __name__ == "__main__":
    sys.exit(run_service(name=f"services.{SERVICE}", load_settings=lambda: load_settings(NotifierSettings),
                         create_app=create_app, tracks=TRACKS, commands=COMMANDS))
