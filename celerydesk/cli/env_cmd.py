"""``celerydesk env [-w W]``: what your own app needs to reach this workspace's stack.

Prints ``export CELERY_BROKER_URL='…'``, with the password when the broker has one (this is the
one place celerydesk prints it: you asked for it). The form is read by a shell's ``eval`` and by
dotenv files (python-dotenv and django-environ take the ``export`` prefix), so both work::

    eval "$(celerydesk env)" && python manage.py runserver
    celerydesk env > .env

Celery reads ``CELERY_BROKER_URL`` before the app's own ``broker_url``, so a Django project whose
settings point at another broker sends to this stack's while the variable is set.
"""

from __future__ import annotations

import shlex

from celerydesk.cli.main import add_workspace_option
from celerydesk.core.urls import shown_url
from celerydesk.core.workspace import load_workspace


def add_parser(sub) -> None:
    p = sub.add_parser("env", help="print CELERY_BROKER_URL for your own app (eval it, or write a .env)")
    add_workspace_option(p)
    p.set_defaults(func=run)


def run(args) -> int:
    ws = load_workspace(args.workspace)
    url = ws.broker_url()
    what = f"external broker {shown_url(url)}" if ws.broker.mode == "external" \
        else f"{ws.broker.label} on 127.0.0.1:{ws.broker.port}" + \
        (", with its generated password" if ws.broker_password() else "")
    print(f"# celerydesk: the broker of {ws.path} ({what})")
    print(f"export CELERY_BROKER_URL={shlex.quote(url)}")
    return 0
