"""Finding celerydesk's own files (icons, the .desktop file, the scripts it runs in a project's
interpreter) from source, installed or frozen."""

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


def script_source(name: str) -> str:
    """The text of a module of the package run elsewhere (``introspect_script.py`` with ``python
    -c`` in the project's interpreter, ``beat_scheduler.py`` copied onto its PYTHONPATH)."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:  # PyInstaller: collected as a data file beside the package (build.spec)
        return (Path(frozen_root) / "celerydesk" / name).read_text(encoding="utf-8")
    from importlib import resources

    return resources.files("celerydesk").joinpath(name).read_text(encoding="utf-8")
