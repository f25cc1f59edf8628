"""Where celerydesk keeps things of its own: the user's data folder and the sample workspace."""

from __future__ import annotations

import os
from pathlib import Path

from celerydesk.core.workspace import FILE_NAME


def user_data_dir() -> Path:
    """``$CELERYDESK_DATA_DIR``, else ``$XDG_DATA_HOME/celerydesk``, else ``~/.local/share/celerydesk``."""
    explicit = os.environ.get("CELERYDESK_DATA_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "celerydesk"


def sample_workspace_text() -> str:
    from importlib import resources  # here: the window opens through this module, rarely writing

    return resources.files("celerydesk.sample").joinpath(FILE_NAME).read_text(encoding="utf-8")


def write_sample_workspace(directory: Path, overwrite: bool = False) -> Path:
    """Put the sample's workspace file in ``directory``; an edited one is kept unless asked."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / FILE_NAME
    if overwrite or not path.exists():
        path.write_text(sample_workspace_text(), encoding="utf-8")
    return path


def sample_workspace_path() -> Path:
    """The built-in sample workspace, in the user's data folder (the package may be read-only)."""
    return write_sample_workspace(user_data_dir() / "sample")
