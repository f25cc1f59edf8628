"""``celerydesk gui`` (and plain ``celerydesk``): open the window on a workspace.

Without ``-w`` it opens ``./celerydesk.toml`` if there is one, else the built-in sample.
"""

from __future__ import annotations

from celerydesk.cli.main import add_workspace_option


def add_parser(sub) -> None:
    p = sub.add_parser("gui", help="open the control panel window (the default command)")
    add_workspace_option(p)
    p.add_argument("--start", action="store_true", help="start the stack once the window is up")
    p.add_argument("--sample", action="store_true", help="open the built-in sample workspace")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="also say on the terminal what the window does (e.g. each Flower page load)")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.verbose:
        import logging

        logging.basicConfig(level=logging.INFO, format="celerydesk: %(message)s")
    from celerydesk.ui.app import run_gui

    return run_gui(args.workspace, start=args.start, sample=args.sample)
