"""What every moncompte service needs: settings, logging, the app factory, the database,
events and internal authentication. Import from the submodules; each declares ``__all__``."""
