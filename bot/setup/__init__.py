"""Setup mode: from a fresh deploy to registered apps, in the browser (see ``web``)."""

from bot.setup.web import create_setup_app

__all__ = ["create_setup_app"]
