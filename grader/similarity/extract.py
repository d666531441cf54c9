"""Read what each student wrote out of a graded batch: code regions, written answers, printed numbers.

Everything here is read as data (ast.parse and JSON); nothing a student wrote is ever run.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..messages import Text, text
from ..notebook.cells import Cell, NotebookError, load_cells

NOTEBOOK = "Assignment.ipynb"
SOURCES = Path("artifacts") / "submission"

# task (the check group id) -> (the file it lives in, the class or function the student writes)
TASKS: dict[str, tuple[str, str]] = {
    "jaccard": ("unet/dice_loss.py", "JaccardCoeff"),
    "unet_shallow": ("unet/unet_model.py", "UNet_shallow"),
    "up_add": ("unet/unet_parts.py", "up_add"),
    "unet_add": ("unet/unet_model.py", "UNet_add"),
    "deconv2d": (NOTEBOOK, "deconv2d"),
}
DEFINITIONS = (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)

ANSWER_TAG = re.compile(r"^(q\d+)-answer$", re.IGNORECASE)
ANSWER_MARK = re.compile(r"^\s*\*\*\s*答案\s*/\s*Answer\s*\(\s*(Q\d+)\s*\)\s*\*\*\s*[:：]?", re.IGNORECASE)

# A float as printed (a decimal point or an exponent), not part of a name or a version string like 1.13.0.
NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+(?=[eE]))(?:[eE][-+]?\d+)?(?!\w)(?!\.\d)")
MAX_NUMBERS = 20_000
MAX_LINE_CHARS = 160


@dataclass
class Region:
    """One graded task's definition as the student wrote it."""

    task: str
    where: str  # the file (and notebook cell) it was found in, as the TA should look it up
    first_line: int  # line numbers count within `where`
    source: str


@dataclass
class Number:
    """A float printed in a code cell's output, with the line it was printed on."""

    text: str
    digits: int
    line: str


@dataclass
class Submission:
    id: str
    regions: dict[str, Region] = field(default_factory=dict)
    answers: dict[str, str] = field(default_factory=dict)  # "q1" -> the answer text
    numbers: list[Number] = field(default_factory=list)
    notes: list[Text] = field(default_factory=list)  # files that could not be read, for the page


@dataclass
class Kit:
    """What every student was given: the code scopes to subtract, answer placeholders, printed numbers."""

    found: bool
    scopes: list[ast.AST] = field(default_factory=list)
    answers: dict[str, str] = field(default_factory=dict)
    markdown: list[str] = field(default_factory=list)
    numbers: set[str] = field(default_factory=set)
    notes: list[Text] = field(default_factory=list)


def significant_digits(number: str) -> int:
    mantissa = re.split(r"[eE]", number.lstrip("+-"), maxsplit=1)[0].replace(".", "")
    return len(mantissa.lstrip("0"))


def _newlines(source: str) -> str:
    return source.replace("\r\n", "\n").replace("\r", "\n")


def _parse(source: str) -> ast.Module:
    """ast.parse; SyntaxError for anything that is not valid Python (null bytes, absurd nesting)."""
    try:
        return ast.parse(source)
    except (ValueError, RecursionError, MemoryError) as exc:
        raise SyntaxError(f"{type(exc).__name__}: {exc}") from exc


def _cell_code(cell: Cell) -> str | None:
    """A code cell's source with magics and shell lines blanked (line numbers kept); None for %%magic."""
    if cell.source.lstrip().startswith("%%"):
        return None
    lines = _newlines(cell.source).split("\n")
    return "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in lines)


def _definition(tree: ast.Module, name: str) -> ast.stmt | None:
    """The module-level class or function called `name`; the last one wins, as it does when Python runs it."""
    found = None
    for node in tree.body:
        if isinstance(node, DEFINITIONS) and node.name == name:
            found = node
    return found


def _region(task: str, where: str, source: str, node: ast.stmt) -> Region:
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    lines = source.split("\n")[first - 1: node.end_lineno]
    return Region(task, where, first, "\n".join(lines))


def find_notebook(folder: Path) -> Path | None:
    if (folder / NOTEBOOK).is_file():
        return folder / NOTEBOOK
    found = sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    return found[0] if found else None


def _plain_files(folder: Path, pattern: str) -> list[Path]:
    return sorted(p for p in folder.glob(pattern) if p.is_file() and not p.is_symlink())


def _python_files(folder: Path, notes: list[Text]) -> dict[str, tuple[str, ast.Module]]:
    """Every unet/*.py that parses, keyed by its path relative to the submission."""
    parsed: dict[str, tuple[str, ast.Module]] = {}
    for path in _plain_files(folder, "unet/*.py"):
        rel = path.relative_to(folder).as_posix()
        try:
            source = _newlines(path.read_text(encoding="utf-8", errors="replace"))
            parsed[rel] = (source, _parse(source))
        except (OSError, SyntaxError) as exc:
            notes.append(text(f"{rel} 无法解析，其中的代码未参与比较（{exc}）",
                              f"{rel} could not be parsed; its code was not compared ({exc})"))
    return parsed


def answer_question(cell: Cell) -> str | None:
    """"q1" for a markdown cell that holds the answer to Q1 (by tag or by its heading), else None."""
    if cell.kind != "markdown":
        return None
    for tag in cell.tags:
        if m := ANSWER_TAG.match(tag):
            return m.group(1).lower()
    m = ANSWER_MARK.match(cell.source)
    return m.group(1).lower() if m else None


def answer_text(cell: Cell) -> str:
    return ANSWER_MARK.sub("", cell.source, count=1).strip()


def _output_text(output: dict) -> str:
    if output.get("output_type") == "stream":
        value = output.get("text")
    elif output.get("output_type") == "execute_result":
        data = output.get("data")
        value = data.get("text/plain") if isinstance(data, dict) else None
    else:
        return ""
    return "".join(v for v in value if isinstance(v, str)) if isinstance(value, list) else str(value or "")


def printed_numbers(cells: list[Cell], min_digits: int) -> list[Number]:
    """Floats with at least `min_digits` significant digits, in the order the code cells printed them.

    Whole numbers printed as floats (`3.0000` in a printed tensor) are left out: they are the examples'
    deterministic results, never a measurement of a training run.
    """
    found: list[Number] = []
    for cell in cells:
        if cell.kind != "code":
            continue
        for output in cell.outputs:
            for line in _output_text(output).splitlines():
                for m in NUMBER.finditer(line):
                    digits = significant_digits(m.group())
                    if digits >= min_digits and not float(m.group()).is_integer():
                        value = m.group().lstrip("+").lower()
                        found.append(Number(value, digits, line.strip()[:MAX_LINE_CHARS]))
                        if len(found) >= MAX_NUMBERS:
                            return found
    return found


def _notebook_cells(path: Path | None, label: str, notes: list[Text]) -> list[Cell]:
    if path is None:
        return []
    try:
        return load_cells(path)
    except NotebookError as exc:
        notes.append(text(f"{label} 无法读取，未参与比较（{exc}）",
                          f"{label} could not be read; not compared ({exc})"))
        return []


def load_submission(folder: Path, submission_id: str, min_digits: int) -> Submission:
    """The regions, answers and printed numbers of one graded submission's kept sources."""
    sub = Submission(submission_id)
    py = _python_files(folder, sub.notes)
    notebook = find_notebook(folder)
    cells = _notebook_cells(notebook, notebook.name if notebook else "", sub.notes)
    for task, (home, name) in TASKS.items():
        if home == NOTEBOOK:
            for cell in cells:
                code = _cell_code(cell) if cell.kind == "code" else None
                if code is None or name not in code:
                    continue
                try:
                    node = _definition(_parse(code), name)
                except SyntaxError:
                    continue
                if node is not None:
                    where = f"{notebook.relative_to(folder).as_posix()}, cell {cell.index + 1}"
                    sub.regions[task] = _region(task, where, code, node)
            continue
        # the expected file first, then any other unet/*.py in case the student moved it
        for rel in sorted(py, key=lambda r: r != home):
            source, tree = py[rel]
            if (node := _definition(tree, name)) is not None:
                sub.regions[task] = _region(task, rel, source, node)
                break
    for cell in cells:
        if (question := answer_question(cell)) is not None:
            sub.answers[question] = answer_text(cell)
    sub.numbers = printed_numbers(cells, min_digits)
    return sub


def load_batch(out_dir: Path, min_digits: int) -> list[Submission]:
    """Every graded submission in `out_dir` (a `<id>/result.json`) whose sources were kept."""
    subs = []
    for result in sorted(out_dir.glob("*/result.json")):
        folder = result.parent / SOURCES
        if folder.is_dir() and not folder.is_symlink():
            subs.append(load_submission(folder, result.parent.name, min_digits))
    return subs


def _scopes(tree: ast.Module) -> list[ast.AST]:
    """Each module-level definition on its own, and the module's other statements together."""
    rest = [s for s in tree.body if not isinstance(s, DEFINITIONS)]
    scopes: list[ast.AST] = [s for s in tree.body if isinstance(s, DEFINITIONS)]
    return scopes + ([ast.Module(body=rest, type_ignores=[])] if rest else [])


def load_kit(kit: Path, references: list[Path], min_digits: int) -> Kit:
    """The student kit (the skeleton with its given code), plus numbers the reference notebooks print."""
    loaded = Kit(found=kit.is_dir())
    if loaded.found:
        for path in _plain_files(kit, "unet/*.py"):
            try:
                loaded.scopes += _scopes(_parse(path.read_text(encoding="utf-8", errors="replace")))
            except (OSError, SyntaxError) as exc:
                loaded.notes.append(text(f"学生包中的 {path.name} 无法解析（{exc}）",
                                         f"the kit's {path.name} could not be parsed ({exc})"))
        cells = _notebook_cells(find_notebook(kit), "kit notebook", loaded.notes)
        for cell in cells:
            code = _cell_code(cell) if cell.kind == "code" else None
            if code is not None:
                try:
                    loaded.scopes += _scopes(_parse(code))
                except SyntaxError:
                    continue
            elif cell.kind == "markdown":
                loaded.markdown.append(cell.source)
                if (question := answer_question(cell)) is not None:
                    loaded.answers[question] = answer_text(cell)
        loaded.numbers |= {n.text for n in printed_numbers(cells, min_digits)}
    for folder in references:
        if folder.is_dir():
            cells = _notebook_cells(find_notebook(folder), "reference notebook", loaded.notes)
            loaded.numbers |= {n.text for n in printed_numbers(cells, min_digits)}
    return loaded
