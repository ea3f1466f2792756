"""`python -m services.documents [serve|migrate]`."""

import sys

from common.service import run_service
from common.settings import load_settings
from services.documents.app import SERVICE, TRACKS, create_app
from services.documents.settings import DocumentsSettings

if __name__ == "__main__":
    sys.exit(run_service(name=f"services.{SERVICE}", load_settings=lambda: load_settings(DocumentsSettings),
                         create_app=create_app, tracks=TRACKS))
