"""Broker URLs: shown without their password, and checked for what a URL must percent-encode.

Every URL celerydesk shows (the window, the command line, its log lines, its errors) goes
through ``shown_url`` or ``masked``. Both work on the raw text, not on a parsed URL: a password
holding ``#``, ``/`` or ``?`` that was not percent-encoded makes a URL parser cut the URL there,
and the rest of the password would then be shown as a "fragment" or a path.
"""

from __future__ import annotations

import re
from typing import Iterable, Optional
from urllib.parse import quote, urlsplit

# scheme://[user]:PASSWORD@ up to the last "@" of the token: a password may hold an "@" itself.
_SECRET = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s'\"]*:)(?P<secret>\S*)@")
# What a password must not hold raw: the characters that end a URL's authority, and "@".
_RESERVED = "/?#@[]"


def masked(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``."""
    return _SECRET.sub(lambda m: f"{m.group('head')}***@", text)


def shown_url(url: str) -> str:
    """``url`` as celerydesk shows it: its password, if it has one, replaced by ``***``."""
    return masked(url)


def shown_argv(argv: Iterable[str]) -> str:
    """A command line as celerydesk logs it, with any URL's password masked."""
    return masked(" ".join(argv))


def has_password(url: Optional[str]) -> bool:
    return bool(url) and _SECRET.search(url) is not None


def with_password(url: str, password: str, user: str = "") -> str:
    """``redis://host:port/db`` with ``password`` (percent-encoded) as the default user's, or as
    ``user``'s (``amqp://user:password@host:port//``)."""
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{quote(user, safe='')}:{quote(password, safe='')}@{rest}"


def url_form_problem(url: str) -> Optional[str]:
    """Why ``url`` would be misread (a raw reserved character in its password, a port that is
    not a number), in words that never quote the password; None when it reads as meant."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return None
    authority_end = len(rest)
    at = rest.rfind("@")
    if at >= 0:
        userinfo = rest[:at]
        if ":" in userinfo:
            raw = sorted({ch for ch in userinfo.split(":", 1)[1] if ch in _RESERVED})
            if raw:
                codes = ", ".join(f"{ch!r} as {quote(ch, safe='')}" for ch in raw)
                return (f"its password holds {', '.join(repr(ch) for ch in raw)}, which a URL must "
                        f"percent-encode: write {codes} (Python: urllib.parse.quote(password, safe=''))")
        authority_end = at
    try:
        urlsplit(f"{scheme}://{rest[authority_end:]}" if at >= 0 else url).port
    except ValueError:
        return "its port is not a number from 1 to 65535"
    return None
