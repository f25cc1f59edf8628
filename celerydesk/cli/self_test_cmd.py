"""``celerydesk self-test``: run the sample stack end to end and say what works (core.self_test)."""

from __future__ import annotations

from celerydesk.core.self_test import SelfTestOptions, run_self_test


def add_parser(sub) -> None:
    p = sub.add_parser("self-test", help="start the sample stack headless, run its tasks, check beat "
                       "and Flower, stop; exit 0 if all works")
    p.add_argument("--timeout", type=float, default=120.0, metavar="S",
                   help="how long the stack may take to come up (default 120)")
    p.add_argument("--keep", action="store_true", help="keep the scratch workspace and its logs")
    p.set_defaults(func=run)


def run(args) -> int:
    return 0 if run_self_test(SelfTestOptions(timeout=args.timeout, keep=args.keep),
                              say=lambda line: print(line, flush=True)) else 1
