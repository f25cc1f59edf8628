"""Skip when an optional real component is missing; fail instead under CELERYDESK_STRICT=1."""

from __future__ import annotations

import os

import pytest


def strict() -> bool:
    return os.environ.get("CELERYDESK_STRICT", "") not in ("", "0")


def require(condition: bool, reason: str) -> None:
    if condition:
        return
    if strict():
        pytest.fail(f"strict mode: {reason}", pytrace=False)
    pytest.skip(reason)
