"""Pairs of submissions worth a TA's look, each with its evidence: shared code, answers, printed numbers.

Three kinds of evidence, each found through an inverted index (fingerprint -> submissions holding it), so
the work grows with the pairs that share something, not with all n(n-1)/2 pairs:

- code: fingerprints of each task's class or function (fingerprint.py), minus every fingerprint of the
  kit's code (the skeleton, and the given code the tasks are modelled on), minus those that more than
  `common_fraction` of the batch share: the usual way to write a line is no evidence (MOSS's -m);
- answers: character shingles of the written answers, minus the kit's markdown and the common ones;
- outputs: the longest run of floats that two notebooks print in the same order. Training is random, so
  a shared run of several printed losses means the two notebooks did not train independently.

Identical or near-identical own code is reported whatever the batch shares: clusters of submissions whose
own code (the kit's subtracted, nothing set aside for being common) is the same after normalisation, or
alike to `identical_threshold` (Jaccard similarity of the two fingerprint sets). A class that copied one
source is otherwise invisible, since its code is exactly what is common. How many fingerprints were set
aside for being common is counted and reported.

Code and answers pass their threshold when, pooled over the tasks (questions) both students wrote, or in
one task alone, at least `*_min_shared` fingerprints are shared and they make at least `*_threshold` of the
smaller side's. A pair is listed when one kind passes; its score, for ranking, is
1 - (1 - code)(1 - answers)(1 - outputs): code and answers the pooled share, outputs 1 once its run passes.
"""

from __future__ import annotations

import ast
import copy
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from itertools import combinations
from typing import Any

from .extract import TASKS, Kit, Number, Region, Submission
from .fingerprint import Statement, TextPrints, code_prints, text_prints, text_tokens

# Printed by every correct notebook (the Jaccard examples), so never evidence even in a small batch.
KNOWN_DETERMINISTIC = frozenset({"1.0000", "0.3333", "1.1111e-05"})
MAX_REPEATS = 10  # a float one notebook prints more often than this is a constant, not a measurement
MAX_EVIDENCE_LINES = 30


@dataclass(frozen=True)
class Settings:
    """Every threshold of the analysis, with defaults measured by benchmarks/similarity_bench.py: batches
    of 300 synthetic students on the real kit (seeds 0-3), each writing every task one of the ways students
    do, with quirks, answers and a random training log of their own, and about 25 planted copies each.

    - code: at 10 fingerprints and 85% of the smaller side, 5 independent pairs were listed in the four
      batches together and 33 of 54 planted code copies found; at 75%, 23 independent pairs. The copies
      missed are of students with fewer than 10 fingerprints that are neither the kit's nor common: such
      a copy looks like any standard solution. k from 4 to 7 changed little; 6 separated best.
    - answers: independent pairs at 60% or more shared at most 11 shingles; planted copies (words swapped,
      a phrase added) shared 34 or more at 85% or more. The copies in tests/ share 47 to 63 per answer.
    - outputs: the longest run of identical floats in independent pairs was 2; planted copies had 34+.
    - clusters: at 0.9, seeds 0 and 1 gave 11 and 13 clusters, every pair in them a planted code copy (26
      of the 28 planted), no independent pair.
    """

    k: int = 6  # tokens per code k-gram
    window: int = 4  # winnowing window, in k-grams
    common_fraction: float = 0.05  # fingerprints in more than this share of the batch are no evidence
    common_min: int = 3  # ... but a fingerprint in at most this many submissions always is
    code_threshold: float = 0.85  # share of the smaller side's fingerprints found in the other
    code_min_shared: int = 10
    text_ngram: int = 3  # tokens (CJK characters or words) per shingle
    text_threshold: float = 0.6
    text_min_shared: int = 20
    output_min_run: int = 5  # identical floats both notebooks print, one after another
    output_min_digits: int = 4  # significant digits a printed float needs to count
    identical_threshold: float = 0.9  # own code this alike (Jaccard of the fingerprint sets) is clustered

    def common_limit(self, batch_size: int) -> int:
        return max(self.common_min, math.floor(self.common_fraction * batch_size))


@dataclass
class Counts:
    shared: int
    size_a: int
    size_b: int

    @property
    def containment(self) -> float:
        smaller = min(self.size_a, self.size_b)
        return self.shared / smaller if smaller else 0.0

    def passes(self, min_shared: int, threshold: float) -> bool:
        return self.shared >= min_shared and self.containment >= threshold


def _pooled(counts: Iterable[Counts]) -> Counts:
    """Summed over tasks; the smaller side is counted task by task."""
    counts = list(counts)
    smaller = sum(min(c.size_a, c.size_b) for c in counts)
    return Counts(sum(c.shared for c in counts), smaller, smaller)


@dataclass
class PairStats:
    """What two submissions share, before any threshold: per task, per answer, and printed numbers."""

    code: dict[str, Counts] = field(default_factory=dict)
    answers: dict[str, Counts] = field(default_factory=dict)
    run: int = 0  # the longest run of identical floats printed in the same order
    run_start: tuple[int, int] = (0, 0)
    numbers: int = 0  # distinct floats both print, in any order

    def evidence(self, s: Settings) -> list[str]:
        """The kinds that pass their thresholds, strongest kind first."""
        kinds = [("outputs", self.run >= s.output_min_run),
                 ("code", _passes(self.code, s.code_min_shared, s.code_threshold)),
                 ("answers", _passes(self.answers, s.text_min_shared, s.text_threshold))]
        return [kind for kind, passed in kinds if passed]


def _passes(counts: dict[str, Counts], min_shared: int, threshold: float) -> bool:
    return bool(counts) and (_pooled(counts.values()).passes(min_shared, threshold)
                             or any(c.passes(min_shared, threshold) for c in counts.values()))


@dataclass
class Line:
    number: int
    text: str
    shared: bool
    partner: int | None = None  # on a shared statement's first line: where its match starts on the other side


@dataclass
class CodeMatch:
    task: str
    counts: Counts
    flagged: bool  # passed on its own
    where_a: str
    where_b: str
    lines_a: list[Line]
    lines_b: list[Line]


@dataclass
class Segment:
    text: str
    shared: bool


@dataclass
class AnswerMatch:
    question: str
    counts: Counts
    flagged: bool
    text_a: list[Segment]
    text_b: list[Segment]


@dataclass
class OutputMatch:
    run: list[str]  # the longest run of floats both notebooks printed, in order
    shared: int  # distinct floats both printed (after the ignored ones), in any order
    flagged: bool
    lines_a: list[str]
    lines_b: list[str]


@dataclass
class Pair:
    a: str
    b: str
    score: float
    evidence: list[str]  # "outputs", "code", "answers": the kinds that passed their thresholds
    code_score: float
    answer_score: float
    code: list[CodeMatch] = field(default_factory=list)
    answers: list[AnswerMatch] = field(default_factory=list)
    outputs: OutputMatch | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for match, item in [*zip(self.code, data["code"], strict=True),
                            *zip(self.answers, data["answers"], strict=True)]:
            item["counts"]["containment"] = round(match.counts.containment, 3)
        return data


def _keep_rare(per_sub: list[dict[int, Any]], limit: int) -> int:
    """Drop, in place, the keys held by more than `limit` submissions; return how many distinct keys that was."""
    df = Counter(key for prints in per_sub for key in prints)
    for prints in per_sub:
        for key in [key for key in prints if df[key] > limit]:
            del prints[key]
    return sum(count > limit for count in df.values())


def _shared_counts(per_sub: list[dict[int, Any]]) -> Counter[tuple[int, int]]:
    """(i, j) -> how many keys submissions i < j both hold, through an inverted index."""
    postings: dict[int, list[int]] = defaultdict(list)
    for i, prints in enumerate(per_sub):
        for key in prints:
            postings[key].append(i)
    shared: Counter[tuple[int, int]] = Counter()
    for holders in postings.values():
        if len(holders) > 1:
            shared.update(combinations(holders, 2))
    return shared


@dataclass
class _Code:
    region: Region
    statements: list[Statement]
    prints: dict[int, set[int]]  # fingerprint -> statement indexes, less the kit's and the common ones


def _region_code(region: Region, settings: Settings, kit_grams: set[int]) -> _Code | None:
    """The region parsed on its own (it travels as text), numbered as in its file."""
    try:
        tree = ast.parse(region.source)
    except (SyntaxError, ValueError, RecursionError):
        return None
    if not tree.body:
        return None
    cp = code_prints(tree.body[0], settings.k, settings.window, region.first_line - 1)
    return _Code(region, cp.statements, {fp: where for fp, where in cp.prints.items() if fp not in kit_grams})


@dataclass
class SetAside:
    """What was set aside as common to the class: no evidence for a pair (clusters still see it)."""

    code: int  # distinct code fingerprints
    answers: int  # distinct answer shingles
    limit: int  # held by more than this many submissions
    submissions: int
    fraction: float


def _code(subs: list[Submission], kit: Kit, settings: Settings, limit: int
          ) -> tuple[dict[str, list[_Code | None]], list[set[tuple[str, int]]], int]:
    """Per task, each submission's code with the common fingerprints dropped; each submission's own code
    whole (every task's fingerprints, the kit's subtracted, none dropped); how many were dropped."""
    kit_grams: set[int] = set()
    for scope in kit.scopes:  # a copy: fingerprinting rewrites the tree, and the kit may be compared again
        kit_grams |= code_prints(copy.deepcopy(scope), settings.k, settings.window).grams
    found: dict[str, list[_Code | None]] = {}
    own: list[set[tuple[str, int]]] = [set() for _ in subs]
    dropped = 0
    for task in TASKS:
        per_sub = [_region_code(sub.regions[task], settings, kit_grams) if task in sub.regions else None
                   for sub in subs]
        for whole, c in zip(own, per_sub, strict=True):
            whole.update((task, fp) for fp in (c.prints if c else ()))
        dropped += _keep_rare([c.prints if c else {} for c in per_sub], limit)
        found[task] = per_sub
    return found, own, dropped


def _answers(subs: list[Submission], kit: Kit, settings: Settings,
             limit: int) -> tuple[dict[str, list[TextPrints | None]], int]:
    kit_shingles: set[int] = set()
    for markdown in kit.markdown:
        kit_shingles |= set(text_prints(markdown, settings.text_ngram).prints)
    placeholders = {q: text_tokens(t)[0] for q, t in kit.answers.items()}
    found: dict[str, list[TextPrints | None]] = {}
    dropped = 0
    for question in sorted({q for sub in subs for q in sub.answers}):
        per_sub: list[TextPrints | None] = []
        for sub in subs:
            answer = sub.answers.get(question)
            if answer is None or text_tokens(answer)[0] in ([], placeholders.get(question)):
                per_sub.append(None)
                continue
            tp = text_prints(answer, settings.text_ngram)
            tp.prints = {h: starts for h, starts in tp.prints.items() if h not in kit_shingles}
            per_sub.append(tp)
        dropped += _keep_rare([t.prints if t else {} for t in per_sub], limit)
        found[question] = per_sub
    return found, dropped


def _sequences(subs: list[Submission], kit: Kit, limit: int) -> list[list[Number]]:
    """Each notebook's printed floats in order, less the ignored ones (kit, reference, known, common)."""
    ignored = set(kit.numbers) | KNOWN_DETERMINISTIC
    for sub in subs:
        repeats = Counter(n.text for n in sub.numbers)
        ignored |= {value for value, count in repeats.items() if count > MAX_REPEATS}
    df = Counter(value for sub in subs for value in {n.text for n in sub.numbers})
    ignored |= {value for value, count in df.items() if count > limit}
    return [[n for n in sub.numbers if n.text not in ignored] for sub in subs]


def _runs(sequences: list[list[Number]], stats: dict[tuple[int, int], PairStats]) -> None:
    """Fill in, for every pair that prints a float in common, its longest shared run."""
    postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for i, seq in enumerate(sequences):
        for pos, number in enumerate(seq):
            postings[number.text].append((i, pos))
    matches: dict[tuple[int, int], set[tuple[int, int]]] = defaultdict(set)
    for places in postings.values():
        pairs = [(a, b) for a, b in combinations(places, 2) if a[0] != b[0]]
        for (i, pi), (j, pj) in pairs:
            matches[i, j].add((pi, pj))
        for key in {(a[0], b[0]) for a, b in pairs}:
            stats[key].numbers += 1
    for key, hits in matches.items():
        best = (0, 0, 0)
        for pi, pj in hits:
            if (pi - 1, pj - 1) in hits:
                continue
            length = 1
            while (pi + length, pj + length) in hits:
                length += 1
            best = max(best, (length, -pi, -pj))
        stats[key].run, stats[key].run_start = best[0], (-best[1], -best[2])


@dataclass
class _Batch:
    """A batch fingerprinted once: what `statistics` counts and `compare` shows."""

    subs: list[Submission]
    code: dict[str, list[_Code | None]]
    answers: dict[str, list[TextPrints | None]]
    sequences: list[list[Number]]
    stats: dict[tuple[int, int], PairStats]
    own: list[set[tuple[str, int]]]
    set_aside: SetAside


def _prepare(subs: list[Submission], kit: Kit, settings: Settings) -> _Batch:
    limit = settings.common_limit(len(subs))
    code, own, code_dropped = _code(subs, kit, settings, limit)
    answers, answers_dropped = _answers(subs, kit, settings, limit)
    batch = _Batch(subs, code, answers, _sequences(subs, kit, limit), defaultdict(PairStats), own,
                   SetAside(code_dropped, answers_dropped, limit, len(subs), settings.common_fraction))
    kinds: list[tuple[str, dict[str, list[Any]]]] = [("code", batch.code), ("answers", batch.answers)]
    prints = {(kind, name): [p.prints if p else {} for p in per_sub]
              for kind, found in kinds for name, per_sub in found.items()}
    for (kind, name), per_sub in prints.items():
        for (i, j), count in _shared_counts(per_sub).items():
            getattr(batch.stats[i, j], kind)[name] = Counts(count, len(per_sub[i]), len(per_sub[j]))
    for (i, j), stats in batch.stats.items():  # what both wrote and do not share still counts in the pool
        for (kind, name), per_sub in prints.items():
            if per_sub[i] and per_sub[j]:
                getattr(stats, kind).setdefault(name, Counts(0, len(per_sub[i]), len(per_sub[j])))
    _runs(batch.sequences, batch.stats)
    return batch


def statistics(subs: list[Submission], kit: Kit, settings: Settings) -> dict[tuple[str, str], PairStats]:
    """Every pair that shares anything, with what it shares, before thresholds (to measure them)."""
    batch = _prepare(subs, kit, settings)
    return {(subs[i].id, subs[j].id): s for (i, j), s in batch.stats.items()}


def _likeness(a: Statement, i: int, a_all: list[Statement], votes: int, b: Statement, j: int,
              b_all: list[Statement]) -> tuple:
    """How well statement b matches a: shared fingerprints, then the same tokens, length, place."""
    return (votes, a.tokens == b.tokens, -abs(len(a.tokens) - len(b.tokens)),
            -abs(i / len(a_all) - j / len(b_all)))


def _marked_lines(side: _Code, other: _Code, shared: set[int]) -> dict[int, int | None]:
    """Line -> partner line on the other side (on each shared statement's first line), for shared lines."""
    marked: dict[int, int | None] = {}
    for index, statement in enumerate(side.statements):
        fps = [fp for fp in shared if index in side.prints[fp]]
        if not fps:
            continue
        votes = Counter(j for fp in fps for j in other.prints[fp])
        best = max(votes, key=lambda j: _likeness(statement, index, side.statements, votes[j],
                                                  other.statements[j], j, other.statements))
        for number in range(statement.first, statement.last + 1):
            marked.setdefault(number, None)
        marked[statement.first] = other.statements[best].first
    return marked


def _lines(side: _Code, other: _Code, shared: set[int]) -> list[Line]:
    marked = _marked_lines(side, other, shared)
    return [Line(n, text, n in marked, marked.get(n))
            for n, text in enumerate(side.region.source.split("\n"), start=side.region.first_line)]


def _segments(tp: TextPrints, shared: set[int], n: int) -> list[Segment]:
    """The answer cut into runs of shared and unshared text, for highlighting."""
    covered = {start + i for h in shared for start in tp.prints[h] for i in range(n)}
    segments: list[Segment] = []
    position = 0
    for index, (start, end) in enumerate(tp.spans):
        segments.append(Segment(tp.text[position:start], index in covered and index - 1 in covered))
        segments.append(Segment(tp.text[start:end], index in covered))
        position = end
    segments.append(Segment(tp.text[position:], False))
    merged: list[Segment] = []
    for seg in segments:
        if merged and merged[-1].shared == seg.shared:
            merged[-1].text += seg.text
        elif seg.text:
            merged.append(seg)
    return merged


def _output_lines(numbers: Iterable[Number]) -> list[str]:
    lines: list[str] = []
    for number in numbers:
        if not lines or lines[-1] != number.line:
            lines.append(number.line)
    return lines[:MAX_EVIDENCE_LINES]


def _pair(batch: _Batch, i: int, j: int, settings: Settings) -> Pair:
    """Everything a TA needs to judge one pair: the scores and the matched material side by side."""
    stats = batch.stats[i, j]
    code = []
    for task, counts in stats.code.items():
        if not counts.shared:
            continue
        a, b = batch.code[task][i], batch.code[task][j]
        shared = set(a.prints) & set(b.prints)
        code.append(CodeMatch(task, counts, counts.passes(settings.code_min_shared, settings.code_threshold),
                              a.region.where, b.region.where, _lines(a, b, shared), _lines(b, a, shared)))
    answers = []
    for question, counts in stats.answers.items():
        if not counts.shared:
            continue
        a, b = batch.answers[question][i], batch.answers[question][j]
        shared = set(a.prints) & set(b.prints)
        n, flagged = settings.text_ngram, counts.passes(settings.text_min_shared, settings.text_threshold)
        answers.append(AnswerMatch(question, counts, flagged,
                                   _segments(a, shared, n), _segments(b, shared, n)))
    outputs = None
    if stats.run:
        (si, sj), length = stats.run_start, stats.run
        run_a, run_b = batch.sequences[i][si: si + length], batch.sequences[j][sj: sj + length]
        outputs = OutputMatch([n.text for n in run_a], stats.numbers, length >= settings.output_min_run,
                              _output_lines(run_a), _output_lines(run_b))
    evidence = stats.evidence(settings)
    code_score = _pooled(stats.code.values()).containment
    answer_score = _pooled(stats.answers.values()).containment
    score = 1 - (1 - code_score) * (1 - answer_score) * (1 - ("outputs" in evidence))
    return Pair(batch.subs[i].id, batch.subs[j].id, round(score, 3), evidence, round(code_score, 3),
                round(answer_score, 3), sorted(code, key=lambda m: -m.counts.shared),
                sorted(answers, key=lambda m: m.question), outputs)


def _volume(pair: Pair) -> int:
    """How much evidence there is, to order pairs of equal score."""
    return (sum(m.counts.shared for m in pair.code) + sum(m.counts.shared for m in pair.answers)
            + (len(pair.outputs.run) if pair.outputs else 0))


@dataclass
class Cluster:
    """Submissions whose own code is identical after normalisation, or near it, however common it is."""

    members: list[str]
    identical: bool  # the same fingerprints, every one (names, comments, layout, literals, order aside)
    similarity: float  # the lowest Jaccard similarity of two members' own code that joined the cluster
    fingerprints: int  # own code fingerprints of the smallest member
    tasks: list[str]  # the tasks their own code covers


def _clusters(batch: _Batch, settings: Settings) -> list[Cluster]:
    """Union of the pairs whose whole own code is at least `identical_threshold` alike (and big enough to
    say something: `code_min_shared` fingerprints). Every pair is compared: a set intersection each."""
    own = batch.own
    parent = list(range(len(own)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    lowest: dict[int, float] = {}
    candidates = [i for i, prints in enumerate(own) if len(prints) >= settings.code_min_shared]
    for i, j in combinations(candidates, 2):
        shared = len(own[i] & own[j])
        likeness = shared / (len(own[i]) + len(own[j]) - shared)
        if likeness >= settings.identical_threshold:
            ri, rj = root(i), root(j)
            if ri != rj:
                lowest[ri] = min(likeness, lowest.get(ri, 1.0), lowest.get(rj, 1.0))
                parent[rj] = ri
    groups: dict[int, list[int]] = defaultdict(list)
    for i in candidates:
        groups[root(i)].append(i)
    clusters = []
    for r, members in groups.items():
        if len(members) < 2:
            continue
        prints = [own[i] for i in members]
        clusters.append(Cluster(
            members=[batch.subs[i].id for i in members], identical=all(p == prints[0] for p in prints),
            similarity=round(lowest.get(r, 1.0), 3), fingerprints=min(len(p) for p in prints),
            tasks=[task for task in TASKS if any(t == task for t, _ in prints[0])]))
    return sorted(clusters, key=lambda c: (-len(c.members), -c.similarity, c.members))


@dataclass
class Findings:
    """Everything the report shows: the pairs, the clusters of (near-)identical code, what was set aside."""

    pairs: list[Pair]
    clusters: list[Cluster]
    set_aside: SetAside


def findings(subs: list[Submission], kit: Kit, settings: Settings) -> Findings:
    """The pairs whose evidence passes a threshold (strongest first), the clusters, the common code set aside."""
    batch = _prepare(subs, kit, settings)
    pairs = [_pair(batch, i, j, settings)
             for (i, j), stats in batch.stats.items() if stats.evidence(settings)]
    pairs.sort(key=lambda p: (-p.score, -_volume(p), p.a, p.b))
    return Findings(pairs, _clusters(batch, settings), batch.set_aside)


def compare(subs: list[Submission], kit: Kit, settings: Settings) -> list[Pair]:
    """The pairs whose evidence passes a threshold, the strongest first."""
    return findings(subs, kit, settings).pairs
