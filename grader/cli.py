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
UNSANDBOXED_FLAG = "--unsandboxed-i-accept-the-risk"
INTERRUPTED = 130
GRADE_EXIT_CODES = """\
exit codes:
  0    the batch was graded, whatever the students scored (some archives may be rejected)
  2    usage error, found before any submission is opened: a bad option, a missing PATH, a rubric
       that lacks a check id, names an unknown one or gives points that are not a number >= 0,
       a --checks glob that selects no check id
  3    nothing could be graded: no submission found under PATH, or every archive was rejected
       (or failed in the grader)
  130  interrupted (Ctrl-C); rerun the same command to grade what is left"""
CHECK_EXIT_CODES = """\
exit codes:
  0    every automatic check that ran passed (the written answers are graded by a TA)
  1    some automatic check failed
  2    usage error (no such folder, --html inside FOLDER)"""


def _sandbox_housekeeping() -> None:
    """Before `grade` or `check`: remove what killed graders left; on SIGTERM, remove this one's."""
    from .sandbox import leftovers

    leftovers.clean()
    leftovers.exit_on_sigterm()


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


def _only(value: str) -> list[str]:
    items = [i.strip() for i in value.split(",") if i.strip()]
    if not items:
        raise argparse.ArgumentTypeError("give failed, timeout, error, rejected or submission ids")
    return items


def _scheduler(value: str) -> str:
    """`--scheduler`, checked while parsing, so that a missing extra or a typo fails before any grading."""
    from .distributed import DaskError, parse_scheduler, require

    try:
        require()
        return parse_scheduler(value)
    except (DaskError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _deadline(value: str):
    """`--deadline`, checked while parsing: a bad time is a usage error (exit 2) before any grading."""
    from .late import parse_time

    try:
        return parse_time(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _add_grade(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("grade", help="grade submissions (archives, folders, or folders of archives)",
                       epilog=GRADE_EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    p.add_argument("--out", type=Path, default=Path("reports"), help="output folder (default: reports/)")
    p.add_argument("--workers", type=int, default=None,
                   help="submissions graded at once (default: one per usable core, at most 8)")
    p.add_argument("--checks", type=_globs, default=None, help="only the check ids matching these globs")
    p.add_argument("--profile", choices=["auto", "cpu", "gpu", "demo"], default="auto")
    p.add_argument("--seed", type=int, default=None,
                   help="seed for the hidden cases (default: the one DIR/run.json keeps, else a fresh one)")
    p.add_argument("--rubric", type=Path, default=None, help="a rubric TOML file instead of the built-in one")
    p.add_argument("--force", action="store_true",
                   help="regrade every submission (default: keep results already graded with the same "
                        "archive, grader, profile, seed, checks and rubric)")
    p.add_argument("--roster", type=Path, default=None, metavar="CSV",
                   help="class list (student id, name): match archives to students by the id in their "
                        "names; writes DIR/roster.json (default: the roster DIR/roster.json keeps)")
    p.add_argument("--only", type=_only, default=None, metavar="WHICH",
                   help="regrade only these, comma-separated, by their last result: failed (a check failed), "
                        "timeout, error (a check errored or the grader failed), rejected, or submission or "
                        "student ids; every other result and all hand grades are kept")
    p.add_argument("--lang", choices=["zh", "en", "both"], default="both", help="language of the reports")
    p.add_argument("--scheduler", type=_scheduler, default=None, metavar="ADDRESS",
                   help="grade on Dask, one task per submission: tcp://HOST:8786 (a running scheduler) or "
                        "local:N (N local worker processes); needs pip install 'unet-grader[dask]'")
    p.add_argument(UNSANDBOXED_FLAG, dest="unsandboxed", action="store_true",
                   help="grade even where no sandbox can run (student code then runs as you, with your files "
                        "and network); every result then says NOT SANDBOXED")
    p.add_argument("--similarity", action="store_true",
                   help="also write DIR/similarity.html, the pairs a TA should compare by hand (as "
                        "`unet-grader similarity DIR` with its defaults), linked from the dashboard")
    p.add_argument("--deadline", type=_deadline, default=None, metavar="TIME",
                   help="apply the rubric's [late] penalty to work handed in after TIME, ISO 8601 with its "
                        "zone (2024-04-20T23:59+08:00; without a zone, this machine's local time); default: "
                        "the deadline DIR/late.json keeps")
    p.add_argument("--times", type=Path, default=None, metavar="CSV",
                   help="submission times (submission or student id, time per row; UTF-8 or GBK) instead of "
                        "the archives' modification times (as the LMS download set them); default: the one "
                        "DIR/late.json keeps")

    def run(args: argparse.Namespace) -> int:
        from . import batch, rubric

        _sandbox_housekeeping()
        if args.workers is not None and args.workers < 1:
            p.error("--workers must be at least 1")
        try:
            loaded = rubric.load(args.rubric)
        except rubric.RubricError as exc:
            p.error(str(exc))
        workers = args.workers if args.workers is not None else batch.default_workers()
        return batch.main(paths=args.paths, out_dir=args.out, workers=workers, checks=args.checks,
                          profile=args.profile, seed=args.seed, rubric=loaded, force=args.force,
                          roster_csv=args.roster, lang=args.lang, scheduler=args.scheduler,
                          similarity=args.similarity, only=args.only, unsandboxed=args.unsandboxed,
                          deadline=args.deadline, times_csv=args.times)

    p.set_defaults(handler=run)


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="re-render the reports from DIR/*/result.json, merge manual grades",
                       epilog="exit codes: 0 written; 2 usage error (no such folder, or no result in it; a bad "
                              "manual CSV)")
    p.add_argument("out_dir", type=Path, metavar="DIR", help="the results folder `grade --out` wrote")
    p.add_argument("--lang", choices=["zh", "en", "both"], default="both", help="page language")
    manual = p.add_mutually_exclusive_group()
    manual.add_argument("--manual", type=Path, metavar="CSV",
                        help="store a TA's scores and comments (written answers, or overrides with a reason) "
                             "in DIR/_manual.json, apart from the automatic results")
    manual.add_argument("--manual-template", nargs="?", const="", metavar="CSV",
                        help="write the CSV for TAs to fill in, with the answers (default DIR/manual.csv)")
    p.add_argument("--grader", default=None, metavar="NAME",
                   help="who gave the --manual grades, kept with each (default: the OS user)")
    p.add_argument("--anonymize", action="store_true",
                   help="also publish index.html, grades.csv, checks.csv and results.json with stable "
                        "pseudonyms to PUB/anonymized/ (the key goes to DIR/anonymize-key.csv)")
    p.add_argument("--salt", default="", help="salt for the pseudonyms (keep it the same all term)")
    p.add_argument("--handout", nargs="?", const="", metavar="DIR2",
                   help="also write one folder per student, DIR2/<id>/, to hand back (default PUB/handout)")
    p.add_argument("--publish-dir", type=Path, default=None, metavar="PUB",
                   help="where --anonymize and --handout publish (default DIR/_published); never DIR itself")
    p.add_argument("--gradescope", type=Path, metavar="FILE",
                   help="also write Gradescope's results.json (DIR must hold exactly one submission)")

    def run(args: argparse.Namespace) -> int:
        from .report import main

        template = None
        if args.manual_template is not None:
            template = Path(args.manual_template) if args.manual_template else args.out_dir / "manual.csv"
        return main(out_dir=args.out_dir, lang=args.lang, manual=args.manual, manual_template=template,
                    grader=args.grader, anonymize=args.anonymize, salt=args.salt,
                    handout=args.handout is not None, handout_dir=Path(args.handout) if args.handout else None,
                    publish_dir=args.publish_dir, gradescope=args.gradescope)

    p.set_defaults(handler=run)


def _add_calibrate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calibrate", help="train the reference over seeds; write the training pass marks")
    p.add_argument("--profile", choices=["auto", "cpu", "gpu", "demo"], default="auto")
    p.add_argument("--seeds", type=int, default=8, help="reference runs per network (default 8, at least 3)")
    p.add_argument("--first-seed", type=int, default=1, help="seeds run from this one up (default 1)")
    p.add_argument("--workers", type=int, default=1, help="seeds trained at once (default 1)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per run, as in grading (default 1)")
    p.add_argument("--networks", type=_globs, default=None, metavar="NET,...",
                   help="only these of unet, unet_shallow, unet_add (default: all three)")

    def run(args: argparse.Namespace) -> int:
        from .training import calibrate
        from .training.profiles import NETWORKS

        if args.seeds < 3 or args.workers < 1 or args.threads < 1:
            p.error("--seeds must be at least 3, --workers and --threads at least 1")
        unknown = sorted(set(args.networks or []) - set(NETWORKS))
        if unknown:
            p.error(f"unknown network(s) {', '.join(unknown)}: choose from {', '.join(NETWORKS)}")
        return calibrate.main(profile=args.profile, seeds=args.seeds, first_seed=args.first_seed,
                              workers=args.workers, threads=args.threads, nets=args.networks)

    p.set_defaults(handler=run)


def _add_check(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="a student's self-check of a week-06 folder or archive, on the public cases "
                       "only", epilog=CHECK_EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", nargs="?", type=Path, default=Path("."), metavar="FOLDER|ARCHIVE",
                   help="the week-06 folder, or the archive you will hand in, checked as the TA's grading unpacks "
                   "it (default: the current folder)")
    p.add_argument("--train", action="store_true",
                   help="also train the three networks briefly (the training check, cpu profile: minutes)")
    p.add_argument("--notebook", action="store_true",
                   help="also run the notebook with its training capped (about a minute on a laptop)")
    p.add_argument("--html", nargs="?", const="", metavar="DIR",
                   help="also write the report page a TA would see (default: week-06-check/ beside FOLDER or "
                   "ARCHIVE)")
    p.add_argument("--lang", choices=["zh", "en", "both"], default="both",
                   help="language of the table and the page")

    def run(args: argparse.Namespace) -> int:
        from . import selfcheck

        _sandbox_housekeeping()
        html = None
        if args.html is not None:
            html = Path(args.html) if args.html else selfcheck.default_html_dir(args.folder)
        return selfcheck.main(folder=args.folder, train=args.train, notebook=args.notebook, html=html,
                              lang=args.lang)

    p.set_defaults(handler=run)


def _add_similarity(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("similarity", help="pairs of submissions in DIR a TA should compare by hand")
    p.add_argument("out_dir", type=Path, metavar="DIR", help="the results folder `grade --out` wrote")
    p.add_argument("--kit", type=Path, default=None,
                   help="the student kit, whose given code never counts (default: assignment/week-06)")
    p.add_argument("--solution", type=Path, default=None,
                   help="the reference, whose notebook's numbers never count (default: solutions/week-06)")
    thresholds = [("--code-threshold", "code_threshold", float),
                  ("--code-min-shared", "code_min_shared", int),
                  ("--text-threshold", "text_threshold", float),
                  ("--text-min-shared", "text_min_shared", int),
                  ("--min-run", "output_min_run", int),
                  ("--common-fraction", "common_fraction", float)]
    for flag, dest, kind in thresholds:
        p.add_argument(flag, dest=dest, type=kind, default=None,
                       help=f"instead of the default {dest} (the page lists every setting and its meaning)")

    def run(args: argparse.Namespace) -> int:
        from .similarity import Settings, main

        chosen = {dest: getattr(args, dest) for _, dest, _ in thresholds if getattr(args, dest) is not None}
        return main(out_dir=args.out_dir, kit=args.kit, solution=args.solution, settings=Settings(**chosen))

    p.set_defaults(handler=run)


COMMANDS = [_add_assign, _add_grade, _add_check, _add_report, _add_calibrate, _add_similarity]


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="unet-grader", description="Autograder for the week-6 UNet lab.")
    parser.add_argument("--version", action="version", version=f"unet-grader {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:  # outside the batch's own handling (collecting, rendering, other commands)
        print("\nunet-grader: interrupted", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
