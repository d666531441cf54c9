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


def _globs(value: str) -> list[str]:
    globs = [g.strip() for g in value.split(",") if g.strip()]
    if not globs:
        raise argparse.ArgumentTypeError("give at least one glob, e.g. 'jaccard*,deconv2d*'")
    return globs


def _add_grade(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("grade", help="grade submissions (archives, folders, or folders of archives)")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    p.add_argument("--out", type=Path, default=Path("reports"), help="output folder (default: reports/)")
    p.add_argument("--workers", type=int, default=1, help="submissions graded at once (default 1)")
    p.add_argument("--checks", type=_globs, default=None, help="only the check ids matching these globs")
    p.add_argument("--profile", choices=["auto", "cpu", "gpu"], default="auto")
    p.add_argument("--seed", type=int, default=None, help="seed for the hidden cases (default: drawn per run)")
    p.add_argument("--rubric", type=Path, default=None, help="a rubric TOML file instead of the built-in one")

    def run(args: argparse.Namespace) -> int:
        from . import batch, rubric

        if args.workers < 1:
            p.error("--workers must be at least 1")
        try:
            loaded = rubric.load(args.rubric)
        except rubric.RubricError as exc:
            p.error(str(exc))
        return batch.main(paths=args.paths, out_dir=args.out, workers=args.workers, checks=args.checks,
                          profile=args.profile, seed=args.seed, rubric=loaded)

    p.set_defaults(handler=run)


COMMANDS = [_add_assign, _add_grade]


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
