"""Normalise code and text, then fingerprint it: hashed token k-grams, winnowed as MOSS does.

Code is normalised on its syntax tree, so comments, docstrings, layout and quoting never count; names the
region itself binds (variables, parameters, attributes it sets on `self`) become one placeholder, so
renaming changes nothing, while the library calls it makes (`torch.dot`, `.reshape`, `np.flip`) stay as
written, because they are the choices that tell two solutions apart. Numbers and strings become `N` and `S`.

Reordering: k-grams are taken inside one statement and never across two, so moving statements around
leaves every fingerprint as it was; a compound statement (`for`, `if`, `def`, `class`) counts its header as
a statement and its body statement by statement. Winnowing (Schleimer, Wilkerson and Aiken, SIGMOD 2003)
keeps the smallest hash of every `window` consecutive k-grams of a statement, so any shared run of
`window + k - 1` tokens inside a statement is certain to share a fingerprint. Each statement also gets one
fingerprint for all its tokens: short k-grams recur everywhere, a whole unusual statement does not.
"""

from __future__ import annotations

import ast
import copy
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from hashlib import blake2b

PLACEHOLDER = "V"
KEPT_NAMES = {"self", "cls"}
MIN_STATEMENT_TOKENS = 3  # `return x` says nothing; shorter statements give no fingerprint
BODY_FIELDS = ("body", "orelse", "finalbody", "handlers", "cases")
CODE_TOKEN = re.compile(r"''|\w+|[^\w\s]")
CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
TEXT_TOKEN = re.compile(rf"[{CJK}]|(?:(?![{CJK}])[^\W_])+")
DEFINITION_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def stable_hash(parts: Sequence[str]) -> int:
    """A 64-bit hash that is the same in every process (str hashes are salted per process)."""
    return int.from_bytes(blake2b("\x1f".join(parts).encode(), digest_size=8).digest(), "big")


@dataclass
class Statement:
    first: int
    last: int
    tokens: list[str]


@dataclass
class CodePrints:
    statements: list[Statement]
    prints: dict[int, set[int]] = field(default_factory=dict)  # winnowed fingerprint -> statement indexes
    grams: set[int] = field(default_factory=set)  # every k-gram, winnowed or not (to subtract the kit)


def _bound(scope: ast.AST) -> tuple[set[str], set[str]]:
    """The names the scope binds itself, and the attributes it sets (`self.x = ...`, class-body names)."""
    names: set[str] = set()
    attrs: set[str] = set()
    for node in ast.walk(scope):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, DEFINITION_NODES):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and not isinstance(node.ctx, ast.Load):
            attrs.add(node.attr)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            names.update(node.names)
    if isinstance(scope, ast.ClassDef):
        attrs |= {n.id for s in scope.body if isinstance(s, (ast.Assign, ast.AnnAssign))
                  for t in (s.targets if isinstance(s, ast.Assign) else [s.target])
                  for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names - KEPT_NAMES, attrs


class _Normaliser(ast.NodeTransformer):
    def __init__(self, names: set[str], attrs: set[str]):
        self.names = names
        self.attrs = attrs

    def visit_Name(self, node: ast.Name) -> ast.Name:
        if node.id in self.names:
            node.id = PLACEHOLDER
        return node

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.annotation = None
        if node.arg in self.names:
            node.arg = PLACEHOLDER
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.Attribute:
        self.generic_visit(node)
        if node.attr in self.attrs:
            node.attr = PLACEHOLDER
        return node

    def _definition(self, node):
        self.generic_visit(node)
        node.name = PLACEHOLDER
        if not isinstance(node, ast.ClassDef):
            node.returns = None
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _definition

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        self.generic_visit(node)
        plain = ast.Pass() if node.value is None else ast.Assign(targets=[node.target], value=node.value)
        return ast.copy_location(plain, node)

    def visit_Constant(self, node: ast.Constant) -> ast.Constant:
        if isinstance(node.value, (bool, type(None), type(...))):
            return node
        return ast.Constant(0 if isinstance(node.value, (int, float, complex)) else "")

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.Constant:
        return ast.Constant("")


def _is_docstring(node: ast.AST) -> bool:
    value = node.value if isinstance(node, ast.Expr) else None
    return isinstance(value, ast.Constant) and isinstance(value.value, str)


def _tokens(node: ast.AST) -> list[str]:
    out = []
    for tok in CODE_TOKEN.findall(ast.unparse(node)):
        out.append("S" if tok == "''" else "N" if tok[0].isdigit() else tok)
    return out


def _walk(node: ast.AST, offset: int) -> Iterator[Statement]:
    """Statements in source order; a compound statement yields its header, then its body's statements."""
    if _is_docstring(node):
        return
    bodies = [(f, getattr(node, f)) for f in BODY_FIELDS if isinstance(getattr(node, f, None), list)]
    if not bodies:
        yield Statement(node.lineno + offset, node.end_lineno + offset, _tokens(node))
        return
    children = [c for _, body in bodies for c in body]
    if hasattr(node, "lineno"):  # not for a module, nor a `case` (its pattern is its header)
        header = copy.copy(node)
        for name, _ in bodies:
            setattr(header, name, [])
        inner = [getattr(n, "end_lineno", None) or 0 for n in ast.walk(header) if n is not header]
        last = max([node.lineno, *inner])
        yield Statement(node.lineno + offset, last + offset, _tokens(header))
    for child in children:
        yield from _walk(child, offset)


def kgrams(tokens: list[str], k: int) -> list[int]:
    if len(tokens) < MIN_STATEMENT_TOKENS:
        return []
    if len(tokens) <= k:
        return [stable_hash(tokens)]
    return [stable_hash(tokens[i: i + k]) for i in range(len(tokens) - k + 1)]


def winnow(hashes: list[int], window: int) -> list[int]:
    """Positions of the smallest hash in every window (the rightmost on ties), each position once."""
    if len(hashes) <= window:
        return [len(hashes) - 1 - hashes[::-1].index(min(hashes))] if hashes else []
    chosen: list[int] = []
    for start in range(len(hashes) - window + 1):
        win = hashes[start: start + window]
        pos = start + window - 1 - win[::-1].index(min(win))
        if not chosen or chosen[-1] != pos:
            chosen.append(pos)
    return chosen


def code_prints(scope: ast.AST, k: int, window: int, line_offset: int = 0) -> CodePrints:
    """Fingerprints of one scope (a class, a function, or a module's loose statements). Rewrites `scope`."""
    names, attrs = _bound(scope)
    normalised = _Normaliser(names, attrs).visit(scope)
    result = CodePrints(statements=[s for s in _walk(normalised, line_offset)
                                    if len(s.tokens) >= MIN_STATEMENT_TOKENS])
    for index, statement in enumerate(result.statements):
        grams = kgrams(statement.tokens, k)
        whole = stable_hash(statement.tokens)
        result.grams.update(grams)
        result.grams.add(whole)
        for fp in [whole, *(grams[pos] for pos in winnow(grams, window))]:
            result.prints.setdefault(fp, set()).add(index)
    return result


@dataclass
class TextPrints:
    """Shingles of one written answer: n consecutive tokens, a CJK character being one token."""

    text: str
    spans: list[tuple[int, int]]  # where each token is in `text`
    prints: dict[int, set[int]] = field(default_factory=dict)  # shingle hash -> the token index it starts at


def text_tokens(value: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Chinese is cut into characters (no word splitting); other scripts into words; NFKC, lower case."""
    tokens, spans = [], []
    for m in TEXT_TOKEN.finditer(value):
        tokens.append(unicodedata.normalize("NFKC", m.group()).lower())
        spans.append(m.span())
    return tokens, spans


def text_prints(value: str, n: int) -> TextPrints:
    tokens, spans = text_tokens(value)
    result = TextPrints(value, spans)
    for i in range(len(tokens) - n + 1):
        result.prints.setdefault(stable_hash(tokens[i: i + n]), set()).add(i)
    return result
