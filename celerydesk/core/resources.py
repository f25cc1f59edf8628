"""Finding celerydesk's own files (icons, the .desktop file) from source, installed or frozen."""

from __future__ import annotations

import sys
from pathlib import Path


def resource_path(name: str) -> Path:
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:  # PyInstaller unpacks data next to the binary
        return Path(frozen_root) / "celerydesk" / "resources" / name
    # Plain files, installed (celerydesk/resources/) or a source tree (resources/ beside the
    # package, mapped by pyproject's package-dir): found directly. importlib.resources, slower
    # to import (a cost at start-up), only where the package is not plain files.
    package = Path(__file__).resolve().parent.parent
    for folder in (package / "resources", package.parent / "resources"):
        if (folder / name).is_file():
            return folder / name
    from importlib import resources

    return Path(str(resources.files("celerydesk.resources").joinpath(name)))
