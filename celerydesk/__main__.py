"""``python -m celerydesk``: the same entry point as the ``celerydesk`` console script."""

from celerydesk.cli.main import main

raise SystemExit(main())
