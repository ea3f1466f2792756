"""`python -m services.documents [serve|migrate]`."""

import sys
from pathlib import Path

from common.db import Track
from common.service import common_track, run_service
from common.settings import load_settings
from services.documents.app import SERVICE, create_app
from services.documents.settings import DocumentsSettings

TRACKS = [common_track(), Track(SERVICE, Path(__file__).parent / "migrations")]

if __name__ == "__main__":
    sys.exit(run_service(name=f"services.{SERVICE}", load_settings=lambda: load_settings(DocumentsSettings),
                         create_app=create_app, tracks=TRACKS))
