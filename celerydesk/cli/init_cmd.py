"""``celerydesk init``: write a workspace file for an existing project, or for the sample."""

from __future__ import annotations

from pathlib import Path

from celerydesk.core.errors import DeskError
from celerydesk.core.paths import write_sample_workspace
from celerydesk.core.workspace import FILE_NAME, load_workspace
from celerydesk.core.workspace_edit import create_workspace


def add_parser(sub) -> None:
    p = sub.add_parser("init", help="write a celerydesk.toml for a project (or the sample)")
    p.add_argument("dir", nargs="?", default=".", help="the project folder (default: here)")
    p.add_argument("--app", help="the Celery app, as given to `celery -A`")
    p.add_argument("--python", help="the project's interpreter (default: .venv/venv there, else this one)")
    p.add_argument("--sample", metavar="DIR", help="write the built-in sample's workspace into DIR")
    p.add_argument("--force", action="store_true", help="overwrite an existing celerydesk.toml")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.sample:
        target = Path(args.sample)
        if (target / FILE_NAME).exists() and not args.force:
            raise DeskError(f"{target / FILE_NAME} exists already", hint="pass --force to replace it")
        path = write_sample_workspace(target, overwrite=True)
        print(f"wrote {path}; start it with: celerydesk up -w {target}")
        return 0
    if not args.app:
        raise DeskError("init needs the Celery app", hint="e.g. `celerydesk init --app storefront` "
                        "(or `celerydesk init --sample DIR` for the built-in sample)")
    folder = Path(args.dir).absolute()
    if not folder.is_dir():
        raise DeskError(f"{folder} is not a folder")
    # Validated before anything is written: a wrong --python never costs the user a file.
    path = create_workspace(folder, args.app, python=args.python, overwrite=args.force)
    ws = load_workspace(path)
    here = folder == Path.cwd()
    print(f"wrote {path} (app {args.app}, interpreter {ws.project.python}); start it with: "
          f"celerydesk up{'' if here else f' -w {folder}'}")
    return 0
