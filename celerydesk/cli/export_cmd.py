"""``celerydesk export compose [-w W] [-o FILE] [--force]``: the stack as a docker compose file.

Writes ``docker-compose.yml`` beside the workspace file by default (``core.compose`` builds it);
an existing file is replaced only with ``--force``; ``-o -`` prints the file instead.
"""

from __future__ import annotations

import sys
from pathlib import Path

from celerydesk.cli.main import add_workspace_option
from celerydesk.core import compose
from celerydesk.core.workspace import load_workspace


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="export the stack for running without celerydesk (docker compose)")
    ss = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    c = ss.add_parser("compose", help="write a docker-compose.yml running the same broker, workers, beat and Flower")
    add_workspace_option(c)
    c.add_argument("-o", "--output", metavar="FILE",
                   help=f"where to write it (default: {compose.FILE_NAME} beside the workspace file; - prints it)")
    c.add_argument("--force", action="store_true", help="replace an existing file")
    p.set_defaults(func=run)


def run(args) -> int:
    ws = load_workspace(args.workspace)
    if args.output == "-":
        sys.stdout.write(compose.render_compose(ws, Path.cwd()))
        if ws.flower.enabled:  # the printed file reads Flower's login from there
            print(f"wrote Flower's login to {compose.write_flower_env(ws)}", file=sys.stderr)
        return 0
    target = Path(args.output) if args.output else compose.default_path(ws)
    path = compose.write_compose(ws, target, overwrite=args.force)
    print(f"wrote {path} (services: {', '.join(compose.service_names(ws))})")
    shadow = compose.shadowing_file(path)
    if shadow is not None:
        print(f"note: {shadow} exists too, and `docker compose` reads it first; run this one with "
              f"`docker compose -f {path.name} ...`")
    steps = ["add a Dockerfile for the project (see the comment at the top of the file)"]
    if ws.flower.enabled:
        print(f"Flower's login (the desktop's): {compose.flower_env_path(ws)}, read by the flower service")
    steps.append(f"run `docker compose up -d` in {path.parent}")
    print("next: " + "; ".join(steps))
    return 0
