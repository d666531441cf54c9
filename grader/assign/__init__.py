"""`unet-grader assign`: write the student kit (assignment/) from the reference solution (solutions/).

The marker syntax is described in `regions.py` and in solutions/README.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..messages import text
from .generate import render_kit
from .regions import RegionError
from .sync import stale_files, write_kit

__all__ = ["main", "render_kit", "stale_files", "write_kit"]


def main(*, check: bool, solutions: Path, assignment: Path) -> int:
    """Regenerate `assignment` from `solutions`; with `check`, only report stale files.

    Exit status: 0 up to date (or written), 1 stale under --check, 2 unreadable solutions.
    """
    if not solutions.is_dir():
        missing = text(f"找不到参考答案目录 {solutions}", f"no solutions folder at {solutions}")
        print(missing.both(), file=sys.stderr)
        return 2
    try:
        kit = render_kit(solutions)
    except RegionError as exc:
        print(text(f"解答区域标记有误:{exc}", f"bad solution markers: {exc}").both(), file=sys.stderr)
        return 2
    if check:
        stale = stale_files(kit, assignment)
        for rel in stale:
            print(f"stale: {assignment / rel}", file=sys.stderr)
        if stale:
            print(
                text(
                    f"{assignment} 已过期,请运行 unet-grader assign",
                    f"{assignment} is out of date: run unet-grader assign",
                ).both(),
                file=sys.stderr,
            )
            return 1
        print(text(f"{assignment} 是最新的", f"{assignment} is up to date").both())
        return 0
    changed = write_kit(kit, assignment)
    for rel in changed:
        print(f"wrote: {assignment / rel}" if rel in kit else f"removed: {assignment / rel}")
    done = text(f"{assignment}:更新了 {len(changed)} 个文件", f"{assignment}: {len(changed)} file(s) updated")
    print(done.both())
    return 0
