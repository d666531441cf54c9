"""Command line: parse options, then call one keyword-only `main(*, ...)` per command.

Each command is added by one `_add_<command>` function; the work lives in the command's own module,
imported only when that command runs (so `unet-grader --help` stays fast).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

Handler = Callable[[argparse.Namespace], int]


def _add_assign(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("assign", help="regenerate assignment/ (the student kit) from solutions/")
    p.add_argument("--check", action="store_true", help="fail, naming the stale files, if assignment/ is out of date")
    p.add_argument("--solutions", type=Path, default=Path("solutions/week-06"))
    p.add_argument("--assignment", type=Path, default=Path("assignment/week-06"))

    def run(args: argparse.Namespace) -> int:
        from .assign import main

        return main(check=args.check, solutions=args.solutions, assignment=args.assignment)

    p.set_defaults(handler=run)


COMMANDS = [_add_assign]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="unet-grader", description="Autograder for the week-6 UNet lab.")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
