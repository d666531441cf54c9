"""Intake: find the submissions, then unpack each one safely into its own folder.

`collect(paths)` turns what a TA names (archives, submission folders, folders of archives) into
`SubmissionSource`s with stable ids and content hashes; `unpack(source, dest)` checks every member,
writes within the caps, and finds the submission root and notebook, or raises `Rejected` with a reason.
"""

from .model import Caps, SubmissionSource, Unpacked
from .reasons import Rejected
from .sources import collect
from .unpack import unpack

__all__ = ["Caps", "Rejected", "SubmissionSource", "Unpacked", "collect", "unpack"]
