"""The intake's public data: the caps, one submission as found, and one submission as unpacked."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..messages import Text


@dataclass(frozen=True)
class Caps:
    """Limits on what one submission may unpack to; counted on the bytes as they stream, not on headers.

    `max_files` counts every member read (files and folders, junk such as `__MACOSX` included), since
    each one costs work whether or not it is kept.
    """

    max_total_bytes: int = 200 * 2**20
    max_files: int = 2000
    max_file_bytes: int = 100 * 2**20


@dataclass
class SubmissionSource:
    """One submission as handed in: an archive, or a folder graded from a copy."""

    id: str
    path: Path
    kind: str  # "archive" | "folder"
    sha256: str


@dataclass
class Unpacked:
    """A submission unpacked under its destination folder."""

    root: Path  # the folder holding unet/ (or the notebook's folder when there is no unet/)
    notebook: Path | None
    warnings: list[Text]
    files: int  # files written (junk left out)
    total_bytes: int  # bytes written
