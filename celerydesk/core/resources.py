"""Finding celerydesk's own files (icons, the .desktop file) from source, installed or frozen."""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path


def resource_path(name: str) -> Path:
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:  # PyInstaller unpacks data next to the binary
        return Path(frozen_root) / "celerydesk" / "resources" / name
    return Path(str(resources.files("celerydesk.resources").joinpath(name)))
