"""Stable pseudonyms for publishing: the same id and salt always give the same "S-xxxxxxxx"."""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from pathlib import PurePath
from typing import Any

from ..intake.sources import archive_stem
from .load import Entry, ReportError, Roster, RosterStudent

REDACTED = "***"


def pseudonym(submission_id: str, salt: str = "") -> str:
    """A plain salted hash (not an HMAC): stable across runs, so a student keeps theirs all term."""
    return "S-" + hashlib.sha256(f"{salt}\0{submission_id}".encode()).hexdigest()[:8]


class Anonymizer:
    """Names submissions for the class-wide files: real ids, or pseudonyms with every id scrubbed out."""

    def __init__(self, entries: list[Entry], *, enabled: bool, salt: str = "", roster: Roster | None = None):
        self.enabled = enabled
        self.salt = salt
        self._names = {e.id: pseudonym(e.id, salt) for e in entries}
        if enabled and len(set(self._names.values())) != len(self._names):
            raise ReportError("two submissions got the same pseudonym; choose another --salt")
        # Everything that names a student: the id, the archive's file name and its stem, matched only where
        # no letter or digit continues it, longest first. A name several students share (every archive
        # in its own LMS folder may be called week-06.tar.gz) names no one, and is left as it is.
        owners: dict[str, set[str]] = defaultdict(set)
        for e in entries:
            source = e.result.submission.source
            name = PurePath(source).name
            for form in (source, name, archive_stem(name), e.id, e.folder.name):
                if form:
                    owners[form].add(self._names[e.id])
        replace = {form: next(iter(names)) for form, names in owners.items() if len(names) == 1}
        # The roster's student ids and names always go: one student's become their pseudonym, and a name
        # two students share (two 张伟 in a class) becomes REDACTED.
        people: dict[str, set[str]] = defaultdict(set)
        for student in roster.students if roster else []:
            for form in (student.student_id, student.name):
                if form:
                    people[form].add(self.student(student))
        replace.update({form: next(iter(names)) if len(names) == 1 else REDACTED for form, names in people.items()})
        self._replace = replace
        forms = sorted(replace, key=len, reverse=True)
        alternatives = "|".join(map(re.escape, forms))
        self._pattern = re.compile(f"(?<![A-Za-z0-9])({alternatives})(?![A-Za-z0-9])") if forms else None

    def name(self, entry: Entry) -> str:
        return self._names[entry.id] if self.enabled else entry.id

    def pseudonym(self, entry: Entry) -> str:
        return self._names[entry.id]

    def student(self, student: RosterStudent) -> str:
        """A roster student's pseudonym: their first submission's, or one of their own when they have none."""
        return next((self._names[sid] for sid in student.submissions if sid in self._names),
                    pseudonym(student.student_id, self.salt))

    def scrub(self, value: Any) -> Any:
        """`value` (str, list, dict, nested) with every student's id and file name replaced, when enabled."""
        if not self.enabled or self._pattern is None:
            return value
        if isinstance(value, str):
            return self._pattern.sub(lambda m: self._replace[m.group(1)], value)
        if isinstance(value, list):
            return [self.scrub(v) for v in value]
        if isinstance(value, dict):
            return {self.scrub(k): self.scrub(v) for k, v in value.items()}
        return value
