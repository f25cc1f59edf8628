"""Icons and desktop-integration files, installed as the package ``celerydesk.resources``."""
